"""`python main.py stats`: one organisation's delivery funnel as a plain text table, read through the store
(bluetick_stats_funnel) over either backend: a database connection, or Supabase's REST API alone."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from bluetick.config import Settings
from bluetick.store import Store
from bluetick.store.dsn import dsn_of
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


class Unreadable(Exception):
    """The configured database could not give the funnel; the message says why."""


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
    """The funnel of `org`'s outbound messages over the `days` UTC days up to `today`, one row per day or kind,
    read over a connection to `dsn` (no timeout: a long window is a long read)."""
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=None)
    try:
        return await funnel_table(store, org, days, by, today)
    finally:
        await store.close()


async def configured_funnel_report(settings: Settings, org: UUID, days: int, by: str = "day") -> str:
    """`funnel_report` on the configured database: over Supabase's REST API when only SUPABASE_URL and the service
    role key are set (after checking bluetick's SQL is installed there), else over DATABASE_URL or the embedded
    server."""
    if settings.backend != "supabase":
        return await funnel_report(dsn_of(settings), org, days, by)
    import httpx
    from postgrest.exceptions import APIError

    from bluetick.store.supabase import SupabaseSetupError, SupabaseStore

    assert settings.supabase_url and settings.supabase_service_role_key
    try:
        store = await SupabaseStore.connect(
            settings.supabase_url, settings.supabase_service_role_key, settings.db_timeout_ms / 1000
        )
        try:
            await store.prepare()
            return await funnel_table(store, org, days, by)
        finally:
            await store.close()
    except SupabaseSetupError as exc:
        raise Unreadable(str(exc)) from exc
    except APIError as exc:
        raise Unreadable(f"the REST API refused the read: {exc.code} {exc.message}") from exc
    except httpx.HTTPError as exc:
        raise Unreadable(f"the REST API cannot be reached: {type(exc).__name__}: {exc}") from exc


async def funnel_table(store: Store, org: UUID, days: int, by: str = "day", today: date | None = None) -> str:
    """The text of `funnel_report`, read through `store`."""
    last = today or datetime.now(UTC).date()
    first = last - timedelta(days=days - 1)
    funnel = await store.stats_funnel(org, first, last, by)
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
