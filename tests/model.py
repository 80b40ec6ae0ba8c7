"""The merge rules of docs/design.md written as plain Python, to check the SQL against."""

from __future__ import annotations

from datetime import datetime

Event = tuple[str, datetime, str | None]  # (status, time, failed_reason)


def expected_row(events: list[Event], sent_at: datetime) -> dict[str, object]:
    """whatsapp_status, status and failed_reason of an outbound message logged at `sent_at`."""
    earliest: dict[str, datetime] = {"sent": sent_at}
    for status, ts, _ in events:
        earliest[status] = min(earliest.get(status, ts), ts)
    if "read" in earliest:
        earliest["delivered"] = min(earliest.get("delivered", earliest["read"]), earliest["read"])
    if "delivered" in earliest:
        earliest["sent"] = min(earliest["sent"], earliest["delivered"])
    status = next((name.upper() for name in ("failed", "read", "delivered", "sent") if name in earliest), None)
    failures = sorted(((ts, reason is None, reason or "") for s, ts, reason in events if s == "failed"))
    reason = None if not failures or failures[0][1] else failures[0][2]
    return {
        "whatsapp_status": {k: v.strftime("%Y-%m-%dT%H:%M:%SZ") for k, v in earliest.items()},
        "status": status,
        "failed_reason": reason,
    }
