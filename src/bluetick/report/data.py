"""The report's numbers: each chart's rows, read from one view or function of sql/analytics in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bluetick.report.window import Window

TOP_FAILURES = 10
UNANSWERED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Query:
    """One read of the report: its table id on the page, the view or function it reads, and the statement."""

    id: str
    source: str  # the view or function, as the page names it
    sql: str  # $1 org, $2 since, $3 until (or first and last UTC day for a daily view), $4 as given


FUNNEL_TOTAL = Query("funnel-total", "bluetick_funnel", "select * from bluetick_funnel($1, $2, $3)")
FUNNEL_DAILY = Query(
    "funnel-daily",
    "message_funnel_daily",
    "select day, outbound, sent, delivered, read, failed, delivery_rate_pct, read_rate_pct,"
    " median_seconds_to_deliver, p95_seconds_to_deliver, median_seconds_to_read, p95_seconds_to_read"
    " from message_funnel_daily where org_id = $1 and day >= $2 and day <= $3 order by day",
)
FAILURES = Query(
    "failures",
    "bluetick_failure_share",
    f"select error_code, error_title, failures, share_pct from bluetick_failure_share($1, $2, $3) limit {TOP_FAILURES}",
)
HEATMAP = Query(
    "read-heatmap",
    "bluetick_read_rate_by_weekday_hour",
    "select * from bluetick_read_rate_by_weekday_hour($1, $2, $3, $4)",
)
RESPONSES_TOTAL = Query(
    "responses-total", "bluetick_response_times", "select * from bluetick_response_times($1, $2, $3)"
)
RESPONSES_DAILY = Query(
    "responses-daily",
    "response_times_daily",
    "select day, inbound, answered, unanswered, median_seconds_to_reply, p95_seconds_to_reply"
    " from response_times_daily where org_id = $1 and day >= $2 and day <= $3 order by day",
)
UNANSWERED = Query(
    "unanswered",
    "bluetick_unanswered",
    "select received_at, customer, seconds_waiting, count(*) over () as waiting"
    f" from bluetick_unanswered($1, $2, interval '0', $3) limit {UNANSWERED_SHOWN}",
)
KINDS = Query(
    "kinds",
    "bluetick_funnel_by_kind",
    "select msg_kind, outbound, delivered, read, failed, delivery_rate_pct, read_rate_pct"
    " from bluetick_funnel_by_kind($1, $2, $3)",
)
BILLABLE = Query("billable", "bluetick_billable", "select * from bluetick_billable($1, $2, $3)")
SPEND = Query("spend", "bluetick_spend", "select * from bluetick_spend($1, $2, $3)")

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
    as_of: datetime  # unanswered messages are those with no reply by then
    tables: dict[str, Rows]  # by Query.id

    def __getitem__(self, query: Query) -> Rows:
        return self.tables[query.id]

    @property
    def empty(self) -> bool:
        """No message of the organisation in the window, in either direction, and nothing priced."""
        return all(not self[q].rows for q in (FUNNEL_DAILY, RESPONSES_DAILY, BILLABLE))


async def fetch_report(
    conn: asyncpg.Connection, window: Window, timeout_s: float | None = None, now: datetime | None = None
) -> Report:
    """Every chart's rows, in one read-only snapshot so the charts agree with each other."""
    as_of = min(now or datetime.now(UTC), window.until)
    args = {
        FUNNEL_DAILY.id: (window.org, window.first, window.last),
        RESPONSES_DAILY.id: (window.org, window.first, window.last),
        HEATMAP.id: (window.org, window.since, window.until, window.tz),
        UNANSWERED.id: (window.org, window.since, as_of),
    }
    tables = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for query in QUERIES:
            params = args.get(query.id, (window.org, window.since, window.until))
            records = await conn.fetch(query.sql, *params, timeout=timeout_s)
            columns = tuple(records[0].keys()) if records else ()
            tables[query.id] = Rows(query, _call(query, params), columns, [dict(r) for r in records])
    return Report(window, as_of, tables)


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
