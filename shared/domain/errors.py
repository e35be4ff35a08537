"""Errors the core raises, and the only ones callers branch on.

    IntegrationsError
    ├── StaleWrite                   the record changed since it was read: read afresh, decide again
    ├── UnreadableMessage            a queue message this product did not write: dead-letter it
    ├── RequestError                 the caller's request cannot be served (maps to 4xx)
    │   ├── ValidationFailed         400, with per-field details
    │   ├── Unauthenticated          401
    │   ├── Forbidden                403
    │   ├── NotFound                 404
    │   ├── Conflict                 409
    │   ├── PayloadTooLarge          413
    │   ├── UnsupportedMediaType     415
    │   ├── Unprocessable            422
    │   └── Throttled                429 (with retry_after seconds)
    └── DeliveryError                a dependency call did not succeed
        └── TransientError           worth retrying: storage, queue, webhook unavailable

Platform answers are not raised: the worker classifies each exchange (see
`shared.outcomes`) into success, transient (network, timeout, 408/425/429/5xx) or
permanent (the data was rejected: other 4xx).

SDK errors (`azure.core.exceptions`, `httpx`) are translated at the adapter boundary
(`raise TransientError(...) from exc`), so the core never imports an SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field, e.g. FieldProblem("data.items[3].quantity", "must be >= 0")."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class IntegrationsError(Exception):
    """Base of every error the core raises on purpose."""


class StaleWrite(IntegrationsError):
    """Someone else changed the record since it was read (optimistic concurrency); see
    `shared.conflicts.on_fresh_copy` for the one way the core answers it."""


class UnreadableMessage(IntegrationsError):
    """The queue message is not one this product wrote; it belongs in the dead-letter queue."""


@dataclass
class RequestError(IntegrationsError):
    """A request that cannot be served; `message` is a sentence the caller can act on."""

    message: str
    details: list[FieldProblem] = field(default_factory=list)
    status = 400
    code = "bad_request"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = [problem.to_json() for problem in self.details]
        return body


class ValidationFailed(RequestError):
    status, code = 400, "validation_failed"


class Unauthenticated(RequestError):
    status, code = 401, "unauthorized"


class Forbidden(RequestError):
    status, code = 403, "forbidden"


class NotFound(RequestError):
    status, code = 404, "not_found"


class Conflict(RequestError):
    status, code = 409, "conflict"


class PayloadTooLarge(RequestError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(RequestError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(RequestError):
    status, code = 422, "unprocessable"


@dataclass
class Throttled(RequestError):
    status, code = 429, "throttled"
    retry_after_seconds: int = 1


@dataclass
class DeliveryError(IntegrationsError):
    """A downstream call failed; `http_status` is None when no response came back."""

    message: str
    http_status: int | None = None
    retry_after_seconds: float | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)


class TransientError(DeliveryError):
    """Retrying later may succeed."""


TRANSIENT_STATUSES = frozenset({408, 425, 429})


def is_transient_status(status: int) -> bool:
    """408/425/429 and every 5xx are worth retrying; other 4xx mean the data was rejected."""
    return status in TRANSIENT_STATUSES or status >= 500
