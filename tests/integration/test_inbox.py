"""The webhook inbox: every body not turned completely into events is kept, byte for byte, and can be replayed."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from bluetick import inbox, payloads
from bluetick.events import StatusEvent
from bluetick.inbox import KeptBody
from bluetick.payloads.common import Parsed, event_time, identifier
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, make_settings, payload, start_client
from tests.integration.test_process import ROOT, Server, free_port

JSON = {"Content-Type": "application/json"}
SENT_AT = 1727951400
# A shape no parser reads, with spacing and escapes that a re-serialised copy would lose.
UNKNOWN = (
    b'{"kind":  "custom.status", "message_id": "wamid.R1",\n "status": "delivered", "at": 1727951460, "x": "\\u00e9"}'
)


def meta_with_one_bad_status(org_msg: str) -> bytes:
    doc = payload("meta_status_delivered.json")
    value = doc["entry"][0]["changes"][0]["value"]
    good = value["statuses"][0]
    value["statuses"] = [
        {**good, "id": f"{org_msg}.1"},
        {**good, "id": f"{org_msg}.2", "timestamp": "not a time"},
        {**good, "id": f"{org_msg}.3"},
    ]
    return json.dumps(doc, indent=1).encode()


async def kept_rows(db: asyncpg.Connection, org: uuid.UUID) -> list[asyncpg.Record]:
    return list(await db.fetch("select * from webhook_inbox where org_id = $1 order by id", org))


def kept_total(fmt: str, reason: str) -> float:
    return REGISTRY.get_sample_value("bluetick_inbox_kept_total", {"format": fmt, "reason": reason}) or 0.0


async def log_outbound(http: TestClient, org: uuid.UUID, bsp_msg_id: str) -> None:
    doc = {"bsp_msg_id": bsp_msg_id, "to_phone": "+919876543210", "sent_at": SENT_AT}
    resp = await http.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 200, await resp.text()


async def test_unknown_json_shape_is_answered_200_after_its_raw_body_is_kept(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    before = kept_total("unknown", "unknown")
    resp = await http.post(f"/webhooks/{org}", data=UNKNOWN, headers=JSON)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer == {
        "stored": True,
        "queued": False,
        "kept": True,
        "format": "unknown",
        "statuses": 0,
        "messages": 0,
        "facts": 0,
        "skipped": [],
        "skipped_count": 0,
    }
    [row] = await kept_rows(db, org)
    assert bytes(row["body"]) == UNKNOWN
    assert (row["format"], row["reason"], row["content_type"]) == ("unknown", "unknown", "application/json")
    assert row["replayed_at"] is None
    assert kept_total("unknown", "unknown") == before + 1


async def test_a_form_body_of_no_known_bsp_is_answered_200_and_kept(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    form = b"Foo=bar&Baz=%F0%9F%91%8D"
    resp = await http.post(f"/webhooks/{org}", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["kept"] is True
    [row] = await kept_rows(db, org)
    assert bytes(row["body"]) == form
    assert (row["format"], row["content_type"]) == ("unknown", "application/x-www-form-urlencoded")


async def test_a_bad_item_keeps_the_body_and_its_siblings_are_stored(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    body = meta_with_one_bad_status("wamid.S")
    resp = await http.post(f"/webhooks/{org}", data=body, headers=JSON)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["stored"] is True and answer["kept"] is True and answer["statuses"] == 2
    assert len(answer["skipped"]) == 1
    [row] = await kept_rows(db, org)
    assert bytes(row["body"]) == body
    assert (row["format"], row["reason"]) == ("meta", "skipped")
    assert "timestamp" in row["detail"]
    parked = await db.fetch("select bsp_msg_id from message_status_parked where org_id = $1 order by 1", org)
    assert [r["bsp_msg_id"] for r in parked] == ["wamid.S.1", "wamid.S.3"]


async def test_an_unread_aisensy_topic_is_kept_with_what_was_read(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    doc = payload("aisensy_status_read.json")
    doc["topic"] = "contact.created"
    body = json.dumps(doc).encode()
    resp = await http.post(f"/webhooks/{org}", data=body, headers=JSON)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["kept"] is True
    [row] = await kept_rows(db, org)
    assert (bytes(row["body"]), row["format"], row["reason"]) == (body, "aisensy", "unread")
    assert row["detail"] == "topic contact.created"


async def test_a_complete_body_is_not_kept(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    resp = await http.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))
    assert resp.status == 200
    assert (await resp.json())["kept"] is False
    assert await kept_rows(db, org) == []


async def test_the_same_body_posted_twice_is_kept_once(http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    for _ in range(2):
        resp = await http.post(f"/webhooks/{org}", data=UNKNOWN, headers=JSON)
        assert resp.status == 200
    assert len(await kept_rows(db, org)) == 1


async def test_a_request_split_into_parts_keeps_its_body_once(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    doc = payload("meta_status_delivered.json")
    value = doc["entry"][0]["changes"][0]["value"]
    good = value["statuses"][0]
    value["statuses"] = [{**good, "id": f"wamid.P{n}"} for n in range(25)] + [{**good, "id": None}]
    body = json.dumps(doc).encode()
    client = await start_client(make_settings(dsn, batch_max=10), store)
    try:
        resp = await client.post(f"/webhooks/{org}", data=body, headers=JSON)
        assert resp.status == 200, await resp.text()
    finally:
        await client.close()
    assert [bytes(r["body"]) for r in await kept_rows(db, org)] == [body]
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 25


async def test_immediate_mode_queues_the_kept_body_and_writes_it(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, ack_mode="immediate"), store)
    try:
        resp = await client.post(f"/webhooks/{org}", data=UNKNOWN, headers=JSON)
        assert resp.status == 200
        assert (await resp.json())["queued"] is True
    finally:
        await client.close()  # drains the queue
    assert [bytes(r["body"]) for r in await kept_rows(db, org)] == [UNKNOWN]


async def test_kept_bodies_acknowledged_in_durable_mode_survive_kill_9(dsn: str, tmp_path: Path):
    org = uuid.uuid4()
    server = Server(dsn, free_port(), tmp_path / "server.log", ACK_MODE="durable")
    server.start()
    acked: set[bytes] = set()
    try:
        await server.wait_ready()
        assert server.proc is not None
        proc = server.proc
        counter = iter(range(10_000))
        answered = asyncio.Event()

        async def worker(session: aiohttp.ClientSession) -> None:
            while (n := next(counter, None)) is not None:
                body = b'{"unknown": %d,  "shape": true}' % n
                try:
                    async with session.post(f"{server.url}/webhooks/{org}", data=body, headers=JSON) as resp:
                        if resp.status == 200:
                            acked.add(body)
                            if len(acked) >= 20:
                                answered.set()
                except aiohttp.ClientError:
                    return

        async def kill_soon() -> None:
            # after the first answers (a loaded machine can take longer than the random delay to give one), then at
            # a random moment of the load
            async with asyncio.timeout(30):
                await answered.wait()
            await asyncio.sleep(random.uniform(0.1, 0.7))
            proc.send_signal(signal.SIGKILL)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await asyncio.gather(kill_soon(), *(worker(session) for _ in range(8)))
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        server.stop()
    assert acked, "the load never got an answer"
    conn = await asyncpg.connect(dsn)
    try:
        kept = {bytes(r["body"]) for r in await conn.fetch("select body from webhook_inbox where org_id = $1", org)}
    finally:
        await conn.close()
    assert acked <= kept


def custom_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teach `payloads.parse` the custom shape of UNKNOWN, as a new format module would."""
    real = payloads.parse

    def parse(org_id: uuid.UUID, doc: Any, received_at: datetime | None = None) -> Parsed:
        if isinstance(doc, dict) and doc.get("kind") == "custom.status":
            status = StatusEvent(org_id, identifier(doc["message_id"]), doc["status"], event_time(doc["at"]))
            return Parsed(format="custom", statuses=[status])
        return real(org_id, doc, received_at)

    monkeypatch.setattr(payloads, "parse", parse)


