"""The report's numbers: each chart's rows, read from one view or function of sql/analytics in one snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bluetick.report.window import Window

TOP_FAILURES = 10
REFRESH_HOURS = 24  # hours recomputed per refresh transaction before the page is read
REFRESH_BUDGET_S = 2.0  # the longest the page spends refreshing; what is left is counted on the page
UNANSWERED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Query:
    """One read of the report: its table id on the page, the view or function it reads, and the statement."""

    id: str
    source: str  # the view or function, as the page names it
    sql: str  # $1 org, $2 the first and $3 the last UTC day, $4 the heatmap's time zone or the unanswered's as_of


FUNNEL_TOTAL = Query("funnel-total", "bluetick_report_funnel", "select * from bluetick_report_funnel($1, $2, $3)")
FUNNEL_DAILY = Query(
    "funnel-daily",
    "bluetick_report_funnel_daily",
    "select day, outbound, sent, delivered, read, failed, delivery_rate_pct, read_rate_pct,"
    " median_seconds_to_deliver, p95_seconds_to_deliver, median_seconds_to_read, p95_seconds_to_read"
    " from bluetick_report_funnel_daily($1, $2, $3)",
)
FAILURES = Query(
    "failures",
    "bluetick_report_failures",
    "select error_code, error_title, failures, share_pct from bluetick_report_failures($1, $2, $3)"
    f" limit {TOP_FAILURES}",
)
HEATMAP = Query(
    "read-heatmap",
    "bluetick_report_read_heatmap",
    "select * from bluetick_report_read_heatmap($1, $2, $3, $4)",
)
RESPONSES_TOTAL = Query(
    "responses-total", "bluetick_report_responses", "select * from bluetick_report_responses($1, $2, $3)"
)
RESPONSES_DAILY = Query(
    "responses-daily",
    "bluetick_report_responses_daily",
    "select day, inbound, answered, unanswered, median_seconds_to_reply, p95_seconds_to_reply"
    " from bluetick_report_responses_daily($1, $2, $3)",
)
UNANSWERED = Query(
    "unanswered",
    "bluetick_report_unanswered",
    "select received_at, customer, seconds_waiting, waiting"
    f" from bluetick_report_unanswered($1, $2, $3, $4, {UNANSWERED_SHOWN})",
)
KINDS = Query(
    "kinds",
    "bluetick_report_kinds",
    "select msg_kind, outbound, delivered, read, failed, delivery_rate_pct, read_rate_pct"
    " from bluetick_report_kinds($1, $2, $3)",
)
BILLABLE = Query("billable", "bluetick_report_billable", "select * from bluetick_report_billable($1, $2, $3)")
SPEND = Query("spend", "bluetick_report_spend", "select * from bluetick_report_spend($1, $2, $3)")

QUERIES = (FUNNEL_TOTAL, FUNNEL_DAILY, FAILURES, HEATMAP, RESPONSES_TOTAL, RESPONSES_DAILY, UNANSWERED, KINDS,
           BILLABLE, SPEND)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rows:
    query: Query
    call: str  # the call an analyst can paste into the SQL editor
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Report:
    window: Window
    as_of: datetime  # seconds waiting are counted up to then: now, or the window's end when it is past
    tables: dict[str, Rows]  # by Query.id
    pending_hours: int = 0  # hours of the organisation written since the rollups were computed, not in these numbers

    def __getitem__(self, query: Query) -> Rows:
        return self.tables[query.id]

    @property
    def empty(self) -> bool:
        """No message of the organisation in the window, in either direction, and nothing priced."""
        return all(not self[q].rows for q in (FUNNEL_DAILY, RESPONSES_DAILY, BILLABLE))


async def fetch_report(
    conn: asyncpg.Connection, window: Window, timeout_s: float | None = None, now: datetime | None = None
) -> Report:
    """Every chart's rows: first the organisation's rollups are brought up to date (bluetick_report_refresh, a short
    transaction per REFRESH_HOURS hours, for at most REFRESH_BUDGET_S), then all are read in one read-only snapshot
    so the charts agree with each other; hours still noted after the budget are counted on the page."""
    started = time.monotonic()
    while time.monotonic() - started < REFRESH_BUDGET_S:
        done = await conn.fetchval(
            "select bluetick_report_refresh($1, $2)", window.org, REFRESH_HOURS, timeout=timeout_s
        )
        if done < REFRESH_HOURS:
            break
    as_of = min(now or datetime.now(UTC), window.until)
    tables = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # message_logs before the rollups, in the order a truncate of message_logs takes them (no deadlock)
        await conn.execute("lock table message_logs in access share mode", timeout=timeout_s)
        pending = await conn.fetchval(
            "select count(distinct hour) from report_dirty where org_id = $1", window.org, timeout=timeout_s
        )
        for query in QUERIES:
            params: tuple[Any, ...] = (window.org, window.first, window.last)
            if query is HEATMAP:
                params += (window.tz,)
            elif query is UNANSWERED:
                params += (as_of,)
            records = await conn.fetch(query.sql, *params, timeout=timeout_s)
            columns = tuple(records[0].keys()) if records else ()
            tables[query.id] = Rows(query, _call(query, params), columns, [dict(r) for r in records])
    return Report(window, as_of, tables, pending)


def _call(query: Query, params: tuple[Any, ...]) -> str:
    """The statement with its parameters written out, for the reader to paste (never executed)."""
    text = query.sql
    for n in range(len(params), 0, -1):
        text = text.replace(f"${n}", _literal(params[n - 1]))
    return text


def _literal(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"
