"""The reads of a REST-only Supabase deployment (SUPABASE_URL and the service role key, no DATABASE_URL): the report
page (route and command), `stats` and the campaign recipients CSV give what they give over a database connection,
every number equal, through the PostgREST stand-in (tests/supabase_emulation.py) and its RPC request shapes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bluetick.events import Message, StatusEvent
from bluetick.report import build_page, window_of
from bluetick.store.postgres import PostgresStore
from main import main
from tests.conftest import Backend
from tests.integration.test_campaign_analytics import DIWALI, HEADER, parse_csv
from tests.integration.test_campaign_analytics import load as load_campaigns
from tests.integration.test_report import TZ, parse
from tests.supabase_emulation import SERVICE_KEY, emulate, standin_in_thread


@pytest.fixture
def rest_only(supabase_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The configuration of a REST-only deployment on the Supabase-like database; yields its DSN, for the
    comparison over a connection."""
    with standin_in_thread(supabase_dsn) as url:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("SUPABASE_URL", url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
        yield supabase_dsn


def over_a_connection(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    monkeypatch.delenv("SUPABASE_URL")
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY")
    monkeypatch.setenv("DATABASE_URL", dsn)


async def log_today(dsn: str, org: uuid.UUID) -> None:
    """A few of `org`'s messages of today and yesterday (UTC), of two kinds, some delivered, read or failed."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
    try:
        messages, statuses = [], []
        for n in range(6):
            sent = now - timedelta(days=n % 2, seconds=n)
            kind = "TEMPLATE" if n % 3 else "AI_REPLY_FREEFORM"
            messages.append(Message(org, f"wamid.r{n}", to_phone=f"+9198000000{n:02d}", msg_kind=kind, sent_at=sent))
            if n != 5:
                statuses.append(StatusEvent(org, f"wamid.r{n}", "delivered", sent + timedelta(seconds=2 + n)))
            if n % 2 == 0:
                statuses.append(StatusEvent(org, f"wamid.r{n}", "read", sent + timedelta(seconds=30 * (n + 1))))
        statuses.append(StatusEvent(org, "wamid.r5", "failed", now, failed_reason="131026: Undeliverable"))
        await store.apply_batch(messages, statuses)
    finally:
        await store.close()


def test_stats_on_the_rest_backend_alone_prints_what_a_connection_prints(
    rest_only: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    org = uuid.uuid4()
    asyncio.run(log_today(rest_only, org))
    printed = {}
    for by in ("day", "kind"):
        assert main(["stats", "--org", str(org), "--days", "2", "--by", by]) == 0
        printed[by] = capsys.readouterr().out
    assert "\ntotal " in printed["day"] and "TEMPLATE" in printed["kind"]
    assert main(["stats", "--org", str(uuid.uuid4())]) == 0
    assert "no outbound messages" in capsys.readouterr().out

    over_a_connection(monkeypatch, rest_only)
    for by in ("day", "kind"):
        assert main(["stats", "--org", str(org), "--days", "2", "--by", by]) == 0
        assert capsys.readouterr().out == printed[by]


def test_stats_on_a_project_without_bluetick_sql_says_what_to_run(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    empty = asyncio.run(emulate(dsn, f"empty_{uuid.uuid4().hex[:8]}"))
    with standin_in_thread(empty) as url:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setenv("SUPABASE_URL", url)
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
        assert main(["stats", "--org", str(uuid.uuid4())]) == 1
    assert "supabase db push" in capsys.readouterr().err


def test_the_report_command_on_the_rest_backend_alone_writes_the_same_numbers(
    rest_only: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    org = uuid.uuid4()
    asyncio.run(log_today(rest_only, org))
    pages = []
    for out in (tmp_path / "rest.html", tmp_path / "connection.html"):
        if out.name == "connection.html":
            over_a_connection(monkeypatch, rest_only)
        assert main(["report", "--org", str(org), "--days", "2", "--tz", TZ, "--out", str(out)]) == 0
        assert capsys.readouterr().out.strip() == str(out)
        pages.append(parse(out.read_text()))
    rest, connection = pages
    total = rest.tables["funnel-total"]
    assert dict(zip(total["columns"], total["rows"][0], strict=True))["outbound"] == "6"
    # the unanswered table counts seconds waiting up to now: every other number is the same
    assert {k: v for k, v in rest.tables.items() if k != "unanswered"} == {
        k: v for k, v in connection.tables.items() if k != "unanswered"
    }


async def test_the_report_route_serves_the_same_numbers_on_every_backend(http: TestClient, backend: Backend):
    org = uuid.uuid4()
    await log_today(backend.db_dsn, org)
    response = await http.get(f"/v1/orgs/{org}/report", params={"days": "2", "tz": TZ})
    assert response.status == 200, await response.text()
    served = parse(await response.text())
    # the same window read over asyncpg from the database this backend writes to
    store = await PostgresStore.connect(backend.db_dsn, pool_size=1, timeout_s=10)
    try:
        direct = parse(await build_page(store, window_of(org, "2", TZ)))
    finally:
        await store.close()
    total = served.tables["funnel-total"]
    assert dict(zip(total["columns"], total["rows"][0], strict=True))["outbound"] == "6"
    assert {k: v for k, v in served.tables.items() if k != "unanswered"} == {
        k: v for k, v in direct.tables.items() if k != "unanswered"
    }


def test_the_campaign_csv_command_on_the_rest_backend_alone_writes_the_same_bytes(
    rest_only: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    a, b = uuid.uuid4(), uuid.uuid4()
    asyncio.run(load_campaigns(rest_only, a, b))
    argv = ["campaign-recipients", "--org", str(a), "--campaign", DIWALI, "--page-size", "3"]
    assert main([*argv, "--out", str(tmp_path / "rest.csv")]) == 0
    assert main(argv) == 0
    assert main(["campaign-recipients", "--org", str(b), "--campaign", "nope"]) == 0
    rest_out = capsys.readouterr().out
    rest = (tmp_path / "rest.csv").read_bytes().decode()
    assert rest.startswith(HEADER + "\r\n") and len(parse_csv(rest)) == 10
    assert rest_out == f"{tmp_path / 'rest.csv'}\n{rest}{HEADER}\r\n"

    over_a_connection(monkeypatch, rest_only)
    assert main([*argv, "--out", str(tmp_path / "connection.csv")]) == 0
    capsys.readouterr()
    assert (tmp_path / "connection.csv").read_bytes().decode() == rest
