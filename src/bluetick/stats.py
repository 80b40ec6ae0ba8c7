"""`python main.py stats`: one organisation's delivery funnel as a plain text table."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from bluetick.store.postgres import PostgresStore

# (header, column of the funnel view and functions, as bluetick_stats_funnel returns them)
_COLUMNS = (
    ("outbound", "outbound"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("read", "read"),
    ("failed", "failed"),
    ("delivered%", "delivery_rate_pct"),
    ("read%", "read_rate_pct"),
    ("deliver_p50_s", "median_seconds_to_deliver"),
    ("deliver_p95_s", "p95_seconds_to_deliver"),
    ("read_p50_s", "median_seconds_to_read"),
    ("read_p95_s", "p95_seconds_to_read"),
)


def days_arg(raw: str) -> int:
    """argparse type of --days: a whole number of UTC days, at least 1."""
    try:
        days = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, got {raw!r}") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {days}")
    return days


async def funnel_report(dsn: str, org: UUID, days: int, by: str = "day", today: date | None = None) -> str:
    """The funnel of `org`'s outbound messages over the `days` UTC days up to `today`, one row per day or kind."""
    last = today or datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=None)
    try:
        funnel = await store.stats_funnel(org, first, last, by)
    finally:
        await store.close()
    total, rows = funnel["total"], funnel["rows"]
    window = f"{first.isoformat()} to {last.isoformat()} (UTC days)"
    if total is None or int(total["outbound"]) == 0:
        return f"org {org}: no outbound messages from {window}"
    title = f"funnel of outbound messages, org {org}, {window}"
    labels = [row["msg_kind"] or "(none)" for row in rows] if by == "kind" else [row["day"] for row in rows]
    body = [[label, *(_cell(row[c]) for _, c in _COLUMNS)] for label, row in zip(labels, rows, strict=True)]
    body.append(["total", *(_cell(total[c]) for _, c in _COLUMNS)])
    return "\n".join([title, *_table(["kind" if by == "kind" else "day", *(h for h, _ in _COLUMNS)], body)])


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _table(header: Sequence[str], body: list[list[str]]) -> list[str]:
    """Lines of a table: first column left-aligned, the numbers right-aligned."""
    widths = [max(len(line[i]) for line in [list(header), *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])

    return [line(header), *(line(cells) for cells in body)]
