"""A hostile run (issue 22): every sample body with each of its fields replaced by each hostile value, over HTTP to
the service in durable mode on real Postgres. Bounded (a few thousand requests, all to 127.0.0.1).

What must hold: no 500, no 503 (the database is up, so every refusal is a 4xx); a webhook is always 200, its bad
items skipped and the body kept (a BSP cannot fix a field, so a 4xx would only lose the good items beside it); every
status the service acknowledged is stored (merged or parked) or its body kept in the inbox; and no customer phone
nor secret in the log.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick import payloads
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, start_client
from tests.twilio_callbacks import callback

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
TOKEN = "tok-hostile-3f9a7c1e5b"
FORM = "application/x-www-form-urlencoded"
DEEP: Any = "x"
for _ in range(100):
    DEEP = {"a": DEEP}
HOSTILE: list[Any] = [
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\x01\x7f",
    "x" * 20_000,
    "9999999999",
    253_402_300_800,  # year 10000
    -1,
    "172795",
    "+919800011111\u0001",
    DEEP,
    [1, [2, [3]]],
    None,
]
ALLOWED = {200, 400, 401, 404, 413, 422}
API_SAMPLE = {
    "bsp_msg_id": "wamid.HOSTILE1",
    "to_phone": "+919812345678",
    "msg_kind": "AI_REPLY_FREEFORM",
    "body": "Your order has shipped",
    "sent_at": 1727951400,
    "metadata": {"agent": "a1", "tags": ["x"]},
}


def samples() -> list[tuple[str, Any]]:
    found = [(p.name, json.loads(p.read_text())) for p in sorted(PAYLOADS.rglob("*.json"))]
    return [*found, ("api", API_SAMPLE), ("twilio", callback("delivered"))]


def leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every scalar in `doc`."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from leaves(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from leaves(value, (*path, i))
    else:
        yield path


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = replaced(doc[path[0]], path[1:], value)
    return copy


def mutations() -> Iterator[tuple[str, Any]]:
    for name, doc in samples():
        for path in leaves(doc):
            for value in HOSTILE:
                if name == "twilio" and not isinstance(value, str | int):
                    continue
                yield name, replaced(doc, path, value)


def phones_of_samples() -> set[str]:
    """The customers' numbers the samples hold (digits), which must never reach the log whole."""
    found = set()
    for _, doc in samples():
        found |= set(re.findall(r"(?<![0-9])[1-9][0-9]{9,13}(?![0-9])", json.dumps(doc)))
    timestamps = {d for d in found if d.startswith(("17", "16"))}  # unix times of 2020-2026, not phones
    return found - timestamps


async def stored(db: asyncpg.Connection, org: uuid.UUID, bsp_msg_id: str, status: str) -> bool:
    return bool(
        await db.fetchval(
            "select exists (select 1 from message_logs where org_id = $1 and bsp_msg_id = $2"
            "   and whatsapp_status ? $3)"
            " or exists (select 1 from message_status_parked where org_id = $1 and bsp_msg_id = $2 and status = $3)"
            " or exists (select 1 from webhook_inbox where org_id = $1)",
            org,
            bsp_msg_id,
            status,
        )
    )


async def post(client: TestClient, name: str, doc: Any, org: uuid.UUID) -> tuple[int, bytes, str]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if name == "api":
        body = json.dumps(doc).encode()
        resp = await client.post(
            f"/v1/orgs/{org}/messages", data=body, headers={**auth, "Content-Type": "application/json"}
        )
    elif name == "twilio":
        body = urlencode({k: str(v).encode("utf-8", "surrogatepass") for k, v in doc.items()}).encode()
        resp = await client.post(f"/webhooks/{org}", data=body, headers={"Content-Type": FORM})
    else:
        body = json.dumps(doc).encode()
        resp = await client.post(f"/webhooks/{org}", data=body, headers={"Content-Type": "application/json"})
    return resp.status, body, await resp.text()


@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_a_hostile_run_of_every_sample_field_gets_no_500_loses_nothing_and_leaks_nothing(
    dsn: str, pg: asyncpg.Connection, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    store = await PostgresStore.connect(dsn, pool_size=4, timeout_s=10)
    client = await start_client(make_settings(dsn, api_token=TOKEN, open_api=False), store)
    answers: dict[int, int] = {}
    orgs: list[uuid.UUID] = []
    lost: list[str] = []
    bad: list[str] = []
    try:
        for name, doc in mutations():
            org = uuid.uuid4()
            orgs.append(org)
            status, body, text = await post(client, name, doc, org)
            answers[status] = answers.get(status, 0) + 1
            if status not in ALLOWED or (name != "api" and status != 200):
                bad.append(f"{status} {name}: {body[:200]!r} -> {text[:200]}")
                continue
            if status != 200 or name == "api":
                continue
            if name == "twilio":
                continue  # a form's events are checked by the Twilio tests; here its answers and the log count
            parsed = payloads.parse(org, json.loads(body))
            for event in parsed.statuses:
                if not await stored(pg, org, event.bsp_msg_id, event.status):
                    lost.append(f"{name}: {event.bsp_msg_id} {event.status}")
    finally:
        await client.close()
        await store.close()

    assert sum(answers.values()) > 1_000, answers
    assert not bad, f"{len(bad)} answers outside {sorted(ALLOWED)}; first: {bad[:5]}"
    assert not lost, f"{len(lost)} acknowledged statuses not stored; first: {lost[:5]}"
    log = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    leaked = sorted(p for p in phones_of_samples() if p in log)
    assert not leaked, f"phones in the log: {leaked[:5]}"
    assert TOKEN not in log
    future = await pg.fetchval(
        "select count(*) from message_logs m where m.org_id = any($1) and (m.created_at > now() + interval '1 day'"
        " or exists (select 1 from jsonb_each_text(m.whatsapp_status) s"
        "            where s.value ~ '^[0-9]{4}-' and s.value::timestamptz > now() + interval '1 day'))",
        orgs,
    )
    assert future == 0, "a time in the future escapes retention (issue 22, item 2)"
