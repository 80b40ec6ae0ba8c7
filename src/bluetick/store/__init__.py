"""The only place that talks to a database: each operation is one SQL function call, written once over a
transport (asyncpg in store/postgres.py, PostgREST in store/supabase.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from importlib.resources import files
from typing import Any
from uuid import UUID

from bluetick.events import Fact, Message, StatusEvent
from bluetick.store.campaigns import CampaignOps
from bluetick.store.feed import FeedOps
from bluetick.store.links import LinkOps
from bluetick.store.records import (
    BatchResult,
    Customer,
    Erasure,
    InboxItem,
    PurgeResult,
    ReportRefresh,
    RetentionResult,
)
from bluetick.store.subscriptions import SubscriptionOps
from bluetick.store.transport import PermanentError, ResourceError, Transport, classify

SQL = files("bluetick") / "sql"  # package data: the same files in a checkout, an editable install or a wheel

__all__ = [
    "SQL",
    "BatchResult",
    "PermanentError",
    "PurgeResult",
    "ReportRefresh",
    "ResourceError",
    "Store",
    "Transport",
    "classify",
]


class Store(CampaignOps, FeedOps, LinkOps, SubscriptionOps, ABC):
    """The database's operations: each names its SQL function, its parameters and what its result becomes. A
    backend adds how it connects and what `prepare` does."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @abstractmethod
    async def prepare(self) -> None:
        """Make the database ready (migrations); raises while it cannot be reached."""

    async def org_secrets(self) -> list[dict[str, Any]]:
        """Each organisation's row of org_secrets: its `org_id` and its secrets by name."""
        rows: list[dict[str, Any]] = await self.transport.call("bluetick_org_secrets", {})
        return rows

    async def apply_batch(
        self,
        messages: list[Message],
        statuses: list[StatusEvent],
        inbox: Sequence[InboxItem] = (),
        facts: Sequence[Fact] = (),
    ) -> BatchResult:
        """One batch in one transaction; the four-argument function only when it carries facts (few do)."""
        params = {
            "p_messages": [m.to_json() for m in messages],
            "p_statuses": [s.to_json() for s in statuses],
            "p_inbox": [k.to_json() for k in inbox],
        }
        if facts:
            params["p_facts"] = [f.to_json() for f in facts]
        return BatchResult.of(await self.transport.call("bluetick_apply_batch", params))

    async def purge(self, max_age: timedelta) -> PurgeResult:
        return PurgeResult.of(await self.transport.call("bluetick_purge", {"p_max_age": max_age}))

    async def purge_inbox(self, max_age: timedelta) -> int:
        """Delete kept bodies received more than `max_age` ago; return how many."""
        return int((await self.transport.call("bluetick_purge_inbox", {"p_max_age": max_age}))["inbox"])

    async def inbox_summary(self, org_id: UUID | None, since: datetime | None) -> list[dict[str, Any]]:
        """What is kept, by format and reason: kept, replayed, oldest, newest."""
        params = {"p_org_id": org_id, "p_since": since}
        rows: list[dict[str, Any]] = await self.transport.call("bluetick_inbox_summary", params)
        return rows

    async def inbox_kept(
        self, org_id: UUID | None, since: datetime | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` kept bodies not yet replayed with an id above `after`, by id (body in base64)."""
        params = {"p_org_id": org_id, "p_since": since, "p_after": after, "p_limit": limit}
        rows: list[dict[str, Any]] = await self.transport.call("bluetick_inbox_kept", params)
        return rows

    async def forget_customer(self, org_id: UUID, customer: Customer, limit: int, erasure_id: int | None) -> Erasure:
        """Erase up to `limit` of one customer's rows in `org_id`, recorded in a new record or `erasure_id`'s
        (docs/design.md, Customer data)."""
        params = {
            "p_org": org_id,
            "p_phone": customer.phone,
            "p_user_id": customer.user_id,
            "p_limit": limit,
            "p_erasure_id": erasure_id,
        }
        return Erasure.of(await self.transport.call("bluetick_forget_customer", params))

    async def export_customer(self, org_id: UUID, customer: Customer) -> dict[str, Any]:
        """Everything stored about one customer of `org_id`: messages in time order, parked events, inbox bodies,
        platform facts and the outbox's events naming them."""
        params = {"p_org": org_id, "p_phone": customer.phone, "p_user_id": customer.user_id}
        doc: dict[str, Any] = await self.transport.call("bluetick_export_customer", params)
        return doc

    async def events_maintain(self, ttl: timedelta) -> dict[str, int]:
        """Expiry of the outbox (bluetick_events): make the daily partitions of today and the next two days, drop
        those whose day ended more than `ttl` ago, delete the default partition's rows that old. Returns the counts
        {"created", "dropped", "deleted"} (partitions, partitions, rows)."""
        doc: dict[str, Any] = await self.transport.call("bluetick_events_maintain", {"p_ttl": ttl})
        return {key: int(doc.get(key, 0)) for key in ("created", "dropped", "deleted")}

    async def retention_batch(self, default_days: int | None, limit: int) -> RetentionResult:
        """Erase up to `limit` rows (and inbox bodies, parked BSUIDs) past their organisation's retention."""
        params = {"p_default_days": default_days, "p_limit": limit}
        return RetentionResult.of(await self.transport.call("bluetick_retention_batch", params))

    async def refresh_reports(self, orgs: int, hours: int, skip: Sequence[UUID] = ()) -> ReportRefresh:
        """Recompute up to `hours` hours of the report rollups of each of up to `orgs` organisations with hours
        written since their last refresh, but those in `skip` and those being refreshed already."""
        params = {"p_orgs": orgs, "p_max_hours": hours, "p_skip": list(skip)}
        return ReportRefresh.of(await self.transport.call("bluetick_report_refresh_some", params))

    async def report_refresh(self, org_id: UUID, hours: int) -> int:
        """Recompute up to `hours` of the noted hours of `org_id`'s report rollups, newest first; return how many."""
        params = {"p_org": org_id, "p_max_hours": hours}
        return int(await self.transport.call("bluetick_report_refresh", params))

    async def report_data(
        self, org_id: UUID, first: date, last: date, tz: str, as_of: datetime, top_failures: int, unanswered: int
    ) -> dict[str, Any]:
        """The report page's charts over the UTC days `first` to `last`, read in one snapshot: `pending_hours` and
        `tables` by chart id, each its `columns`, their `types` and its `rows` of values as text."""
        params = {
            "p_org": org_id,
            "p_first": first,
            "p_last": last,
            "p_tz": tz,
            "p_as_of": as_of,
            "p_top_failures": top_failures,
            "p_unanswered_shown": unanswered,
        }
        doc: dict[str, Any] = await self.transport.call("bluetick_report_data", params)
        return doc

    async def stats_funnel(self, org_id: UUID, first: date, last: date, by: str) -> dict[str, Any]:
        """`bluetick stats`: the funnel of `org_id`'s outbound messages over the UTC days `first` to `last`, its
        `total` and its `rows` per day or (`by` "kind") per msg_kind, every number as its text."""
        params = {"p_org": org_id, "p_first": first, "p_last": last, "p_by": by}
        doc: dict[str, Any] = await self.transport.call("bluetick_stats_funnel", params)
        return doc

    async def ping(self) -> bool:
        return await self.transport.ping()

    async def close(self) -> None:
        await self.transport.close()
