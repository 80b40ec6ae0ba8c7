"""What the store takes and returns besides events: customers, erasures, inbox rows, batch and purge results.

A leaf: it imports nothing of bluetick above `logs`, so every module may import it, the store included.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick.logs import mask


@dataclass(frozen=True, slots=True)
class Customer:
    """Exactly one of `phone` (E.164 with `+`) and `user_id` (BSUID) is set."""

    phone: str | None = None
    user_id: str | None = None

    @property
    def masked(self) -> str:
        """For logs: the last four characters only."""
        return mask(self.phone if self.phone is not None else self.user_id or "")


@dataclass(frozen=True, slots=True)
class Erasure:
    """What `bluetick_forget_customer` erased, and its record."""

    rows: int  # message_logs rows that lost text and identifiers
    parked: int  # parked events that lost the BSUIDs
    inbox: int  # kept webhook bodies deleted
    erasure_id: int  # the customer_erasures row (the latest one, for a repeat that erased nothing)
    customer_hash: str  # hex sha256 of the organisation's salt and the identifier
    erased_at: str  # the record's time
    recorded: bool  # whether this erasure added a record
    more: bool = False  # whether rows past this part's limit may be left
    preferences: int = 0  # customer_preferences rows deleted (counted here, not in the record)
    group_receipts: int = 0  # group_receipts rows deleted (idem)
    links: int = 0  # customer_links rows deleted (idem)
    tracked_links: int = 0  # tracked_links rows of its messages deleted (idem)
    events: int = 0  # bluetick_events rows that lost the customer's identifiers and text (idem)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Erasure:
        return cls(
            rows=int(doc["rows"]),
            parked=int(doc["parked"]),
            inbox=int(doc["inbox"]),
            erasure_id=int(doc["erasure_id"]),
            customer_hash=str(doc["customer_hash"]),
            erased_at=str(doc["erased_at"]),
            recorded=bool(doc["recorded"]),
            more=bool(doc["more"]),
            preferences=int(doc.get("preferences", 0)),
            group_receipts=int(doc.get("group_receipts", 0)),
            links=int(doc.get("links", 0)),
            tracked_links=int(doc.get("tracked_links", 0)),
            events=int(doc.get("events", 0)),
        )

    def then(self, part: Erasure) -> Erasure:
        """This erasure followed by a later part of it."""
        return replace(
            self,
            rows=self.rows + part.rows,
            parked=self.parked + part.parked,
            inbox=self.inbox + part.inbox,
            preferences=self.preferences + part.preferences,
            group_receipts=self.group_receipts + part.group_receipts,
            links=self.links + part.links,
            tracked_links=self.tracked_links + part.tracked_links,
            events=self.events + part.events,
            more=part.more,
        )

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        del doc["more"]
        return doc


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """One retention batch: rows erased, inbox bodies deleted, parked events stripped of their BSUIDs, and
    customer preferences, group receipts, customer links and tracked links deleted."""

    rows: int = 0
    inbox: int = 0
    parked: int = 0
    preferences: int = 0
    group_receipts: int = 0
    links: int = 0
    tracked_links: int = 0

    @classmethod
    def of(cls, doc: dict[str, Any]) -> RetentionResult:
        return cls(
            rows=int(doc["rows"]),
            inbox=int(doc["inbox"]),
            parked=int(doc["parked"]),
            preferences=int(doc.get("preferences", 0)),
            group_receipts=int(doc.get("group_receipts", 0)),
            links=int(doc.get("links", 0)),
            tracked_links=int(doc.get("tracked_links", 0)),
        )

    def full(self, limit: int) -> bool:
        """Whether the batch hit its limit anywhere, so more may be left."""
        counts = (self.rows, self.inbox, self.parked, self.preferences, self.group_receipts, self.links)
        return max(*counts, self.tracked_links) >= limit

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(
            self.rows + other.rows,
            self.inbox + other.inbox,
            self.parked + other.parked,
            self.preferences + other.preferences,
            self.group_receipts + other.group_receipts,
            self.links + other.links,
            self.tracked_links + other.tracked_links,
        )


@dataclass(frozen=True, slots=True)
class KeptBody:
    """One body to keep: `reason` is unknown (no format read it), skipped (an item was bad) or unread."""

    org_id: UUID
    received_at: datetime
    content_type: str | None
    format: str
    reason: str
    detail: str | None
    body: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "org_id": str(self.org_id),
            "received_at": self.received_at.isoformat(),
            "content_type": self.content_type,
            "format": self.format,
            "reason": self.reason,
            "detail": self.detail,
            "body": base64.b64encode(self.body).decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class Reparsed:
    """A kept row after a replay: `replayed` when its body now became events completely."""

    id: int
    format: str
    reason: str
    detail: str | None
    replayed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "format": self.format,
            "reason": self.reason,
            "detail": self.detail,
            "replayed": self.replayed,
        }


InboxItem = KeptBody | Reparsed


@dataclass(frozen=True, slots=True)
class BatchResult:
    rows: dict[tuple[UUID, str], dict[str, Any]]
    updated: int
    parked: int
    kept: int = 0  # bodies newly kept in the inbox
    marked: int = 0  # inbox rows updated after a replay
    facts: int = 0  # platform facts stored anew

    @classmethod
    def of(cls, doc: dict[str, Any]) -> BatchResult:
        return cls(
            rows={(UUID(row["org_id"]), row["bsp_msg_id"]): row for row in doc["messages"]},
            updated=int(doc["updated"]),
            parked=int(doc["parked"]),
            kept=int(doc.get("kept", 0)),
            marked=int(doc.get("marked", 0)),
            facts=int(doc.get("facts", 0)),
        )


@dataclass(frozen=True, slots=True)
class PurgeResult:
    parked: int
    receipts: int

    @classmethod
    def of(cls, doc: dict[str, Any]) -> PurgeResult:
        return cls(parked=int(doc["parked"]), receipts=int(doc["receipts"]))


@dataclass(frozen=True, slots=True)
class ReportRefresh:
    """One call of the report refresh: organisations looked at, hours recomputed, and the organisations it is
    finished with (all their noted hours taken, or being refreshed elsewhere), which the round then skips."""

    orgs: int
    hours: int
    done: list[UUID]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ReportRefresh:
        return cls(int(doc["orgs"]), int(doc["hours"]), [UUID(org) for org in doc["done"]])
