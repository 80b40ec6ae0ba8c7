"""The only place that talks to a database: one SQL function call per batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any, Protocol
from uuid import UUID

from bluetick.events import Message, StatusEvent
from bluetick.store.records import (
    BatchResult,
    Customer,
    Erasure,
    InboxItem,
    PurgeResult,
    ReportRefresh,
    RetentionResult,
)

SQL = files("bluetick") / "sql"  # package data: the same files in a checkout, an editable install or a wheel

__all__ = ["SQL", "BatchResult", "PermanentError", "PurgeResult", "ReportRefresh", "ResourceError", "Store", "classify"]


class PermanentError(Exception):
    """The database refused the batch's data itself; retrying the same data cannot succeed."""


class ResourceError(Exception):
    """The batch ran into a database limit (locks, memory); smaller batches may succeed."""


# SQLSTATE classes: 22 data exception and 23 integrity violation come from the data itself;
# 53 insufficient resources and 54 program limit exceeded, from the batch's size.
PERMANENT_CLASSES = ("22", "23")
RESOURCE_CLASSES = ("53", "54")


def classify(sqlstate: str | None, message: str) -> Exception | None:
    """The pipeline's view of a database error, or None for a transient one."""
    kind = (sqlstate or "")[:2]
    if kind in PERMANENT_CLASSES:
        return PermanentError(f"{sqlstate}: {message}")
    if kind in RESOURCE_CLASSES:
        return ResourceError(f"{sqlstate}: {message}")
    return None


class Store(Protocol):
    async def prepare(self) -> None:
        """Make the database ready (migrations); raises while it cannot be reached."""

    async def org_secrets(self) -> list[dict[str, Any]]:
        """Each organisation's row of org_secrets: its `org_id` and its secrets by name."""

    async def apply_batch(
        self, messages: list[Message], statuses: list[StatusEvent], inbox: Sequence[InboxItem] = ()
    ) -> BatchResult: ...

    async def purge(self, max_age: timedelta) -> PurgeResult: ...

    async def purge_inbox(self, max_age: timedelta) -> int:
        """Delete kept bodies received more than `max_age` ago; return how many."""

    async def inbox_summary(self, org_id: UUID | None, since: datetime | None) -> list[dict[str, Any]]:
        """What is kept, by format and reason: kept, replayed, oldest, newest."""

    async def inbox_kept(
        self, org_id: UUID | None, since: datetime | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` kept bodies not yet replayed with an id above `after`, by id (body in base64)."""

    async def forget_customer(self, org_id: UUID, customer: Customer, limit: int, erasure_id: int | None) -> Erasure:
        """Erase up to `limit` of one customer's rows in `org_id`, recorded in a new record or `erasure_id`'s
        (docs/design.md, Customer data)."""

    async def export_customer(self, org_id: UUID, customer: Customer) -> dict[str, Any]:
        """Everything stored about one customer of `org_id`: messages in time order, parked events, inbox bodies."""

    async def retention_batch(self, default_days: int | None, limit: int) -> RetentionResult:
        """Erase up to `limit` rows (and inbox bodies, parked BSUIDs) past their organisation's retention."""

    async def refresh_reports(self, orgs: int, hours: int, skip: Sequence[UUID] = ()) -> ReportRefresh:
        """Recompute up to `hours` hours of the report rollups of each of up to `orgs` organisations with hours
        written since their last refresh, but those in `skip` and those being refreshed already."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
