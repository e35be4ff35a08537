"""What every action is: a data model, its entity keys, its semantics and its platform call."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Semantics(StrEnum):
    """How an action changes the platform, which decides how retries may treat it."""

    ABSOLUTE = "absolute"  # sets state: an older retry must not overwrite newer data
    RELATIVE = "relative"  # a delta: every accepted event applies exactly once
    CREATE = "create"  # creates a record, idempotent on a business key
    UPDATE = "update"  # sets fields of one existing record: versioned like ABSOLUTE

    @property
    def versioned(self) -> bool:
        """Whether an older retry must yield to a newer event for the same record."""
        return self in (Semantics.ABSOLUTE, Semantics.UPDATE)


class ActionData(BaseModel):
    """Base of every action's `data` model: unknown fields are refused, so typos surface."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@dataclass(frozen=True)
class PlatformCall:
    """One call on the platform API, by its OpenAPI operationId."""

    operation_id: str
    body: dict[str, Any]
    path_params: dict[str, str] = field(default_factory=dict)


class Action(ABC):
    """An inbound action such as `inventory.set`."""

    name: ClassVar[str]
    data_model: ClassVar[type[ActionData]]
    semantics: ClassVar[Semantics]
    requires_entity_id: ClassVar[bool] = False

    def parse(self, data: dict[str, Any]) -> ActionData:
        """Validate `data`; raises pydantic.ValidationError."""
        return self.data_model.model_validate(data)

    @abstractmethod
    def entity_keys(self, data: Any, entity_id: str | None) -> list[str]:
        """The platform entities this event touches, e.g. ["price:CHAIR-UNO-BLK"]."""

    @abstractmethod
    def platform_call(self, data: Any, entity_id: str | None) -> PlatformCall:
        """The platform call that applies this event."""

    @abstractmethod
    def describe(self, data: Any, entity_id: str | None) -> str:
        """A short phrase naming what the event does: "create order ERP-ORDER-789"."""

    def ordering_key(self, data: Any, entity_id: str | None) -> str:
        """The record whose events must apply in the order they were sent. Under
        per-record ordering it picks the event's session shard, so every event naming
        the same record (whatever its action) travels on one session. A bulk event
        travels with its first record."""
        return self.entity_keys(data, entity_id)[0]

    def default_entity_id(self, data: Any) -> str | None:
        """The id operators search by when the sender gave no entityId (never personal
        data: a customer's e-mail is not used)."""
        return None

    def item_count(self, data: Any) -> int:
        """How many items a bulk event carries (1 for single-record actions)."""
        return 1

    def result(self, response: Any) -> dict[str, Any]:
        """The platform record ids worth keeping on the event."""
        return response if isinstance(response, dict) else {"response": response}

    def platform_calls(
        self, data: Any, entity_id: str | None, fresh: set[str] | None
    ) -> list[PlatformCall]:
        """The calls that apply the event, restricted to the still-current records
        (`fresh`; None = everything). One call for most actions."""
        current = data if fresh is None else self.only_items(data, fresh)
        return [self.platform_call(current, entity_id)]

    def call_key(self, event_key: str, call: PlatformCall) -> str:
        """The platform Idempotency-Key of one of the event's calls. A key must always
        name the same call: the platform replays the first answer to a repeated key, so
        a key reused for another operation would be answered, not applied. One call per
        event (most actions): the event's key."""
        return event_key

    def results(self, responses: list[Any]) -> dict[str, Any]:
        """What to keep from the answers of `platform_calls`, in the same order."""
        return self.result(responses[0])

    def only_items(self, data: Any, keys: set[str]) -> Any:
        """The same event restricted to the items whose entity key is in `keys`.

        Only absolute-state actions need this: superseded items are skipped, the rest
        applied. Single-record actions return `data` unchanged.
        """
        return data
