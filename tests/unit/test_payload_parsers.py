"""The payload parsers and their field checks, without a database."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bluetick.events import Direction, Message, Pricing, StatusEvent
from bluetick.payloads import Parsed, parse
from bluetick.payloads.common import (
    MAX_FUTURE_SKEW,
    MAX_ID_CHARS,
    ItemError,
    event_time,
    format_error,
    phone,
    read_time,
)
from tests.conftest import payload
from tests.strategies import FORMAT_DOCS, JSON

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
# 2024-10-03T10:30:00Z
EPOCH = 1727951400
AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


def meta_envelope(*entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": list(e)} for e in entries]}


def messages_change(statuses: list[Any] | None = None, messages: list[Any] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881"}}
    if statuses is not None:
        value["statuses"] = statuses
    if messages is not None:
        value["messages"] = messages
    return {"field": "messages", "value": value}


def status(msg_id: str, stage: str, ts: Any = str(EPOCH)) -> dict[str, Any]:
    return {"id": msg_id, "status": stage, "timestamp": ts, "recipient_id": "16505551234"}


def inbound(msg_id: str, body: str) -> dict[str, Any]:
    return {"from": "16505551234", "id": msg_id, "timestamp": str(EPOCH), "type": "text", "text": {"body": body}}


def aisensy(message: dict[str, Any], topic: str = "message.status.updated") -> dict[str, Any]:
    return {
        "id": "6750a1f2c3d4e5f6a7b8c9d0",
        "topic": topic,
        "created_at": "2024-10-03T10:31:00.000Z",
        "delivery_attempt": 1,
        "project_id": "66f0aa11bb22cc33dd44ee55",
        "data": {"message": message},
    }


# event_time


@pytest.mark.parametrize(
    "value",
    [EPOCH, str(EPOCH), float(EPOCH), f" {EPOCH} ", f"{EPOCH}.0", EPOCH + 0.9],
    ids=["int", "str", "float", "padded-str", "decimal-str", "fractional-float"],
)
def test_event_time_reads_unix_seconds_as_utc(value: Any):
    ts = event_time(value)
    assert ts == AT
    assert ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [EPOCH * 1000, str(EPOCH * 1000), float(EPOCH * 1000)], ids=["int", "str", "float"])
def test_event_time_reads_unix_milliseconds(value: Any):
    assert event_time(value) == AT


@pytest.mark.parametrize(
    "value",
    ["2024-10-03T10:30:00Z", "2024-10-03T10:30:00.000Z", "2024-10-03T10:30:00+00:00"],
)
def test_event_time_reads_iso_in_utc(value: str):
    ts = event_time(value)
    assert ts == AT
    assert ts.utcoffset() == timedelta(0)


def test_event_time_converts_iso_offset_to_utc():
    ts = event_time("2024-10-03T16:00:00+05:30")
    assert ts == AT
    assert ts.tzinfo is UTC
    assert ts.hour == 10 and ts.minute == 30


def test_event_time_refuses_iso_without_zone():
    with pytest.raises(ItemError, match="no time zone"):
        event_time("2024-10-03T10:30:00")


@pytest.mark.parametrize(
    "value",
    [
        -1,
        "-1727951400",
        -0.5,
        math.nan,
        "nan",
        math.inf,
        "Infinity",
        1e300,
        "1e400",
        "9" * 400,
        True,
        False,
        None,
        [],
        {},
        "yesterday",
        "",
    ],
    ids=[
        "negative-int",
        "negative-str",
        "negative-float",
        "nan",
        "nan-str",
        "inf",
        "inf-str",
        "huge-float",
        "huge-float-str",
        "huge-digit-str",
        "true",
        "false",
        "none",
        "list",
        "dict",
        "word",
        "empty",
    ],
)
def test_event_time_refuses_what_is_not_a_time(value: Any):
    with pytest.raises(ItemError):
        event_time(value)


def test_event_time_refuses_huge_int():
    with pytest.raises(ItemError):
        event_time(10**400)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:00"])
def test_event_time_refuses_iso_that_leaves_the_calendar_in_utc(value: str):
    with pytest.raises(ItemError):
        event_time(value)


# phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("919876543210", "+919876543210"),
        ("+919876543210", "+919876543210"),
        (919876543210, "+919876543210"),
        ("+91 98765 43210", "+919876543210"),
        ("+1-650-555-1234", "+16505551234"),
        (" +1 (650) 555.1234 ", "+16505551234"),
        ("+290 12345", "+29012345"),
        ("1" * 15, "+" + "1" * 15),
    ],
)
def test_phone_normalises_to_e164(raw: Any, e164: str):
    assert phone(raw) == e164


@pytest.mark.parametrize("raw", [None, ""])
def test_phone_absent_is_none(raw: Any):
    assert phone(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "+1 234",
        "172795",
        "+91 98765",
        "1234567",
        "+0919876543210",
        "00919876543210",
        "1" * 16,
        "not a phone",
        "+91 98765 4321x",
        "++919876543210",
        True,
        1.5,
        ["919876543210"],
    ],
    ids=[
        "too-short",
        "too-short-spaced",
        "six-digits",
        "seven-digits-spaced",
        "seven-digits",
        "country-code-0",
        "international-prefix",
        "too-long",
        "words",
        "letter",
        "double-plus",
        "bool",
        "float",
        "list",
    ],
)
def test_phone_refuses_what_is_not_a_phone_number(raw: Any):
    with pytest.raises(ItemError, match="to_phone"):
        phone(raw, "to_phone")


@pytest.mark.parametrize(
    "raw", ["+\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2", "\u0669\u0661\u0669\u0668\u0667\u0666\u0665\u0664"]
)
def test_phone_refuses_non_ascii_digits(raw: str):
    with pytest.raises(ItemError):
        phone(raw)


# format_error


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"code": 131026, "title": "T", "message": "M", "details": "D"}, "Error 131026: T - M (D)"),
        ({"code": 131026, "title": "T"}, "Error 131026: T"),
        ({"message": "M"}, "Error: M"),
        ({"code": 5}, "Error 5"),
        ({"code": "131026", "message": "M", "details": "D"}, "Error 131026: M (D)"),
        ({}, "Error"),
        ({"code": 5, "title": " ", "message": {"nested": 1}, "details": ["x"]}, "Error 5"),
    ],
)
def test_format_error_leaves_out_absent_parts(parts: dict[str, Any], expected: str):
    assert format_error(**parts) == expected


def test_format_error_drops_nul_characters():
    assert format_error(1, "a\x00b") == "Error 1: ab"


# Meta envelope


def test_meta_envelope_yields_every_entry_change_status_and_message():
    doc = meta_envelope(
        [
            messages_change(
                statuses=[status("wamid.A", "sent"), status("wamid.A", "delivered", str(EPOCH + 5))],
                messages=[inbound("wamid.IN1", "hello")],
            ),
            messages_change(statuses=[status("wamid.B", "read", EPOCH + 60)]),
        ],
        [messages_change(statuses=[status("wamid.C", "sent")], messages=[inbound("wamid.IN2", "again")])],
    )
    parsed = parse(ORG, doc)
    assert parsed.format == "meta"
    assert parsed.errors == []
    assert [(s.bsp_msg_id, s.status) for s in parsed.statuses] == [
        ("wamid.A", "sent"),
        ("wamid.A", "delivered"),
        ("wamid.B", "read"),
        ("wamid.C", "sent"),
    ]
    assert parsed.statuses[1].ts == AT + timedelta(seconds=5)
    assert parsed.statuses[2].ts == AT + timedelta(seconds=60)
    assert all(s.org_id == ORG for s in parsed.statuses)
    assert [(m.bsp_msg_id, m.body) for m in parsed.messages] == [("wamid.IN1", "hello"), ("wamid.IN2", "again")]
    first = parsed.messages[0]
    assert first.direction is Direction.INBOUND
    assert first.from_phone == "+16505551234"
    assert first.to_phone == "+15550783881"
    assert first.msg_kind == "TEXT"
    assert first.sent_at == AT


def test_meta_change_for_another_field_is_ignored():
    other = {"field": "account_update", "value": {"statuses": [status("wamid.X", "read")], "event": "VERIFIED"}}
    parsed = parse(ORG, meta_envelope([other, messages_change(statuses=[status("wamid.A", "sent")])]))
    assert parsed.format == "meta"
    assert [s.bsp_msg_id for s in parsed.statuses] == ["wamid.A"]
    assert parsed.errors == []


def test_meta_failed_status_carries_formatted_reason():
    failed = status("wamid.F", "failed")
    failed["errors"] = [{"code": 131026, "title": "T", "message": "M", "error_data": {"details": "D"}}]
    parsed = parse(ORG, meta_envelope([messages_change(statuses=[failed])]))
    assert parsed.statuses[0].failed_reason == "Error 131026: T - M (D)"


def test_meta_bad_items_are_skipped_and_named_beside_good_ones():
    statuses = [
        {"status": "read", "timestamp": str(EPOCH)},
        status("wamid.A", "read", "soon"),
        status("wamid.A", "sent"),
    ]
    parsed = parse(ORG, meta_envelope([messages_change(statuses=statuses)]))
    assert [s.status for s in parsed.statuses] == ["sent"]
    assert len(parsed.errors) == 2
    assert parsed.errors[0].startswith("entry[0].changes[0].value.statuses[0]: ")
    assert parsed.errors[1].startswith("entry[0].changes[0].value.statuses[1]: ")


def test_flat_statuses_are_parsed_as_flat():
    parsed = parse(ORG, {"statuses": [status("wamid.A", "delivered"), status("wamid.B", "read")]})
    assert parsed.format == "flat"
    assert [(s.bsp_msg_id, s.status, s.ts) for s in parsed.statuses] == [
        ("wamid.A", "delivered", AT),
        ("wamid.B", "read", AT),
    ]


# AiSensy


def test_aisensy_status_without_its_stage_time_uses_envelope_created_at():
    parsed = parse(ORG, aisensy({"messageId": "wamid.A", "status": "delivered", "phone_number": "919876543210"}))
    assert parsed.format == "aisensy"
    assert [(s.status, s.ts) for s in parsed.statuses] == [("delivered", datetime(2024, 10, 3, 10, 31, tzinfo=UTC))]
    assert parsed.statuses[0].receipt_id == "6750a1f2c3d4e5f6a7b8c9d0"


def test_aisensy_status_uses_id_when_message_id_is_missing():
    parsed = parse(ORG, aisensy({"id": "wamid.B", "status": "read", "read_at": EPOCH}))
    assert [(s.bsp_msg_id, s.status, s.ts) for s in parsed.statuses] == [("wamid.B", "read", AT)]
    assert parsed.errors == []


def test_aisensy_failed_status_carries_reason():
    message = {
        "messageId": "wamid.F",
        "status": "failed",
        "failed_at": EPOCH,
        "failureResponse": {"code": 1, "reason": "R"},
    }
    parsed = parse(ORG, aisensy(message))
    assert [(s.status, s.failed_reason) for s in parsed.statuses] == [("failed", "Error 1: R")]


def test_aisensy_inbound_becomes_inbound_message():
    message = {
        "messageId": "wamid.IN",
        "phone_number": "919876543210",
        "message_type": "TEXT",
        "message_content": {"text": "Thanks"},
        "sent_at": EPOCH,
    }
    parsed = parse(ORG, aisensy(message, topic="message.sender.user"))
    assert [(m.bsp_msg_id, m.direction, m.from_phone, m.body, m.sent_at) for m in parsed.messages] == [
        ("wamid.IN", Direction.INBOUND, "+919876543210", "Thanks", AT)
    ]


def test_aisensy_other_topic_yields_nothing():
    parsed = parse(ORG, aisensy({"messageId": "wamid.A", "status": "read"}, topic="contact.created"))
    assert parsed.format == "aisensy"
    assert parsed.empty and parsed.errors == []


# Unknown shapes


@pytest.mark.parametrize(
    "doc",
    [
        {"hello": 1},
        {},
        [],
        [{"statuses": []}],
        5,
        1.5,
        "statuses",
        None,
        True,
        {"statuses": "x"},
        {"topic": 1, "data": {}},
    ],
)
def test_unknown_shape_is_format_unknown(doc: Any):
    parsed = parse(ORG, doc)
    assert parsed.format == "unknown"
    assert parsed.empty and parsed.errors == []


@given(org=st.uuids(version=4), doc=JSON | FORMAT_DOCS)
@example(org=ORG, doc={"object": "whatsapp_business_account", "entry": "x"})
@example(org=ORG, doc={"statuses": [{"id": "wamid.A", "status": "read", "timestamp": 10**400}]})
@example(org=ORG, doc={"statuses": [{"id": "wamid.A", "status": "read", "timestamp": "0001-01-01T00:00:00+05:30"}]})
def test_parse_never_raises_on_any_json(org: uuid.UUID, doc: Any):
    parsed = parse(org, doc)
    assert isinstance(parsed, Parsed)
    assert all(isinstance(e, str) for e in parsed.errors)
    for event in parsed.statuses:
        assert event.org_id == org
        assert event.ts.utcoffset() == timedelta(0)
        assert 0 < len(event.bsp_msg_id) <= MAX_ID_CHARS and "\x00" not in event.bsp_msg_id
    for message in parsed.messages:
        assert message.org_id == org
        assert 0 < len(message.bsp_msg_id) <= MAX_ID_CHARS and "\x00" not in message.bsp_msg_id


@pytest.mark.parametrize("business", ["PHONE_NUMBER", "1555", 42, None])
def test_an_unusable_business_number_does_not_cost_the_statuses(business: object) -> None:
    doc = payload("meta_status_delivered.json")
    doc["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"] = business
    parsed = parse(uuid.uuid4(), doc)
    assert len(parsed.statuses) == 1 and parsed.errors == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0" * 4400 + "1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # leading zeros, as float() reads
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1700000000123, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # milliseconds
    ],
)
def test_event_time_reads_digit_strings_of_any_length_as_the_general_path_does(value: object, expected: datetime):
    assert event_time(value) == expected


@pytest.mark.parametrize("value", ["9" * 4301, "9" * 20, 10**30])
def test_event_time_refuses_a_number_too_large_as_an_item_error_naming_it(value: object):
    with pytest.raises(ItemError, match="out of range") as raised:
        event_time(value)
    assert repr(value)[:40] in str(raised.value)


def test_events_hold_only_storable_text_whatever_a_parser_gives_them():
    hostile = "a\x00b\ud800c"
    pricing = Pricing(
        model=hostile, category=hostile, type=hostile, conversation_id=hostile, conversation_origin=hostile
    )
    event = StatusEvent(ORG, hostile, hostile, AT, hostile, hostile, hostile, pricing)
    message = Message(ORG, hostile, msg_kind=hostile, body=hostile, metadata={hostile: [hostile, {hostile: 1}]})
    cleaned = "a\ufffdb?c"
    assert (event.bsp_msg_id, event.status, event.failed_reason, event.receipt_id, event.user_id) == (cleaned,) * 5
    assert set(pricing.to_json().values()) == {cleaned, None}
    assert (message.bsp_msg_id, message.msg_kind, message.body) == (cleaned,) * 3
    assert message.metadata == {cleaned: [cleaned, {cleaned: 1}]}
    assert replace(event, bsp_msg_id="wamid.\x00").bsp_msg_id == "wamid.\ufffd"


@pytest.mark.parametrize(
    "value", ["4070908800", 4070908800000, "2099-01-01T00:00:00+00:00", "9999-12-31T00:00:00Z", 253_402_300_799_000]
)
def test_event_time_refuses_a_time_past_now_and_the_skew_naming_the_field(value: object):
    with pytest.raises(ItemError, match=r"sent_at .* is in the future"):
        event_time(value, "sent_at")


def test_event_time_allows_a_clock_a_little_ahead_and_read_time_any_future():
    ahead = datetime.now(UTC).replace(microsecond=0) + MAX_FUTURE_SKEW - timedelta(minutes=1)
    assert event_time(int(ahead.timestamp())) == ahead
    assert read_time("4070908800") == datetime(2099, 1, 1, tzinfo=UTC)


def test_a_status_or_message_in_the_future_is_skipped_beside_the_good_ones():
    future = str(4070908800)
    inbound = {"from": "919876543210", "id": "wamid.IN", "timestamp": future, "type": "text", "text": {"body": "hi"}}
    doc = meta_envelope([messages_change(statuses=[status("wamid.F", "read", future), status("wamid.G", "read")],
                                         messages=[inbound])])  # fmt: skip
    parsed = parse(ORG, doc)
    assert [e.bsp_msg_id for e in parsed.statuses] == ["wamid.G"] and parsed.messages == []
    assert len(parsed.errors) == 2 and all("in the future" in e for e in parsed.errors)


def test_a_conversation_expiring_tomorrow_is_kept():
    tomorrow = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    item = status("wamid.G", "sent") | {"conversation": {"id": "c1", "expiration_timestamp": str(tomorrow)}}
    (event,) = parse(ORG, meta_envelope([messages_change(statuses=[item])])).statuses
    assert event.pricing is not None and event.pricing.conversation_expires_at == datetime.fromtimestamp(tomorrow, UTC)