async def test_replay_applies_what_todays_parser_reads_and_a_second_replay_changes_nothing(
    http: TestClient, store: Store, db: asyncpg.Connection, org: uuid.UUID, monkeypatch: pytest.MonkeyPatch
):
    await log_outbound(http, org, "wamid.R1")
    assert (await http.post(f"/webhooks/{org}", data=UNKNOWN, headers=JSON)).status == 200

    unchanged = await inbox.replay(store, org, None)  # the parser still refuses it: it stays kept
    assert (unchanged.bodies, unchanged.replayed, unchanged.still_kept) == (1, 0, 1)
    assert (await fetch_row(db, org, "wamid.R1"))["status"] == "SENT"

    custom_parser(monkeypatch)
    first = await inbox.replay(store, org, None)
    assert (first.bodies, first.replayed, first.statuses, first.formats) == (1, 1, 1, {"custom": 1})
    row = await fetch_row(db, org, "wamid.R1")
    assert row["status"] == "DELIVERED"
    assert row["whatsapp_status"]["delivered"] == "2024-10-03T10:31:00Z"
    [kept] = await kept_rows(db, org)
    assert kept["replayed_at"] is not None and kept["format"] == "custom" and kept["reason"] == "unknown"

    second = await inbox.replay(store, org, None)
    assert (second.bodies, second.replayed, second.statuses) == (0, 0, 0)
    assert await fetch_row(db, org, "wamid.R1") == row
    assert await kept_rows(db, org) == [kept]


