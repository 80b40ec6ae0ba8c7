"""The report's numbers: each chart's rows, read from one view or function of sql/analytics in one snapshot, through
the store (bluetick_report_data)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bluetick.report.window import Window
from bluetick.store import Store

TOP_FAILURES = 10
REFRESH_HOURS = 24  # hours recomputed per refresh transaction before the page is read
REFRESH_BUDGET_S = 2.0  # the longest the page spends refreshing; what is left is counted on the page
UNANSWERED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Query:
    """One read of the report: its table id on the page, the view or function it reads, and the statement."""

    id: str
    source: str  # the view or function, as the page names it
    # $1 org, $2 the first and $3 the last UTC day, $4 the heatmap's time zone or the unanswered's as_of; the page
    # shows it, bluetick_report_data (sql/analytics/0109_reads.sql) runs it
    sql: str


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
CAMPAIGNS = Query(
    "campaigns",
    "bluetick_campaign_funnel",
    "select campaign_id, campaign_name, template_name, template_language, outbound, delivered, read, replied,"
    " clicked, failed, read_pct, replied_pct, clicked_pct, failed_pct, median_seconds_sent_to_read, top_error_code,"
    " opted_out from bluetick_campaign_funnel($1, $2::date::timestamp at time zone 'UTC',"
    " ($3::date + 1)::timestamp at time zone 'UTC')",
)
TEMPLATES = Query("templates", "bluetick_report_templates", "select * from bluetick_report_templates($1, $2, $3)")

QUERIES = (FUNNEL_TOTAL, FUNNEL_DAILY, FAILURES, HEATMAP, RESPONSES_TOTAL, RESPONSES_DAILY, UNANSWERED, KINDS,
           BILLABLE, SPEND, CAMPAIGNS, TEMPLATES)  # fmt: skip


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


async def fetch_report(store: Store, window: Window, now: datetime | None = None) -> Report:
    """Every chart's rows: first the organisation's rollups are brought up to date (a refresh of REFRESH_HOURS hours
    per call, for at most REFRESH_BUDGET_S), then all are read in one snapshot so the charts agree with each other;
    hours still noted after the budget are counted on the page."""
    started = time.monotonic()
    while time.monotonic() - started < REFRESH_BUDGET_S:
        if await store.report_refresh(window.org, REFRESH_HOURS) < REFRESH_HOURS:
            break
    as_of = min(now or datetime.now(UTC), window.until)
    doc = await store.report_data(
        window.org, window.first, window.last, window.tz, as_of, TOP_FAILURES, UNANSWERED_SHOWN
    )
    tables = {}
    for query in QUERIES:
        params: tuple[Any, ...] = (window.org, window.first, window.last)
        if query is HEATMAP:
            params += (window.tz,)
        elif query is UNANSWERED:
            params += (as_of,)
        tables[query.id] = _rows(query, _call(query, params), doc["tables"][query.id])
    return Report(window, as_of, tables, int(doc["pending_hours"]))


# a column's declared type, as format_type names it, to what its text becomes (others stay text)
_VALUES: dict[str, Callable[[str], Any]] = {
    "bigint": int,
    "integer": int,
    "smallint": int,
    "numeric": Decimal,  # with its scale: 60.00 stays 60.00 on the page
    "boolean": lambda text: text == "true",
    "date": date.fromisoformat,
    "timestamp with time zone": datetime.fromisoformat,  # written in UTC, as +00:00
}


def _rows(query: Query, call: str, table: dict[str, Any]) -> Rows:
    """A chart's rows as the database's values, from bluetick_report_table's columns, types and text."""
    columns = tuple(table["columns"])
    values = [_VALUES.get(t, str) for t in table["types"]]
    if len(values) != len(columns):
        raise ValueError(f"{query.source}: the types of {columns} are not all known")
    rows = [
        {c: None if text is None else value(text) for c, value, text in zip(columns, values, row, strict=True)}
        for row in table["rows"]
    ]
    return Rows(query, call, columns, rows)


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
