"""The analyst's report shows exactly the numbers of the sql/analytics functions it names, for the CLI and the
HTTP route, through the store on either backend (the same page over PostgREST), refuses bad input before touching
anything, and opens offline in headless Chromium.

Fixture: organisation A of test_analytics (October 2024: funnel, failures, replies) plus organisation A of
test_analytics_pricing (November 2024: priced messages and a rate card) under the same id, so every chart has
data in one 36-day window.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bluetick.events import Message, StatusEvent
from bluetick.report import build_page, data, fetch_report, window_of
from bluetick.report.page import mask
from bluetick.store.postgres import PostgresStore
from bluetick.store.supabase import SupabaseStore
from main import main
from tests.conftest import make_settings, start_client
from tests.integration.test_analytics import A_DAY1, A_DAY2, A_DAY3, FUNNEL
from tests.integration.test_analytics import load as load_messages
from tests.integration.test_analytics_pricing import load as load_pricing
from tests.supabase_emulation import SERVICE_KEY, PostgrestStandIn

TODAY, DAYS, TZ = date(2024, 11, 7), 36, "Asia/Kolkata"
SINCE, UNTIL = datetime(2024, 10, 3, tzinfo=UTC), datetime(2024, 11, 8, tzinfo=UTC)
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Fixture:
    a: uuid.UUID
    page: str


async def add_campaigns(dsn: str, org: uuid.UUID) -> None:
    """Campaigns and templates on the organisation's outbound messages, for the two sections that show them."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """update message_logs
               set template_name = case when abs(hashtext(bsp_msg_id)) % 2 = 0 then 'promo_offer'
                                        else 'order_update' end,
                   template_language = 'en',
                   campaign_id = case when abs(hashtext(bsp_msg_id)) % 3 = 0 then 'diwali' end,
                   campaign_name = case when abs(hashtext(bsp_msg_id)) % 3 = 0 then 'Diwali sale' end
               where org_id = $1 and direction = 'OUTBOUND'""",
            org,
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def report(dsn: str) -> Fixture:
    a = uuid.uuid4()

    async def build() -> str:
        await load_messages(dsn, a, uuid.uuid4())
        await load_pricing(dsn, a, uuid.uuid4())
        await add_campaigns(dsn, a)
        store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
        try:
            return await build_page(store, window_of(a, DAYS, TZ, today=TODAY))
        finally:
            await store.close()

    return Fixture(a, asyncio.run(build()))


@pytest.fixture
async def store(dsn: str) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
    yield store
    await store.close()


class Tables(HTMLParser):
    """Every <table data-source>: its header columns and its cells' data-value, plus other data-value holders."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, Any]] = {}
        self.values: dict[tuple[str, str], str] = {}  # (data-source, data-col) of a data-value outside tables
        self._table: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "data-source" in a:
            self._table = {"source": a["data-source"], "columns": [], "rows": []}
            self.tables[a["id"] or ""] = self._table
        elif self._table is not None and tag == "th":
            self._table["columns"].append(a["data-col"])
        elif self._table is not None and tag == "tr" and self._table["columns"]:
            self._table["rows"].append([])
        elif self._table is not None and tag == "td":
            self._table["rows"][-1].append(a["data-value"])
        elif "data-value" in a:
            self.values[(a["data-source"] or "", a["data-col"] or "")] = a["data-value"] or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None


def parse(page: str) -> Tables:
    parser = Tables()
    parser.feed(page)
    return parser


