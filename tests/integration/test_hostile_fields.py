"""Hostile text in every stored field of every format (issue 22, item 1): each string of every sample body, and of a
Twilio callback and a logging call, replaced by text Postgres cannot hold (NUL, lone surrogates) or would rather not
(controls, U+FFFF, 20k characters), posted over HTTP. A webhook is 200 and every event it was turned into is stored,
its text cleaned as the parser's event holds it; the good statuses beside a hostile one are stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick import jsoncodec, payloads
from bluetick.auth import form_fields
from bluetick.events import Message, StatusEvent
from bluetick.payloads.api import parse_message
from bluetick.payloads.common import ItemError
from tests.conftest import fetch_row
from tests.twilio_callbacks import callback

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
FORM = "application/x-www-form-urlencoded"
HOSTILE = {
    "characters": "a\x00b\ud800c\udfffd\uffffe\x01\x1f\x7ff",
    "long": "\x00" + "x" * 20_000 + "\ud800",
}
API_SAMPLE = {
    "bsp_msg_id": "wamid.API1",
    "to_phone": "+919812345678",
    "msg_kind": "AI_REPLY_FREEFORM",
    "body": "Your order has shipped",
    "sent_at": 1727951400,
    "metadata": {"agent": "a1", "tags": ["x"], "nested": {"k": "v"}},
    "ref_bsp_msg_id": "wamid.REF",
}
_ROW_TEXT = ("body", "msg_kind", "to_phone", "from_phone", "customer_user_id", "ref_bsp_msg_id", "direction")
_PRICING_TEXT = ("pricing_model", "pricing_category", "pricing_type", "conversation_id", "conversation_origin")


def samples() -> list[tuple[str, Any]]:
    found = [(p.name, json.loads(p.read_text())) for p in sorted(PAYLOADS.rglob("*.json"))]
    return [*found, ("twilio", callback("failed", ErrorCode="63016", ErrorMessage="outside the window")),
            ("twilio", callback("received", Body="hello", MessageType="text")), ("api", API_SAMPLE)]  # fmt: skip


def text_paths(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every string in `doc`, and of every object key (as `(*path, ("key", name))`)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*path, ("key", key))
            yield from text_paths(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from text_paths(value, (*path, i))
    elif isinstance(doc, str):
        yield path


def replaced(doc: Any, path: tuple[Any, ...], value: str) -> Any:
    if len(path) == 1 and isinstance(path[0], tuple):
        return {(value if k == path[0][1] else k): v for k, v in doc.items()}
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = replaced(doc[path[0]], path[1:], value)
    return copy


def cases() -> Iterator[Any]:
    for name, doc in samples():
        # a key is a stored text only in the logging API's metadata; elsewhere it only names a field
        paths = [p for p in text_paths(doc) if not isinstance(p[-1], tuple) or (name == "api" and p[0] == "metadata")]
        for path in paths:
            for label, value in HOSTILE.items():
                shown = ".".join(str(p[1]) if isinstance(p, tuple) else str(p) for p in path)
                yield pytest.param(name, replaced(doc, path, value), id=f"{name}-{shown}-{label}")


def clean(text: Any) -> bool:
    """Whether Postgres text can hold `text` as it is."""
    if not isinstance(text, str):
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


async def post(client: TestClient, name: str, doc: Any, org: uuid.UUID) -> tuple[int, str, bytes]:
    if name == "api":
        body = json.dumps(doc).encode()
        resp = await client.post(f"/v1/orgs/{org}/messages", data=body, headers={"Content-Type": "application/json"})
    elif name == "twilio":
        body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in doc.items()}).encode()
        resp = await client.post(f"/webhooks/{org}", data=body, headers={"Content-Type": FORM})
    else:
        body = json.dumps(doc).encode()
        resp = await client.post(f"/webhooks/{org}", data=body, headers={"Content-Type": "application/json"})
    return resp.status, await resp.text(), body


def events_of(name: str, body: bytes, org: uuid.UUID) -> tuple[list[Message], list[StatusEvent]]:
    """What the service turned `body` into: the same decoding and parsers, in this process."""
    if name == "api":
        try:
            return [parse_message(org, jsoncodec.loads(body))], []
        except ItemError:
            return [], []
    if name == "twilio":
        parsed = payloads.parse_form(org, form_fields(body))
    else:
        parsed = payloads.parse(org, jsoncodec.loads(body))
    return parsed.messages, parsed.statuses


async def assert_stored(db: asyncpg.Connection, org: uuid.UUID, message: Message) -> None:
    row = await fetch_row(db, org, message.bsp_msg_id)
    assert row is not None, f"message {message.bsp_msg_id[:40]!r} not stored"
    for column in _ROW_TEXT:
        assert row[column] == getattr(message, column), column
    assert row["metadata"] == (message.metadata or {})


async def assert_status_stored(db: asyncpg.Connection, org: uuid.UUID, event: StatusEvent) -> None:
    row = await fetch_row(db, org, event.bsp_msg_id)
    if row is not None and event.status in row["whatsapp_status"]:
        if event.status == "failed":
            assert row["failed_reason"] == event.failed_reason
        if event.pricing is not None:
            assert {c: row[c] for c in _PRICING_TEXT} == {c: event.pricing.to_json()[c] for c in _PRICING_TEXT}
        return
    parked = await db.fetchrow(
        "select failed_reason, pricing from message_status_parked where org_id = $1 and bsp_msg_id = $2"
        " and status = $3",
        org,
        event.bsp_msg_id,
        event.status,
    )
    assert parked is not None, f"status {event.status} of {event.bsp_msg_id[:40]!r} neither merged nor parked"
    assert parked["failed_reason"] == event.failed_reason
    if event.pricing is not None:
        assert {c: parked["pricing"].get(c) for c in _PRICING_TEXT} == {
            c: event.pricing.to_json()[c] for c in _PRICING_TEXT
        }


@pytest.mark.parametrize(("name", "doc"), list(cases()))
async def test_hostile_text_in_any_stored_field_is_cleaned_and_stored_beside_the_rest(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID, name: str, doc: Any
):
    status, answer, body = await post(http, name, doc, org)
    if name == "api":
        assert status in (200, 422), answer  # a logging call may be refused, naming the field
    else:
        assert status == 200, answer
    messages, statuses = events_of(name, body, org)
    if name == "api" and status == 422:
        assert not messages
        return
    for message in messages:
        assert all(clean(getattr(message, c)) for c in _ROW_TEXT)
        await assert_stored(db, org, message)
    stages = [(e.bsp_msg_id, e.status) for e in statuses]
    for event in statuses:
        assert clean(event.failed_reason)
        # a stage reported twice (a group message's participants) keeps one event's pricing (merge rule 10)
        alone = stages.count((event.bsp_msg_id, event.status)) == 1
        await assert_status_stored(db, org, event if alone else replace(event, pricing=None))


async def test_a_hostile_pricing_field_keeps_its_cleaned_text_and_the_good_status_beside_it(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    hostile = HOSTILE["characters"]
    for bsp_msg_id in ("wamid.H1", "wamid.G1"):
        resp = await http.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": bsp_msg_id, "to_phone": "+919812345678"})
        assert resp.status == 200, await resp.text()
    bad = {
        "id": "wamid.H1",
        "status": "delivered",
        "timestamp": "1750263773",
        "pricing": {"billable": True, "pricing_model": hostile, "category": hostile, "type": hostile},
        "conversation": {"id": hostile, "origin": {"type": hostile}},
    }
    good = {"id": "wamid.G1", "status": "read", "timestamp": "1750263780"}
    doc = {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [bad, good]}}]}]}
    resp = await http.post(f"/webhooks/{org}", json=doc)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["statuses"] == 2
    cleaned = "a\ufffdb?c?d\uffffe\x01\x1f\x7ff"
    row = await fetch_row(db, org, "wamid.H1")
    assert row is not None and row["status"] == "DELIVERED"
    assert (row["pricing_model"], row["pricing_category"], row["pricing_type"], row["conversation_origin"]) == (
        cleaned,
        cleaned,
        cleaned,
        cleaned,
    )
    assert row["conversation_id"] is None  # an id that is not storable as given is dropped, not changed
    good_row = await fetch_row(db, org, "wamid.G1")
    assert good_row is not None and good_row["status"] == "READ"
