"""What the database must hold for one message under the merge rules (docs/design.md, merge rules): the one
Python oracle of the merge, which the tests check the SQL against."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

RANKED = ("failed", "read", "delivered", "sent")  # merge rule 3, highest first

Key = tuple[UUID, str]
Event = tuple[str, datetime, str | None]  # (status, time, failed_reason)


@dataclass(frozen=True, slots=True)
class Expected:
    """The final state of one message under the merge rules."""

    whatsapp_status: dict[str, str]
    status: str | None
    failed_reason: str | None


def expected_state(events: Iterable[Event], sent_at: datetime) -> Expected:
    """The merge rules (docs/design.md, merge rules) for an outbound message logged at `sent_at`."""
    events = list(events)
    earliest: dict[str, datetime] = {"sent": sent_at}
    for name, ts, _ in events:
        earliest[name] = min(earliest.get(name, ts), ts)
    if "read" in earliest:
        earliest["delivered"] = min(earliest.get("delivered", earliest["read"]), earliest["read"])
    if "delivered" in earliest:
        earliest["sent"] = min(earliest["sent"], earliest["delivered"])
    status = next((name.upper() for name in RANKED if name in earliest), None)
    # the earliest failure's reason; on a tie the least text, a missing reason last
    failures = sorted((ts, reason is None, reason or "") for s, ts, reason in events if s == "failed")
    reason = None if not failures or failures[0][1] else failures[0][2]
    return Expected(
        whatsapp_status={k: v.strftime("%Y-%m-%dT%H:%M:%SZ") for k, v in earliest.items()},
        status=status,
        failed_reason=reason,
    )


def meta_reason(code: int, title: str, message: str, details: str | None) -> str:
    """failed_reason as docs/design.md (merge rules) writes it: `Error {code}: {title} - {message} ({details})`."""
    reason = f"Error {code}: {title} - {message}"
    return f"{reason} ({details})" if details else reason
