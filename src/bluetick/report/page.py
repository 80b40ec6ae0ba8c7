"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing loaded from the network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from html import escape
from typing import Any

from bluetick import logs
from bluetick.report import svg
from bluetick.report.data import (
    BILLABLE,
    CAMPAIGNS,
    FAILURES,
    FUNNEL_DAILY,
    FUNNEL_TOTAL,
    HEATMAP,
    KINDS,
    RESPONSES_DAILY,
    RESPONSES_TOTAL,
    SPEND,
    TEMPLATES,
    UNANSWERED,
    Report,
    Rows,
)

BLUE, GREEN, PURPLE, RED, GREY, AMBER = "#2563eb", "#16a34a", "#7c3aed", "#dc2626", "#94a3b8", "#d97706"
PALETTE = (BLUE, GREEN, AMBER, PURPLE, RED, GREY, "#0891b2", "#be185d")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SUMMARY_FUNNEL = ("outbound", "delivered", "read", "failed", "delivery_rate_pct", "read_rate_pct",
                  "median_seconds_to_deliver", "median_seconds_to_read")  # fmt: skip
SUMMARY_RESPONSES = ("inbound", "answered", "unanswered", "median_seconds_to_reply", "p95_seconds_to_reply")
NULL_SHOWN = "\u2013"  # an en dash in a cell whose value is NULL
OPEN_TABLE_MAX_ROWS = 12  # longer tables start folded (<details>), still on the page

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1160px;color:#1f2937}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 4px}
section{border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px;margin:16px 0}
.meta,.source{color:#6b7280;font-size:13px;margin:2px 0 8px}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#f3f4f6;padding:1px 4px;
border-radius:3px;word-break:break-all}
svg{display:block;max-width:100%;height:auto;font-size:12px;fill:#374151}
table{border-collapse:collapse;font-size:12px;margin-top:8px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f9fafb;font-weight:600}
summary{cursor:pointer;color:#374151;font-size:13px;margin-top:6px}
.nodata{color:#6b7280;background:#f9fafb;border:1px dashed #d1d5db;border-radius:6px;padding:18px;text-align:center}
.cards td{font-size:15px}
"""


def render(report: Report) -> str:
    """The whole page."""
    w = report.window
    title = f"bluetick report: organisation {w.org}"
    head = (
        f'<h1>Delivery report</h1><p class="meta">Organisation <code>{escape(str(w.org))}</code>, '
        f"UTC days {w.first.isoformat()} to {w.last.isoformat()} ({w.days} days); heatmap in "
        f"{escape(w.tz)}. Every number comes from the function named under its chart, in the Supabase SQL editor "
        "or <code>python main.py sql</code>. They read the report's hourly and daily rollups, brought up to date by "
        f"<code>select bluetick_report_refresh('{escape(str(w.org))}')</code> (done just before this page was read); "
        "the analytics views they mirror give the same numbers from the messages themselves.</p>"
    )
    if report.pending_hours:
        head += (
            f'<p class="meta" id="pending" data-source="report_dirty" data-col="hours" '
            f'data-value="{report.pending_hours}"><strong>Not up to date:</strong> '
            f"{report.pending_hours} hours of this organisation's messages were written since its rollups were "
            "computed, and are not in these numbers yet. The service is computing them; load the page again in a "
            "minute.</p>"
        )
    if report.empty:
        body = _section(
            "no-data",
            "No data",
            f'<p class="nodata">No messages of this organisation from {w.first.isoformat()} to '
            f"{w.last.isoformat()} (UTC days), in either direction, and nothing priced.</p>",
        )
    else:
        body = "".join(
            [_summary(report), _funnel(report), _latency(report), _failures(report), _heatmap(report),
             _responses(report), _kinds(report), _campaigns(report), _templates(report), _pricing(report)]
        )  # fmt: skip
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{head}{body}</body></html>\n"
    )


def text_of(value: Any) -> str:
    """A value as the page writes it in `data-value`: ISO dates and times, '' for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def mask(customer: str | None) -> str:
    """A customer's phone or BSUID as the page shows it: all but the last four characters hidden, the `+` too."""
    return "" if customer is None else logs.mask(customer, "•", keep_plus=False)


def _summary(report: Report) -> str:
    funnel, responses = report[FUNNEL_TOTAL], report[RESPONSES_TOTAL]
    return _section(
        "summary",
        "The period at a glance",
        _source(funnel)
        + _table(funnel, SUMMARY_FUNNEL, cards=True)
        + _source(responses)
        + _table(responses, SUMMARY_RESPONSES, cards=True),
    )


def _funnel(report: Report) -> str:
    rows = report[FUNNEL_DAILY]
    if not rows.rows:
        return _section("funnel", "Daily funnel", _source(rows) + _no_data("no outbound messages"))
    days = _days(report)
    counts = svg.bars(
        days,
        [
            svg.Series("sent", _col(report, rows, "sent"), GREY),
            svg.Series("delivered", _col(report, rows, "delivered"), BLUE),
            svg.Series("read", _col(report, rows, "read"), GREEN),
            svg.Series("failed", _col(report, rows, "failed"), RED),
        ],
    )
    rates = svg.lines(
        days,
        [
            svg.Series("delivery rate (delivered / sent)", _col(report, rows, "delivery_rate_pct"), BLUE),
            svg.Series("read rate (read / delivered)", _col(report, rows, "read_rate_pct"), GREEN),
        ],
        unit="%",
        top=100,
    )
    columns = ("day", "outbound", "sent", "delivered", "read", "failed", "delivery_rate_pct", "read_rate_pct")
    return _section(
        "funnel", "Daily funnel of outbound messages", _source(rows) + counts + rates + _table(rows, columns)
    )


def _latency(report: Report) -> str:
    rows = report[FUNNEL_DAILY]
    if not rows.rows:
        return ""
    days = _days(report)
    deliver = svg.lines(
        days,
        [
            svg.Series("median seconds to deliver", _col(report, rows, "median_seconds_to_deliver"), BLUE),
            svg.Series("p95 seconds to deliver", _col(report, rows, "p95_seconds_to_deliver"), PURPLE),
        ],
        unit=" s",
    )
    read = svg.lines(
        days,
        [
            svg.Series("median seconds to read", _col(report, rows, "median_seconds_to_read"), GREEN),
            svg.Series("p95 seconds to read", _col(report, rows, "p95_seconds_to_read"), AMBER),
        ],
        unit=" s",
    )
    columns = ("day", "median_seconds_to_deliver", "p95_seconds_to_deliver", "median_seconds_to_read",
               "p95_seconds_to_read")  # fmt: skip
    return _section(
        "latency",
        "Time to deliver (sent to delivered) and to read (delivered to read), per day",
        _source(rows) + deliver + read + _table(rows, columns, table_id="latency-daily"),
    )


def _failures(report: Report) -> str:
    rows = report[FAILURES]
    title = "Failures by error code: the top 10"
    if not rows.rows:
        return _section("failures", title, _source(rows) + _no_data("no failed messages"))
    labels = [f"{r['error_code'] or 'no code'}: {r['error_title'] or '(no title)'}" for r in rows.rows]
    notes = [f"{r['failures']} ({text_of(r['share_pct'])}%)" for r in rows.rows]
    chart = svg.hbars(labels, [float(r["failures"]) for r in rows.rows], RED, notes)
    return _section("failures", title, _source(rows) + chart + _table(rows, rows.columns))


def _heatmap(report: Report) -> str:
    rows = report[HEATMAP]
    title = f"Read rate by weekday and hour of sending ({report.window.tz})"
    if not rows.rows:
        return _section("heatmap", title, _source(rows) + _no_data("no outbound messages"))
    cells: list[list[float | None]] = [[None] * 24 for _ in WEEKDAYS]
    titles = [[f"{day} {hour:02d}:00: nothing sent" for hour in range(24)] for day in WEEKDAYS]
    for r in rows.rows:
        d, h = r["day_of_week"] - 1, r["hour_of_day"]
        rate = r["read_rate_pct"]
        cells[d][h] = None if rate is None else float(rate)
        titles[d][h] = (
            f"{WEEKDAYS[d]} {h:02d}:00: read rate {text_of(rate) or '-'}% "
            f"({r['read']} read of {r['delivered']} delivered, {r['outbound']} sent)"
        )
    chart = svg.heatmap(WEEKDAYS, [f"{h:02d}" for h in range(24)], cells, titles)
    return _section("heatmap", title, _source(rows) + chart + _table(rows, rows.columns))


def _responses(report: Report) -> str:
    rows, waiting = report[RESPONSES_DAILY], report[UNANSWERED]
    title = "The agent's response time to customer messages, and those left unanswered"
    if not rows.rows:
        return _section("responses", title, _source(rows) + _no_data("no customer messages"))
    days = _days(report)
    times = svg.lines(
        days,
        [
            svg.Series("median seconds to reply", _col(report, rows, "median_seconds_to_reply"), BLUE),
            svg.Series("p95 seconds to reply", _col(report, rows, "p95_seconds_to_reply"), PURPLE),
        ],
        unit=" s",
    )
    counts = svg.bars(
        days,
        [
            svg.Series("answered", _col(report, rows, "answered"), GREEN),
            svg.Series("unanswered", _col(report, rows, "unanswered"), RED),
        ],
        stacked=True,
    )
    total = waiting.rows[0]["waiting"] if waiting.rows else 0
    as_of = report.as_of.isoformat(timespec="seconds")
    listing = (
        f'<p>Customer messages with no reply as of {escape(as_of)}: <strong data-source="{UNANSWERED.source}" '
        f'data-col="waiting" data-value="{total}">{total}</strong>'
        + (f"; the oldest {len(waiting.rows)}:</p>" if waiting.rows else ".</p>")
    )
    if waiting.rows:
        listing += _table(waiting, ("received_at", "customer", "seconds_waiting"), masked=("customer",))
    return _section(
        "responses",
        title,
        _source(rows) + times + counts + _table(rows, rows.columns) + _source(waiting) + listing,
    )


def _kinds(report: Report) -> str:
    rows = report[KINDS]
    title = "Outbound messages by kind (msg_kind as logged)"
    if not rows.rows:
        return _section("kinds", title, _source(rows) + _no_data("no outbound messages"))
    labels = [r["msg_kind"] or "(no kind)" for r in rows.rows]
    notes = [
        f"{r['outbound']} sent, delivered {text_of(r['delivery_rate_pct']) or '-'}%, "
        f"read {text_of(r['read_rate_pct']) or '-'}%"
        for r in rows.rows
    ]
    chart = svg.hbars(labels, [float(r["outbound"]) for r in rows.rows], BLUE, notes)
    return _section("kinds", title, _source(rows) + chart + _table(rows, rows.columns))


def _campaigns(report: Report) -> str:
    rows = report[CAMPAIGNS]
    title = "Campaigns and templates: the funnel of each (messages logged with a campaign or a template)"
    if not rows.rows:
        return _section("campaigns", title, _source(rows) + _no_data("no message named a campaign or a template"))
    labels = [
        " / ".join(x for x in (r["campaign_name"] or r["campaign_id"], r["template_name"], r["template_language"]) if x)
        for r in rows.rows
    ]
    stages = (("delivered", BLUE), ("read", GREEN), ("replied", PURPLE), ("clicked", AMBER), ("failed", RED))
    chart = svg.bars(labels, [svg.Series(stage, _values(rows, stage), colour) for stage, colour in stages])
    return _section("campaigns", title, _source(rows) + chart + _table(rows, rows.columns))


def _templates(report: Report) -> str:
    rows = report[TEMPLATES]
    title = "Templates: read rate per day (read / delivered, %)"
    if not rows.rows:
        return _section("templates", title, _source(rows) + _no_data("no template message"))
    days = sorted({r["day"] for r in rows.rows})
    keys = list(dict.fromkeys((r["template_name"], r["template_language"]) for r in rows.rows))
    by_key = {(r["template_name"], r["template_language"], r["day"]): r["read_rate_pct"] for r in rows.rows}
    series = [
        svg.Series(
            f"{name} {language or ''}".strip(),
            [None if (v := by_key.get((name, language, day))) is None else float(v) for day in days],
            PALETTE[k % len(PALETTE)],
        )
        for k, (name, language) in enumerate(keys)
    ]
    chart = svg.lines([d.isoformat() for d in days], series, unit="%", top=100)
    return _section("templates", title, _source(rows) + chart + _table(rows, rows.columns))


def _values(rows: Rows, column: str) -> list[float | None]:
    return [None if r[column] is None else float(r[column]) for r in rows.rows]


def _pricing(report: Report) -> str:
    billable, spend = report[BILLABLE], report[SPEND]
    title = "Messages Meta priced, and spend by pricing category"
    if not billable.rows:
        return _section("pricing", title, _source(billable) + _no_data("no message carried Meta's pricing"))
    days = sorted({r["day"] for r in billable.rows})
    keys = list(dict.fromkeys((r["pricing_category"], r["pricing_type"], r["billable"]) for r in billable.rows))
    by_key = {(r["pricing_category"], r["pricing_type"], r["billable"], r["day"]): r["messages"] for r in billable.rows}
    series = [
        svg.Series(
            f"{category or '?'} {ptype or ''}{'' if paid else ' (free)'}".strip(),
            [by_key.get((category, ptype, paid, day)) for day in days],
            PALETTE[k % len(PALETTE)],
        )
        for k, (category, ptype, paid) in enumerate(keys)
    ]
    chart = svg.bars([d.isoformat() for d in days], series, stacked=True)
    spent = _table(spend, spend.columns) if spend.rows else _no_data("no billable message")
    return _section(
        "pricing",
        title,
        _source(billable) + chart + _table(billable, billable.columns) + _source(spend) + spent,
    )


def _section(section_id: str, title: str, inner: str) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{inner}</section>'


def _source(rows: Rows) -> str:
    return f'<p class="source">From <code>{escape(rows.query.source)}</code>: <code>{escape(rows.call)}</code></p>'


def _no_data(what: str) -> str:
    return f'<p class="nodata">No data: {escape(what)} in this period.</p>'


def _table(
    rows: Rows,
    columns: Sequence[str],
    table_id: str | None = None,
    cards: bool = False,
    masked: Sequence[str] = (),
) -> str:
    """The rows' numbers, each cell carrying its value in data-value for a reader or a test."""
    head = "".join(f'<th data-col="{escape(c)}">{escape(c)}</th>' for c in columns)
    body = []
    for row in rows.rows:
        cells = []
        for c in columns:
            value = mask(row[c]) if c in masked else text_of(row[c])
            cells.append(f'<td data-col="{escape(c)}" data-value="{escape(value)}">{escape(value) or NULL_SHOWN}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    css = ' class="cards"' if cards else ""
    table = (
        f'<table id="{escape(table_id or rows.query.id)}" data-source="{escape(rows.query.source)}"{css}>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    if len(rows.rows) <= OPEN_TABLE_MAX_ROWS:
        return table
    return f"<details><summary>The {len(rows.rows)} rows</summary>{table}</details>"


def _days(report: Report) -> list[str]:
    """Every day of the window (MM-DD), so a day without messages is a gap, not a missing tick."""
    w = report.window
    return [(w.first + timedelta(days=n)).isoformat()[5:] for n in range(w.days)]


def _col(report: Report, rows: Rows, column: str) -> list[float | None]:
    """`column` of a daily view, one value per day of the window (None on days without a row)."""
    w = report.window
    by_day = {r["day"]: r[column] for r in rows.rows}
    values = (by_day.get(w.first + timedelta(days=n)) for n in range(w.days))
    return [None if v is None else float(v) for v in values]