async def test_kept_bodies_older_than_the_ttl_are_purged(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    now = datetime.now(UTC)
    old = KeptBody(org, now - timedelta(days=31), "application/json", "unknown", "unknown", None, b'{"old": 1}')
    new = KeptBody(org, now - timedelta(days=29), "application/json", "unknown", "unknown", None, b'{"new": 1}')
    result = await store.apply_batch([], [], [old, new])
    assert result.kept == 2
    assert await store.purge_inbox(timedelta(days=30)) >= 1
    assert [bytes(r["body"]) for r in await kept_rows(db, org)] == [b'{"new": 1}']


async def test_the_periodic_purge_removes_kept_bodies_past_inbox_ttl_and_counts_them(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    before = REGISTRY.get_sample_value("bluetick_purged_total", {"table": "inbox"}) or 0.0
    settings = make_settings(dsn, inbox_ttl=timedelta(seconds=1), purge_interval=timedelta(milliseconds=100))
    client = await start_client(settings, store)
    try:
        assert (await client.post(f"/webhooks/{org}", data=UNKNOWN, headers=JSON)).status == 200
        for _ in range(400):  # a bound on waiting on a loaded machine, not a timing assertion
            if not await kept_rows(db, org):
                break
            await asyncio.sleep(0.05)
        assert await kept_rows(db, org) == []
        assert (REGISTRY.get_sample_value("bluetick_purged_total", {"table": "inbox"}) or 0.0) >= before + 1
    finally:
        await client.close()


async def run_cli(dsn: str, *args: str) -> list[str]:
    env = {**os.environ, "DATABASE_URL": dsn, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode().splitlines()


async def test_the_inbox_command_lists_by_format_and_reason_and_replay_reads_form_bodies(
    dsn: str, pg: asyncpg.Connection, org: uuid.UUID
):
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
    now = datetime.now(UTC)
    form = "application/x-www-form-urlencoded"
    await store.apply_batch(
        [],
        [],
        [
            KeptBody(org, now - timedelta(hours=2), "application/json", "unknown", "unknown", None, b'{"a": 1}'),
            KeptBody(org, now - timedelta(hours=1), "application/json", "unknown", "unknown", None, b'{"b": 2}'),
            KeptBody(org, now - timedelta(days=9), form, "unknown", "unknown", None, b"MessageSid=SM1"),
            KeptBody(org, now, "application/json", "meta", "skipped", "statuses[0]: id is missing", b"{}"),
        ],
    )
    await store.close()

    listing = await run_cli(dsn, "inbox", "--org", str(org), "--since", "7d")
    assert listing[0].split() == ["format", "reason", "kept", "replayed", "oldest", "newest"]
    assert [line.split()[:4] for line in listing[1:]] == [
        ["meta", "skipped", "1", "0"],
        ["unknown", "unknown", "2", "0"],
    ]

    replayed = await run_cli(dsn, "inbox", "replay", "--org", str(org))
    assert "bodies read again: 4" in replayed
    assert "form bodies among them: 1" in replayed
    assert "still kept: 4" in replayed  # the form is of no known BSP: still unknown
    assert await pg.fetchval("select count(*) from webhook_inbox where org_id = $1 and replayed_at is null", org) == 4
