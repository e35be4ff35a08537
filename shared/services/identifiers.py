"""The shapes of the ids this API issues, and the times a request may name, checked
before storage is asked about one.

Ids arrive in routes (`/v1/integrations/{id}/jobs/{jobId}`) and in bodies (a filter's
`integrationId`). Table Storage refuses keys holding '/', '\\', '#', '?' or control
characters with an error that would read as "briefly unavailable" (503). An id
outside the alphabet the API's ids are made of is answered at once, without asking
storage: 404 in a route (there is no such thing), 400 in a body, with the field named.

    require_integration_id("../../etc")   -> NotFound("No integration with id '../../etc'.")
    require_integration_id("int_3f2a9c0d1e2b4a5f")  -> "int_3f2a9c0d1e2b4a5f"
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from actions.common import Printable
from shared.domain.errors import NotFound

# Issued as "int_" and 16 hex digits (`clock.new_integration_id`) and "job_" and 16 hex
# digits. The checks take letters, digits, '_' and '-' (characters every storage key
# and URL accepts as they are) rather than the exact shape, so a well-formed guess
# such as the reference's placeholder "integration-id" is answered "no such
# integration" by the one read that looks, and only what cannot be a key is refused.
INTEGRATION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# A UUIDv7 as `clock.new_event_id` writes it: lower-case hex, version 7, RFC variant.
EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _shown(value: str) -> str:
    """An id as a message may quote it: short, control characters escaped."""
    return repr(value[:100])


def require_integration_id(integration_id: str) -> str:
    """The id, if it can be an integration's; else 404, without asking storage."""
    if not INTEGRATION_ID.fullmatch(integration_id):
        raise NotFound(f"No integration with id {_shown(integration_id)}.")
    return integration_id


def require_event_id(integration_id: str, event_id: str) -> str:
    if not EVENT_ID.fullmatch(event_id):
        raise NotFound(f"No event {_shown(event_id)} in integration {_shown(integration_id)}.")
    return event_id


def require_job_id(integration_id: str, job_id: str) -> str:
    if not JOB_ID.fullmatch(job_id):
        raise NotFound(
            f"No resubmission job {_shown(job_id)} in integration {_shown(integration_id)}."
        )
    return job_id


def _integration_id(value: str) -> str:
    if not INTEGRATION_ID.fullmatch(value):
        raise ValueError(
            "is not an integration id: they are letters, digits, '_' and '-', such as "
            "'int_3f2a9c0d1e2b4a5f' (GET /v1/integrations lists them)"
        )
    return value


# An integration id in a request body: a 400 naming the field when malformed.
IntegrationId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_integration_id),
]
# Free text a filter matches ids with (an action name, an entity id or part of one).
FilterText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]


# Times a request names (a filter's, a count's or a chart's `from` and `to`); one without
# a zone is UTC. No event is from before 1970 or after 2099, and times far outside that
# overflow the storage keys and windows made from them (a 500), so they are a 400
# naming the field.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _request_time(value: datetime) -> datetime:
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if not EARLIEST <= moment < LATEST:
        raise ValueError("must be from 1970-01-01 up to 2100-01-01 (UTC)")
    return moment.astimezone(UTC)


RequestTime = Annotated[datetime, AfterValidator(_request_time)]
