"""Bad input over HTTP, against the real service: each is answered with a clear 4xx (or a 2xx ack), never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, make_settings, start_client

GOOD_ID = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQkFESU5QVVRHT09EMDEA"
SENT_AT = 1727951400  # 2024-10-03T10:30:00Z


def envelope(
    statuses: list[dict[str, Any]] | None = None, messages: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp"}
    if statuses is not None:
        value["statuses"] = statuses
    if messages is not None:
        value["messages"] = messages
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def status(msg_id: str | None, stage: str, ts: Any = str(SENT_AT + 5)) -> dict[str, Any]:
    item = {"status": stage, "timestamp": ts, "recipient_id": "919876543210"}
    if msg_id is not None:
        item["id"] = msg_id
    return item


def webhooks_total(fmt: str, result: str) -> float:
    value = REGISTRY.get_sample_value("bluetick_webhooks_total", {"format": fmt, "result": result})
    return value or 0.0


async def stored_count(db: asyncpg.Connection, org: uuid.UUID) -> int:
    logged = await db.fetchval("select count(*) from message_logs where org_id = $1", org)
    parked = await db.fetchval("select count(*) from message_status_parked where org_id = $1", org)
    return int(logged) + int(parked)


async def log_outbound(http: TestClient, org: uuid.UUID, bsp_msg_id: str, **extra: Any) -> dict[str, Any]:
    doc = {"bsp_msg_id": bsp_msg_id, "to_phone": "+919876543210", "msg_kind": "TEMPLATE", "sent_at": SENT_AT}
    resp = await http.post(f"/v1/orgs/{org}/messages", json=doc | extra)
    assert resp.status == 200, await resp.text()
    row: dict[str, Any] = await resp.json()
    return row


async def post_webhook(http: TestClient, org: uuid.UUID, doc: Any) -> dict[str, Any]:
    resp = await http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


@pytest.fixture
async def small_http(dsn: str, store: PostgresStore) -> AsyncIterator[TestClient]:
    """The service with MAX_BODY_BYTES=1024."""
    client = await start_client(make_settings(dsn, max_body_bytes=1024), store)
    yield client
    await client.close()


@pytest.fixture
async def verifying_http(dsn: str, store: PostgresStore) -> AsyncIterator[TestClient]:
    """The service with WEBHOOK_VERIFY_TOKEN=s3cret."""
    client = await start_client(make_settings(dsn, webhook_verify_token="s3cret"), store)
    yield client
    await client.close()


# Bodies that are not JSON


@pytest.mark.parametrize(
    "body",
    [b'{"statuses": [', b"{'statuses': []}", b"statuses=1", b"", b'{"statuses": ["\xff\xfe"]}', b"\xc3\x28"],
    ids=["truncated", "single-quotes", "form-encoded", "empty", "invalid-utf8-in-string", "invalid-utf8"],
)
async def test_webhook_body_that_is_not_json_is_400_with_error(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, body: bytes
):
    resp = await http.post(f"/webhooks/{org}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "error" in await resp.json()
    assert await stored_count(db, org) == 0


async def test_logging_body_that_is_not_json_is_400(http: TestClient, org: uuid.UUID):
    resp = await http.post(f"/v1/orgs/{org}/messages", data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "error" in await resp.json()


# Valid JSON of an unknown shape


@pytest.mark.parametrize(
    "body",
    [b'{"hello": 1}', b"[1, 2, 3]", b"42", b"null", b'"statuses"', b"{}", b'{"statuses": "nope"}'],
    ids=["object", "list", "number", "null", "string", "empty-object", "statuses-not-a-list"],
)
async def test_unknown_json_shape_is_acknowledged_counted_and_kept_in_the_inbox(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, body: bytes
):
    before = webhooks_total("unknown", "stored")
    resp = await http.post(f"/webhooks/{org}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["stored"] is True and answer["kept"] is True and answer["format"] == "unknown"
    assert webhooks_total("unknown", "stored") == before + 1
    assert await stored_count(db, org) == 0
    assert await db.fetchval("select body from webhook_inbox where org_id = $1", org) == body


@pytest.mark.parametrize("entry", ["x", {"changes": []}, 5])
async def test_meta_envelope_whose_entry_is_not_a_list_is_acknowledged_and_kept(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, entry: Any
):
    resp = await http.post(f"/webhooks/{org}", json={"object": "whatsapp_business_account", "entry": entry})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["kept"] is True
    assert await stored_count(db, org) == 0
    assert await db.fetchval("select reason from webhook_inbox where org_id = $1", org) == "skipped"


# Bad items beside good ones


async def test_bad_statuses_are_skipped_and_named_while_good_one_is_stored(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(http, org, GOOD_ID)
    doc = envelope(
        statuses=[
            status(None, "read"),
            status(GOOD_ID, "read", "not a time"),
            status(GOOD_ID, "delivered"),
        ]
    )
    body = await post_webhook(http, org, doc)
    assert body["stored"] is True and body["statuses"] == 1
    skipped = body["skipped"]
    assert len(skipped) == 2
    assert skipped[0].startswith("entry[0].changes[0].value.statuses[0]: ") and "id" in skipped[0]
    assert skipped[1].startswith("entry[0].changes[0].value.statuses[1]: ") and "timestamp" in skipped[1]
    row = await fetch_row(db, org, GOOD_ID)
    assert row is not None
    assert row["status"] == "DELIVERED"
    assert row["whatsapp_status"] == {"sent": "2024-10-03T10:30:00Z", "delivered": "2024-10-03T10:30:05Z"}


@pytest.mark.parametrize("bad_id", ["wamid.AB\x00CD", "w" * 10_000], ids=["nul", "10k-chars"])
async def test_status_with_unusable_id_is_skipped_as_bad_item(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, bad_id: str
):
    await log_outbound(http, org, GOOD_ID)
    body = await post_webhook(http, org, envelope(statuses=[status(bad_id, "read"), status(GOOD_ID, "delivered")]))
    assert body["statuses"] == 1
    assert len(body["skipped"]) == 1
    assert body["skipped"][0].startswith("entry[0].changes[0].value.statuses[0]: ")
    assert len(body["skipped"][0]) < 200
    row = await fetch_row(db, org, GOOD_ID)
    assert row is not None and row["status"] == "DELIVERED"
    parked = await db.fetchval("select count(*) from message_status_parked where org_id = $1", org)
    assert parked == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"statuses": [{"id": "wamid.T", "status": "read", "timestamp": 1' + b"0" * 400 + b"}]}",
        b'{"statuses": [{"id": "wamid.T", "status": "read", "timestamp": "0001-01-01T00:00:00+05:30"}]}',
    ],
    ids=["huge-int", "iso-before-year-1-in-utc"],
)
async def test_status_with_out_of_range_time_is_skipped_as_bad_item(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, body: bytes
):
    resp = await http.post(f"/webhooks/{org}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["statuses"] == 0 and len(answer["skipped"]) == 1
    assert await stored_count(db, org) == 0


@pytest.mark.parametrize(
    "bad_item",
    [
        b'{"from": "919876543210", "id": "wamid.IN.BAD", "timestamp": "1727951400", "type": "te\\u0000xt"}',
        b'{"from": "919876543210", "id": "wamid.IN.BAD", "timestamp": "1727951400", "type": "text",'
        b' "text": {"body": "a\\ud800b"}}',
        b'{"from": "919876543210", "id": "wamid.IN.\\udc00", "timestamp": "1727951400", "type": "text"}',
    ],
    ids=["nul-in-type", "lone-surrogate-in-body", "lone-surrogate-in-id"],
)
async def test_unstorable_text_in_one_item_does_not_lose_the_others(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, bad_item: bytes
):
    good = b'{"from": "919876543210", "id": "wamid.IN.OK", "timestamp": "1727951400", "type": "text"}'
    body = b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": [%s, %s]}}]}]}' % (bad_item, good)
    resp = await http.post(f"/webhooks/{org}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    assert await fetch_row(db, org, "wamid.IN.OK") is not None


# Oversized bodies


async def test_body_over_max_with_content_length_is_413(small_http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    doc = envelope(statuses=[status(f"wamid.{i:04d}", "read") for i in range(40)])
    resp = await small_http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 413
    assert "error" in await resp.json()
    assert await stored_count(db, org) == 0


async def test_chunked_body_over_max_is_413(small_http: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"statuses": ['
        for i in range(40):
            yield b'{"id": "wamid.%04d", "status": "read", "timestamp": "1727951405"},' % i
        yield b'{"id": "wamid.last", "status": "read", "timestamp": "1727951405"}]}'

    resp = await small_http.post(f"/webhooks/{org}", data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert "error" in await resp.json()
    assert await stored_count(db, org) == 0


async def test_logging_body_over_max_is_413(small_http: TestClient, org: uuid.UUID):
    doc = {"bsp_msg_id": "wamid.BIG", "to_phone": "+919876543210", "body": "x" * 2048}
    resp = await small_http.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 413


async def test_body_under_max_is_accepted_by_small_service(small_http: TestClient, org: uuid.UUID):
    resp = await small_http.post(f"/webhooks/{org}", json={"hello": 1})
    assert resp.status == 200


# Organisation ids that are not UUIDs


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhooks/not-a-uuid"),
        ("POST", "/v1/orgs/not-a-uuid/messages"),
        ("GET", "/webhooks/not-a-uuid"),
        ("POST", "/webhooks/12345"),
        ("POST", "/webhooks/%00"),
    ],
)
async def test_non_uuid_org_is_404(http: TestClient, method: str, path: str):
    resp = await http.request(method, path, json={"bsp_msg_id": "wamid.X", "to_phone": "+919876543210"})
    assert resp.status == 404
    assert "error" in await resp.json()


# The logging API's validation


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"to_phone": "+919876543210"}, "bsp_msg_id"),
        ({"bsp_msg_id": "   ", "to_phone": "+919876543210"}, "bsp_msg_id"),
        ({"bsp_msg_id": "wamid.X"}, "to_phone"),
        ({"bsp_msg_id": "wamid.X", "direction": "OUTBOUND", "from_phone": "+919876543210"}, "to_phone"),
        ({"bsp_msg_id": "wamid.X", "direction": "INBOUND", "to_phone": "+919876543210"}, "from_phone"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "not a phone"}, "to_phone"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "123"}, "to_phone"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "direction": "SIDEWAYS"}, "direction"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "metadata": ["a"]}, "metadata"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "metadata": "a=1"}, "metadata"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "msg_kind": ""}, "msg_kind"),
        ({"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "body": 5}, "body"),
        ({"bsp_msg_id": "wamid.X\x00", "to_phone": "+919876543210"}, "bsp_msg_id"),
        pytest.param(
            {"bsp_msg_id": "wamid.X\ud800", "to_phone": "+919876543210"},
            "bsp_msg_id",
        ),
        pytest.param(
            {"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "msg_kind": "AI\x00REPLY"},
            "msg_kind",
        ),
        pytest.param(
            {"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "metadata": {"score": float("nan")}},
            "metadata",
        ),
        pytest.param(
            {"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "sent_at": "yesterday"},
            "sent_at",
        ),
        pytest.param(
            {"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "sent_at": "2024-10-03T10:30:00"},
            "sent_at",
        ),
    ],
    ids=[
        "missing-bsp_msg_id",
        "blank-bsp_msg_id",
        "outbound-without-to_phone",
        "explicit-outbound-without-to_phone",
        "inbound-without-from_phone",
        "bad-phone",
        "short-phone",
        "sideways",
        "metadata-list",
        "metadata-string",
        "empty-msg_kind",
        "body-not-text",
        "nul-in-bsp_msg_id",
        "lone-surrogate-in-bsp_msg_id",
        "nul-in-msg_kind",
        "nan-in-metadata",
        "bad-sent_at",
        "sent_at-without-zone",
    ],
)
async def test_invalid_message_is_422_naming_the_field(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, doc: dict[str, Any], field: str
):
    resp = await http.post(f"/v1/orgs/{org}/messages", json=doc)
    assert resp.status == 422, await resp.text()
    assert field in (await resp.json())["error"]
    assert await stored_count(db, org) == 0


@pytest.mark.parametrize("doc", [[], "x", 5, None], ids=["list", "string", "number", "null"])
async def test_message_body_that_is_not_an_object_is_422(http: TestClient, org: uuid.UUID, doc: Any):
    body = json.dumps(doc).encode()
    resp = await http.post(f"/v1/orgs/{org}/messages", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 422
    assert "object" in (await resp.json())["error"]


async def test_huge_sent_at_is_422(http: TestClient, org: uuid.UUID):
    body = b'{"bsp_msg_id": "wamid.X", "to_phone": "+919876543210", "sent_at": 1' + b"0" * 400 + b"}"
    resp = await http.post(f"/v1/orgs/{org}/messages", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 422


async def test_metadata_with_literal_backslash_u0000_text_is_stored(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    await log_outbound(http, org, GOOD_ID, metadata={"snippet": "\\u0000"})
    row = await fetch_row(db, org, GOOD_ID)
    assert row is not None and row["metadata"] == {"snippet": "\\u0000"}


async def test_repeat_of_same_bsp_msg_id_returns_stored_row_unchanged(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    first = await log_outbound(http, org, GOOD_ID, body="first reply", metadata={"turn": 1})
    again = await log_outbound(http, org, GOOD_ID, body="second reply", metadata={"turn": 2}, sent_at=SENT_AT + 60)
    assert again["id"] == first["id"]
    assert again["body"] == "first reply"
    assert again["metadata"] == {"turn": 1}
    assert again["whatsapp_status"] == {"sent": "2024-10-03T10:30:00Z"}
    row = await fetch_row(db, org, GOOD_ID)
    assert row is not None
    assert str(row["id"]) == first["id"]
    assert row["body"] == "first reply"
    count = await db.fetchval("select count(*) from message_logs where org_id = $1", org)
    assert count == 1


# Meta's subscription handshake


async def test_handshake_with_right_token_echoes_challenge(verifying_http: TestClient, org: uuid.UUID):
    query = {"hub.mode": "subscribe", "hub.verify_token": "s3cret", "hub.challenge": "1158201444"}
    resp = await verifying_http.get(f"/webhooks/{org}", params=query)
    assert resp.status == 200
    assert await resp.text() == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": "s3cre", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": "s3cr\u00e9t", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "s3cret", "hub.challenge": "1158201444"},
    ],
    ids=["wrong", "prefix", "non-ascii", "missing", "wrong-mode"],
)
async def test_handshake_with_wrong_token_is_403(verifying_http: TestClient, org: uuid.UUID, query: dict[str, str]):
    resp = await verifying_http.get(f"/webhooks/{org}", params=query)
    assert resp.status == 403
    assert "1158201444" not in await resp.text()


async def test_handshake_without_configured_token_is_403(http: TestClient, org: uuid.UUID):
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1158201444"}
    resp = await http.get(f"/webhooks/{org}", params=query)
    assert resp.status == 403


async def test_an_answer_lists_the_first_twenty_skipped_items_and_counts_them_all(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    """A body of junk items is answered in a few kB, not a list as long as the body (issue 22, item 6)."""
    doc = envelope([status(f"junk{i}", "read", "not a time") for i in range(1_000)] + [status(GOOD_ID, "delivered")])
    body = await post_webhook(http, org, doc)
    assert (len(body["skipped"]), body["skipped_count"], body["statuses"]) == (20, 1_000, 1)
    assert body["skipped"][0].startswith("entry[0].changes[0].value.statuses[0]: ")
    stored = "select count(*) from message_status_parked where org_id = $1 and bsp_msg_id = $2 and status = 'delivered'"
    assert await db.fetchval(stored, org, GOOD_ID) == 1, "the good status beside the junk is kept (parked)"
