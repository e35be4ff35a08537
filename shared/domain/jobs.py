"""Bulk resubmission jobs: their record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.domain.clock import iso


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass
class BulkJob:
    id: str
    integration_id: str
    filter: dict[str, Any]
    requested_by: str
    created_at: datetime
    updated_at: datetime
    status: JobStatus = JobStatus.RUNNING
    matched: int = 0
    resubmitted: int = 0
    skipped: int = 0
    continuation_token: str | None = None
    # The runner advancing a page holds the job until then; a runner that died lets
    # go when the time passes, so the timer takes the page up again.
    lease_until: datetime | None = None
    etag: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "integrationId": self.integration_id,
            "filter": self.filter,
            "status": self.status,
            "progress": {
                "matched": self.matched,
                "resubmitted": self.resubmitted,
                "skipped": self.skipped,
            },
            "requestedBy": self.requested_by,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