def canon(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def expected_queries(a: uuid.UUID) -> dict[str, tuple[str, str, tuple[Any, ...]]]:
    """Each table of the page: the rollup function it names, and the call of the analytics function over the
    messages themselves that must give the same numbers."""
    window = (a, SINCE, UNTIL)
    daily = "select * from message_funnel_daily where org_id = $1 and day between $2 and $3 order by day"
    return {
        "funnel-total": ("bluetick_report_funnel", "select * from bluetick_funnel($1, $2, $3)", window),
        "responses-total": ("bluetick_report_responses", "select * from bluetick_response_times($1, $2, $3)", window),
        "funnel-daily": ("bluetick_report_funnel_daily", daily, (a, SINCE.date(), TODAY)),
        "latency-daily": ("bluetick_report_funnel_daily", daily, (a, SINCE.date(), TODAY)),
        "failures": ("bluetick_report_failures", "select * from bluetick_failure_share($1, $2, $3) limit 10", window),
        "read-heatmap": (
            "bluetick_report_read_heatmap",
            "select * from bluetick_read_rate_by_weekday_hour($1, $2, $3, $4)",
            (*window, TZ),
        ),
        "responses-daily": (
            "bluetick_report_responses_daily",
            "select * from response_times_daily where org_id = $1 and day between $2 and $3 order by day",
            (a, SINCE.date(), TODAY),
        ),
        "unanswered": (
            "bluetick_report_unanswered",
            "select * from bluetick_unanswered($1, $2, interval '0', $3) limit 20",
            (a, SINCE, UNTIL),
        ),
        "kinds": ("bluetick_report_kinds", "select * from bluetick_funnel_by_kind($1, $2, $3)", window),
        "billable": ("bluetick_report_billable", "select * from bluetick_billable($1, $2, $3)", window),
        "spend": ("bluetick_report_spend", "select * from bluetick_spend($1, $2, $3)", window),
        "campaigns": ("bluetick_campaign_funnel", "select * from bluetick_campaign_funnel($1, $2, $3)", window),
        "templates": ("bluetick_report_templates", "select * from bluetick_template_health($1, $2, $3)", window),
    }


async def test_every_number_on_the_page_is_the_named_functions(conn: asyncpg.Connection, report: Fixture):
    found = parse(report.page)
    expected = expected_queries(report.a)
    assert set(found.tables) == set(expected)
    for table_id, (source, sql, args) in expected.items():
        table = found.tables[table_id]
        records = await conn.fetch(sql, *args)
        assert records, table_id  # the fixture gives every chart something to show
        assert table["source"] == source, table_id
        want = [[canon(mask(r[c]) if c == "customer" else r[c]) for c in table["columns"]] for r in records]
        assert table["rows"] == want, table_id
    waiting = await conn.fetchval(
        "select count(*) from bluetick_unanswered($1, $2, interval '0', $3)", report.a, SINCE, UNTIL
    )
    assert found.values[("bluetick_report_unanswered", "waiting")] == str(waiting)


async def test_the_daily_funnel_shows_the_hand_computed_days(report: Fixture):
    table = parse(report.page).tables["funnel-daily"]
    shown = {row[0]: row[1:] for row in table["rows"]}
    columns = table["columns"][1:]
    for day, numbers in (("2024-10-03", A_DAY1), ("2024-10-04", A_DAY2), ("2024-10-05", A_DAY3)):
        by_name = dict(zip(FUNNEL, numbers, strict=True))
        assert shown[day] == [canon(by_name[c]) for c in columns]


async def test_every_chart_names_its_source_and_draws_svg(report: Fixture):
    for name in ("bluetick_report_funnel_daily", "bluetick_report_failures", "bluetick_report_read_heatmap",
                 "bluetick_report_responses_daily", "bluetick_report_unanswered", "bluetick_report_kinds",
                 "bluetick_report_billable", "bluetick_report_spend", "bluetick_campaign_funnel",
                 "bluetick_report_templates"):  # fmt: skip
        assert f"From <code>{name}</code>" in report.page
    assert report.page.count("<svg") == 12  # funnel 2, latency 2, responses 2, and one each
    assert "No data" not in report.page


async def test_the_page_loads_nothing_and_runs_nothing(report: Fixture):
    page = report.page.lower()
    for forbidden in ("<script", "http://", "https://", "<link", "@import", "url(", " src=", "<iframe", "<object"):
        assert forbidden not in page


async def test_an_unknown_org_or_a_quiet_period_shows_no_data(store: PostgresStore, report: Fixture):
    for window in (
        window_of(uuid.uuid4(), 30, None, today=TODAY),
        window_of(report.a, 7, None, today=date(2024, 9, 1)),
    ):
        page = await build_page(store, window)
        assert "No data" in page
        assert "<svg" not in page and "<table" not in page


async def test_hours_left_after_the_refresh_budget_are_counted_on_the_page(
    conn: asyncpg.Connection, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
):
    org = uuid.uuid4()
    sent = datetime(2024, 10, 3, 10, tzinfo=UTC)
    await conn.executemany(
        "insert into message_logs (org_id, bsp_msg_id, to_phone, whatsapp_status, created_at)"
        " values ($1, $2, '+919800000001', jsonb_build_object('sent', $3::text), $4)",
        [(org, f"wamid.p{h}", (sent + timedelta(hours=h)).isoformat(), sent + timedelta(hours=h)) for h in range(3)],
    )
    window = window_of(org, 1, None, today=sent.date())
    monkeypatch.setattr(data, "REFRESH_BUDGET_S", 0.0)  # no time to refresh: the page says what it lacks
    stale = parse(await build_page(store, window))
    assert stale.values[("report_dirty", "hours")] == "3"
    assert "funnel-daily" not in stale.tables
    monkeypatch.undo()
    fresh = await build_page(store, window)
    assert 'id="pending"' not in fresh
    assert parse(fresh).tables["funnel-daily"]["rows"][0][:2] == ["2024-10-03", "3"]


async def test_texts_from_the_database_are_escaped(store: PostgresStore):
    org = uuid.uuid4()
    sent = datetime(2024, 10, 3, 10, tzinfo=UTC)
    await store.apply_batch(
        [Message(org, "wamid.x", to_phone="+919800000001", msg_kind="<script>alert(1)</script>", sent_at=sent)],
        [StatusEvent(org, "wamid.x", "failed", sent, failed_reason='Error 1: <img src=x onerror="y"> - z')],
    )
    page = await build_page(store, window_of(org, 1, None, today=sent.date()))
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x" in page


async def test_the_report_keeps_the_database_types_through_the_store(store: PostgresStore, report: Fixture):
    """Values come back as asyncpg gives them, whichever transport carried their text: a rate keeps its scale, a day
    is a date (the page keys days by it), a time is aware and in UTC, a count is an int."""
    got = await fetch_report(store, window_of(report.a, DAYS, TZ, today=TODAY), now=datetime(2024, 11, 1, tzinfo=UTC))
    day = got[data.FUNNEL_DAILY].rows[0]
    assert type(day["day"]) is date and type(day["outbound"]) is int
    assert all(type(r["delivery_rate_pct"]) is Decimal for r in got[data.FUNNEL_DAILY].rows if r["outbound"])
    assert [r["share_pct"].as_tuple().exponent for r in got[data.FAILURES].rows] == [-2] * len(got[data.FAILURES].rows)
    waiting = got[data.UNANSWERED].rows[0]["received_at"]
    assert isinstance(waiting, datetime) and waiting.utcoffset() == timedelta(0)
    assert type(got[data.BILLABLE].rows[0]["billable"]) is bool


async def test_the_page_through_postgrest_is_the_page_over_asyncpg(supabase_dsn: str):
    """The report is one store operation, so a REST-only Supabase project serves the same page, byte for byte."""
    a = uuid.uuid4()
    await load_messages(supabase_dsn, a, uuid.uuid4())
    await load_pricing(supabase_dsn, a, uuid.uuid4())
    await add_campaigns(supabase_dsn, a)
    window = window_of(a, DAYS, TZ, today=TODAY)
    pg = await PostgresStore.connect(supabase_dsn, pool_size=1, timeout_s=10)
    standin = PostgrestStandIn(supabase_dsn)
    rest = await SupabaseStore.connect(await standin.start(), SERVICE_KEY, timeout_s=10)
    try:
        over_asyncpg = await build_page(pg, window)
        assert "No data" not in over_asyncpg
        assert await build_page(rest, window) == over_asyncpg
    finally:
        await rest.close()
        await standin.close()
        await pg.close()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--org", "not-a-uuid"], "org must be an organisation id"),
        (["--org", str(uuid.UUID(int=1)), "--days", "0"], "days must be from 1 to 366"),
        (["--org", str(uuid.UUID(int=1)), "--days", "367"], "days must be from 1 to 366"),
        (["--org", str(uuid.UUID(int=1)), "--days", "week"], "days must be a whole number"),
        (["--org", str(uuid.UUID(int=1)), "--tz", "Mars/Olympus_Mons"], "tz must be a time zone name"),
    ],
)
def test_report_command_refuses_bad_input_and_writes_nothing(
    args: list[str], reason: str, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("ALLOW_UNSIGNED_WEBHOOKS", "false")
    out = tmp_path / "report.html"
    assert main(["report", *args, "--out", str(out)]) == 2
    assert reason in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_report_command_writes_the_page(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    org = uuid.uuid4()
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    asyncio.run(_log_one(dsn, org, sent))
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("ALLOW_UNSIGNED_WEBHOOKS", "false")
    out = tmp_path / "report.html"
    assert main(["report", "--org", str(org), "--days", "2", "--tz", TZ, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    total = parse(out.read_text()).tables["funnel-total"]
    assert dict(zip(total["columns"], total["rows"][0], strict=True))["delivered"] == "1"


async def _log_one(dsn: str, org: uuid.UUID, sent: datetime) -> None:
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
    try:
        await store.apply_batch(
            [Message(org, "wamid.now", to_phone="+919800000001", msg_kind="TEMPLATE", sent_at=sent)],
            [StatusEvent(org, "wamid.now", "delivered", sent + timedelta(seconds=3))],
        )
    finally:
        await store.close()


async def test_report_route_serves_the_page_behind_the_api_token(dsn: str):
    org = uuid.uuid4()
    await _log_one(dsn, org, datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10))
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await start_client(make_settings(dsn, open_api=False, api_token="s3cret"), store)
    try:
        url = f"/v1/orgs/{org}/report"
        assert (await client.get(url)).status == 401
        assert (await client.get(url, headers={"Authorization": "Bearer wrong"})).status == 401
        auth = {"Authorization": "Bearer s3cret"}
        resp = await client.get(url, params={"days": "2", "tz": TZ}, headers=auth)
        assert resp.status == 200 and resp.content_type == "text/html"
        total = parse(await resp.text()).tables["funnel-total"]
        assert dict(zip(total["columns"], total["rows"][0], strict=True))["outbound"] == "1"
        quiet = await client.get(f"/v1/orgs/{uuid.uuid4()}/report", headers=auth)
        assert quiet.status == 200 and "No data" in await quiet.text()
    finally:
        await client.close()
        await store.close()


@pytest.mark.parametrize(
    ("path", "query", "status", "reason"),
    [
        ("/v1/orgs/not-a-uuid/report", {}, 404, "unknown organisation"),
        (f"/v1/orgs/{uuid.UUID(int=1)}/report", {"days": "0"}, 400, "days must be from 1 to 366"),
        (f"/v1/orgs/{uuid.UUID(int=1)}/report", {"days": "400"}, 400, "days must be from 1 to 366"),
        (f"/v1/orgs/{uuid.UUID(int=1)}/report", {"days": "x"}, 400, "days must be a whole number"),
        (f"/v1/orgs/{uuid.UUID(int=1)}/report", {"tz": "Nowhere/Else"}, 400, "tz must be a time zone name"),
    ],
)
async def test_report_route_refuses_bad_input_with_the_reason(
    dsn: str, path: str, query: dict[str, str], status: int, reason: str
):
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await start_client(make_settings(dsn), store)
    try:
        resp = await client.get(path, params=query)
        assert resp.status == status
        assert reason in (await resp.json())["error"]
    finally:
        await client.close()
        await store.close()


def test_headless_chromium_renders_the_page_offline(report: Fixture, tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed: `apt-get install chromium` (.ci/run does it as root)")
    # A control page first: it must trip both detectors, or their silence on the report proves nothing.
    control = render_in_chromium(
        '<!doctype html><img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script>', tmp_path / "c"
    )
    assert control.console and control.requests == {"http://127.0.0.1:9/x.png"}
    rendered = render_in_chromium(report.page, tmp_path / "r")
    assert rendered.screenshot_bytes > 20_000
    assert rendered.console == []
    assert rendered.requests == set()


@dataclass(frozen=True)
class Rendered:
    screenshot_bytes: int
    console: list[str]  # the page's console messages (errors included)
    requests: set[str]  # URLs the page asked for beyond file:, data: (Chromium's own traffic left out)


def render_in_chromium(html: str, work: Path) -> Rendered:
    work.mkdir()
    page, shot, netlog = work / "page.html", work / "page.png", work / "net.json"
    page.write_text(html)
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--enable-logging=stderr", "--v=0", f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}",
         f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = {
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start_job
        and str(e["params"].get("network_isolation_key", "")).startswith("file://")  # the page's, not Chromium's
        and not e["params"]["url"].startswith(("file:", "data:"))
    }
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Rendered(shot.stat().st_size if shot.exists() else 0, console, requests)
