"""The BSP formats beside Meta's: Gupshup v2 and v3, Wati, Interakt, 360dialog On-Premise, Meta's echoes, AiSensy."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from bluetick.events import Direction
from bluetick.payloads import parse
from tests.conftest import payload

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
RECEIVED = datetime(2024, 10, 3, 12, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    return payload(f"formats/{name}")


def at(hh: int, mm: int, ss: int) -> datetime:
    return datetime(2024, 10, 3, hh, mm, ss, tzinfo=UTC)


# Gupshup v2


def test_gupshup_read_is_emitted_under_whatsapp_id_and_gupshup_id():
    parsed = parse(ORG, sample("gupshup_v2_read.json"))
    assert parsed.format == "gupshup" and parsed.complete
    assert [(s.bsp_msg_id, s.status, s.ts) for s in parsed.statuses] == [
        ("gBEGkZiHZUMhAgnQ6iNzpC3bWOE", "read", at(10, 31, 0)),
        ("3f1c9a52-7d4e-4b0a-9e61-2c8d5b7f0a14", "read", at(10, 31, 0)),
    ]


def test_gupshup_enqueued_is_kept_under_both_ids_at_the_envelope_time():
    parsed = parse(ORG, sample("gupshup_v2_enqueued.json"))
    assert {(s.bsp_msg_id, s.status, s.ts) for s in parsed.statuses} == {
        ("3f1c9a52-7d4e-4b0a-9e61-2c8d5b7f0a14", "enqueued", at(10, 30, 1)),
        ("gBEGkZiHZUMhAgnQ6iNzpC3bWOE", "enqueued", at(10, 30, 1)),
    }


def test_gupshup_failed_carries_code_and_reason():
    parsed = parse(ORG, sample("gupshup_v2_failed.json"))
    assert [(s.status, s.failed_reason) for s in parsed.statuses] == [
        ("failed", "Error 1002: Number Does Not Exists On WhatsApp")
    ]


def test_gupshup_status_without_any_time_takes_received_at():
    doc = sample("gupshup_v2_failed.json")
    del doc["timestamp"]
    assert [s.ts for s in parse(ORG, doc, RECEIVED).statuses] == [RECEIVED]


def test_gupshup_inbound_reads_sender_and_bsuid():
    parsed = parse(ORG, sample("gupshup_v2_inbound.json"))
    [message] = parsed.messages
    assert (message.direction, message.from_phone, message.customer_user_id, message.body, message.msg_kind) == (
        Direction.INBOUND,
        "+919876543210",
        "IN.2081978709342942",
        "Where is my parcel?",
        "TEXT",
    )
    assert message.sent_at == at(10, 33, 0)


def test_gupshup_inbound_from_a_bsuid_is_read_as_the_customers_bsuid():
    # Customers who adopt a username are named by their BSUID where their phone was (2025-26): read, not noted
    doc = sample("gupshup_v2_inbound.json")
    doc["payload"]["sender"] = {"phone": "IN.2081978709342942"}
    parsed = parse(ORG, doc)
    [message] = parsed.messages
    assert message.from_phone is None and message.customer_user_id == "IN.2081978709342942"
    assert parsed.complete


def test_a_sender_that_is_neither_a_phone_nor_a_bsuid_is_kept_and_noted():
    doc = sample("gupshup_v2_inbound.json")
    doc["payload"]["sender"] = {"phone": "user.93731"}
    parsed = parse(ORG, doc)
    [message] = parsed.messages
    assert message.from_phone is None and message.customer_user_id is None
    assert parsed.unread == ["payload.sender.phone: neither a phone number nor a WhatsApp user id"]
    assert not parsed.complete


def test_gupshup_other_type_is_unread():
    parsed = parse(ORG, {"app": "A", "timestamp": 1, "version": 2, "type": "user-event", "payload": {}})
    assert parsed.format == "gupshup" and parsed.empty and parsed.unread == ["type user-event"]


def test_gupshup_v3_status_is_emitted_under_gs_id_too_with_millisecond_time():
    parsed = parse(ORG, sample("gupshup_v3_delivered.json"))
    assert parsed.format == "gupshup_v3" and parsed.complete
    assert [(s.bsp_msg_id[:12], s.status, s.ts) for s in parsed.statuses] == [
        ("wamid.HBgMOT", "delivered", at(10, 30, 5)),
        ("c4d81f0e-5a2", "delivered", at(10, 30, 5)),
    ]


# Wati


def test_wati_statuses_name_local_and_whatsapp_ids():
    parsed = parse(ORG, sample("wati_delivered.json"))
    assert parsed.format == "wati" and parsed.complete
    assert [(s.bsp_msg_id[:12], s.status, s.ts) for s in parsed.statuses] == [
        ("7c2d4e91-3b5", "delivered", at(10, 30, 7)),
        ("wamid.HBgMOT", "delivered", at(10, 30, 7)),
    ]


def test_wati_template_sent_uses_created_when_no_timestamp():
    parsed = parse(ORG, sample("wati_template_sent.json"))
    assert {(s.status, s.ts) for s in parsed.statuses} == {("sent", at(10, 30, 2))}


def test_wati_failed_carries_code_and_detail():
    parsed = parse(ORG, sample("wati_failed.json"))
    assert {s.failed_reason for s in parsed.statuses} == {"Error 131026: Message undeliverable"}


def test_wati_inbound_and_unknown_event():
    [message] = parse(ORG, sample("wati_inbound.json")).messages
    assert (message.from_phone, message.body, message.sent_at) == (
        "+919876543213",
        "Can I change the delivery address?",
        at(10, 33, 20),
    )
    other = parse(ORG, {"eventType": "newContactMessageReceived", "waId": "911234567890"})
    assert other.empty and other.unread == ["eventType newContactMessageReceived"]


def test_wati_status_without_time_takes_received_at():
    doc = sample("wati_delivered.json")
    del doc["timestamp"]
    assert {s.ts for s in parse(ORG, doc, RECEIVED).statuses} == {RECEIVED}


# Interakt


def test_interakt_read_yields_each_stage_time_as_utc():
    parsed = parse(ORG, sample("interakt_api_read.json"))
    assert parsed.format == "interakt" and parsed.complete
    assert [(s.status, s.ts) for s in parsed.statuses] == [("delivered", at(10, 30, 4)), ("read", at(10, 31, 9))]


def test_interakt_failed_carries_code_and_reason_at_envelope_time():
    parsed = parse(ORG, sample("interakt_api_failed.json"))
    assert [(s.status, s.ts, s.failed_reason) for s in parsed.statuses] == [
        ("failed", at(10, 32, 40), "Error 131049: Message not delivered to maintain healthy ecosystem engagement")
    ]


def test_interakt_inbound_and_click():
    [message] = parse(ORG, sample("interakt_received.json")).messages
    assert (message.from_phone, message.body, message.msg_kind, message.sent_at) == (
        "+919876543215",
        "Yes, please deliver tomorrow",
        "TEXT",
        at(10, 34, 0),
    )
    click = sample("interakt_api_read.json")
    click["type"] = "message_api_clicked"  # issue 25: a tap is the unranked key `clicked` (Replies and clicks)
    parsed = parse(ORG, click)
    assert parsed.unread == [] and "clicked" in {s.status for s in parsed.statuses}
    click["type"] = "message_api_opened"
    assert parse(ORG, click).unread == ["type message_api_opened"]


# 360dialog On-Premise and Meta


def test_onpremise_flat_messages_are_inbound():
    parsed = parse(ORG, sample("dialog360_onpremise_inbound.json"))
    assert parsed.format == "flat" and parsed.complete
    [message] = parsed.messages
    assert (message.direction, message.from_phone, message.body) == (
        Direction.INBOUND,
        "+919876543217",
        "Is the store open on Sunday?",
    )


def test_smb_message_echo_is_outbound_to_the_customer():
    parsed = parse(ORG, sample("meta_smb_message_echo.json"))
    assert parsed.complete
    [message] = parsed.messages
    assert (message.direction, message.to_phone, message.customer_user_id, message.msg_kind, message.body) == (
        Direction.OUTBOUND,
        "+16505551299",
        "US.13491208655302741918",
        "TEXT",
        "Your table is booked for 8pm.",
    )


def test_meta_inbound_from_a_bsuid_is_read_as_the_customers_bsuid():
    doc = payload("meta_inbound_text.json")
    value = doc["entry"][0]["changes"][0]["value"]
    value["messages"][0]["from"] = "IN.2081978709342942"
    value.pop("contacts", None)
    parsed = parse(ORG, doc)
    [message] = parsed.messages
    assert message.from_phone is None and message.customer_user_id == "IN.2081978709342942"
    assert parsed.errors == [] and parsed.unread == [] and parsed.complete


def test_meta_inbound_from_garbage_is_kept_without_a_customer():
    doc = payload("meta_inbound_text.json")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "not-a-number"
    parsed = parse(ORG, doc)
    assert len(parsed.messages) == 1 and parsed.messages[0].from_phone is None and not parsed.complete


def test_meta_status_without_timestamp_takes_received_at():
    doc = payload("meta_status_delivered.json")
    del doc["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"]
    parsed = parse(ORG, doc, RECEIVED)
    assert [s.ts for s in parsed.statuses] == [RECEIVED] and parsed.complete


def test_received_at_defaults_to_now():
    parsed = parse(ORG, {"statuses": [{"id": "wamid.A", "status": "read"}]})
    assert abs((parsed.statuses[0].ts - datetime.now(UTC)).total_seconds()) < 5


# AiSensy


def test_aisensy_upper_case_status_event_id_and_no_time():
    parsed = parse(ORG, sample("aisensy_status_upper_no_time.json"), RECEIVED)
    assert parsed.format == "aisensy" and parsed.complete
    [status] = parsed.statuses
    assert (status.status, status.ts, status.receipt_id) == ("delivered", RECEIVED, "6750b2e3d4f5a6b7c8d9e0f1")


def test_aisensy_status_update_topic_and_flat_data():
    doc = {"id": "r1", "topic": "message.status.update", "data": {"messageId": "wamid.X", "status": "Read"}}
    assert [(s.bsp_msg_id, s.status) for s in parse(ORG, doc).statuses] == [("wamid.X", "read")]


def test_aisensy_message_created_is_inbound():
    [message] = parse(ORG, sample("aisensy_message_created.json")).messages
    assert (message.direction, message.from_phone, message.body, message.sent_at) == (
        Direction.INBOUND,
        "+919876543218",
        "Got it, thank you",
        at(10, 35, 0),
    )


def test_aisensy_unknown_topic_is_unread():
    doc = copy.deepcopy(sample("aisensy_message_created.json"))
    doc["topic"] = "contact.created"
    parsed = parse(ORG, doc)
    assert parsed.empty and parsed.unread == ["topic contact.created"] and not parsed.complete


def test_a_gupshup_message_whose_type_is_not_text_is_kept_without_a_kind():
    # found by the hostile run: a type of {"a": ...} was looked up in a set of button types and raised (503)
    for hostile in ({"a": 1}, [1, [2]]):
        doc = sample("gupshup_v2_inbound.json")
        doc["payload"]["type"] = hostile
        [message] = parse(ORG, doc).messages
        assert message.msg_kind is None
