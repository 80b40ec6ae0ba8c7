"""Issue 23 for the BSPs beside Meta: Wati's and Twilio's BSUIDs, Twilio-compatible senders, AiSensy's
`contact.mobile` and Gupshup's `deleted`. Each sample in tests/payloads/platform/ is written from the page cited
beside its test (ids and numbers are fake) and gives exactly the events listed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bluetick.events import Direction, EventKind, Message, StatusEvent
from bluetick.payloads import parse, parse_form
from bluetick.payloads.common import deletion
from tests.conftest import payload

ORG = uuid.UUID("00000000-0000-4000-8000-000000000001")
RECEIVED = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
PLATFORM = Path(__file__).resolve().parent.parent / "payloads" / "platform"

BSUID = "IN.20583917746102958371"
PARENT_BSUID = "IN.ENT.30917264518830027461"
TWILIO_BSUID = "US.13491208655302741918"


def sample(name: str) -> dict[str, Any]:
    return payload(f"platform/{name}")


def form(name: str) -> list[tuple[str, str]]:
    """A form sample, written decoded with one `key=value` a line, as the fields a parsed form gives."""
    lines = (PLATFORM / name).read_text().splitlines()
    return [(key, value) for key, _, value in (line.partition("=") for line in lines if line)]


def replaced(fields: list[tuple[str, str]], **changes: str | None) -> list[tuple[str, str]]:
    """`fields` with each named field's value changed (None: dropped); a new name is added at the end."""
    known = {k for k, _ in fields}
    changed = [(k, changes.get(k, v)) for k, v in fields] + [(k, v) for k, v in changes.items() if k not in known]
    return [(k, v) for k, v in changed if v is not None]


# Wati


def test_wati_message_bsuid_is_the_customers_message_under_their_bsuid_and_parent():
    # https://docs.wati.io/reference/message-received-bsuid ("message_bsuid": the BSUID-first message received;
    # bsuid always present, parentBsuid the enterprise-level id, waId optional)
    parsed = parse(ORG, sample("wati_inbound_bsuid.json"), RECEIVED)
    assert parsed.format == "wati" and parsed.complete and not parsed.statuses
    assert parsed.messages == [
        Message(
            org_id=ORG,
            bsp_msg_id="wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0E1RjcxQzk4QjJEMDQ2RTE1QjcA",
            direction=Direction.INBOUND,
            msg_kind="TEXT",
            from_phone="+919876543210",
            body="Has my parcel been dispatched?",
            sent_at=datetime(2025, 9, 18, 11, 42, 7, tzinfo=UTC),
            customer_user_id=BSUID,
            customer_parent_user_id=PARENT_BSUID,
        )
    ]


def test_wati_message_bsuid_without_a_phone_is_stored_under_the_bsuid_alone():
    # https://docs.wati.io/reference/message-received-bsuid ("waId ... may be omitted in BSUID-first mode")
    doc = sample("wati_inbound_bsuid.json")
    del doc["waId"]
    parsed = parse(ORG, doc, RECEIVED)
    [message] = parsed.messages
    assert (message.from_phone, message.customer_user_id, message.customer_parent_user_id) == (
        None,
        BSUID,
        PARENT_BSUID,
    )
    assert parsed.complete


def test_wati_status_bsuid_names_the_customers_bsuid_and_parent_on_each_copy():
    # https://docs.wati.io/reference/session-message-sent-v2-bsuid (sessionMessageSent_v2_bsuid: bsuid, parentBsuid)
    parsed = parse(ORG, sample("wati_session_message_sent_v2_bsuid.json"), RECEIVED)
    assert parsed.format == "wati" and parsed.complete and not parsed.messages
    sent = datetime(2025, 9, 18, 11, 43, 31, tzinfo=UTC)
    assert parsed.statuses == [
        StatusEvent(
            org_id=ORG,
            bsp_msg_id=msg_id,
            status="sent",
            ts=sent,
            user_id=BSUID,
            parent_user_id=PARENT_BSUID,
        )
        for msg_id in (
            "5b0e7c2a-91d4-4f3e-a6b8-2c7d9e1f0a35",
            "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSNkQ0QjVBOTgxQzJFM0Y3MDQ1AA==",
        )
    ]


def test_wati_bsuid_that_is_not_one_is_noted_and_the_message_still_read():
    # https://docs.wati.io/reference/message-received-bsuid
    doc = sample("wati_inbound_bsuid.json") | {"bsuid": "not a bsuid", "parentBsuid": 12}
    parsed = parse(ORG, doc, RECEIVED)
    [message] = parsed.messages
    assert (message.from_phone, message.customer_user_id, message.customer_parent_user_id) == (
        "+919876543210",
        None,
        None,
    )
    assert parsed.unread == ["bsuid: not a WhatsApp user id", "parentBsuid: not a WhatsApp user id"]
    assert not parsed.errors and not parsed.complete  # kept in the inbox


def test_wati_new_contact_bsuid_names_no_message_and_is_kept_not_dropped():
    # https://docs.wati.io/reference/new-contact-message-bsuid (a contact's waId, bsuid and parentBsuid, no message
    # id: the message itself comes as message_bsuid, read above). Nothing to store as a row: noted, body kept.
    doc = {
        "eventType": "newContactMessageReceived_bsuid",
        "id": "68f1a1ffc4d5e6f7a8b9c0a9",
        "created": "2025-09-18T11:42:06.9120000Z",
        "waId": "919876543210",
        "senderName": "Priya Sharma",
        "sourceId": None,
        "sourceUrl": None,
        "sourceType": 0,
        "bsuid": BSUID,
        "parentBsuid": PARENT_BSUID,
        "username": "@priya.s",
    }
    parsed = parse(ORG, doc, RECEIVED)
    assert parsed.format == "wati" and parsed.empty
    assert parsed.unread == ["eventType newContactMessageReceived_bsuid"] and not parsed.complete


# Twilio


def test_twilio_message_from_a_bsuid_is_stored_under_the_customers_bsuid():
    # https://www.twilio.com/en-us/changelog/whatsapp-bsuid-format-in-conversations-and-webhook-fields (a BSUID as
    # whatsapp:US.ABC... in From, and in ExternalUserIdentifier); base fields per
    # https://www.twilio.com/docs/messaging/guides/webhook-request
    parsed = parse_form(ORG, form("twilio_inbound_bsuid.txt"), RECEIVED)
    assert parsed.format == "twilio" and parsed.complete and not parsed.statuses
    assert parsed.messages == [
        Message(
            org_id=ORG,
            bsp_msg_id="SM4f2c8e1a9b7d6035c2e1f0a9b8c7d6e5",
            direction=Direction.INBOUND,
            msg_kind="TEXT",
            to_phone="+15557654321",
            body="Where is my package?",
            sent_at=RECEIVED,
            customer_user_id=TWILIO_BSUID,
        )
    ]


@pytest.mark.parametrize("name", ["ExternalUserId", "ExternalUserIdentifier"])
def test_twilio_external_user_id_is_the_bsuid_beside_a_phone(name: str):
    # https://www.twilio.com/en-us/changelog/whatsapp-bsuid-format-in-conversations-and-webhook-fields
    changes: dict[str, str | None] = {"From": "whatsapp:+919876543210", "ExternalUserId": None, name: TWILIO_BSUID}
    fields = replaced(form("twilio_inbound_bsuid.txt"), **changes)
    parsed = parse_form(ORG, fields, RECEIVED)
    [message] = parsed.messages
    assert (message.from_phone, message.customer_user_id) == ("+919876543210", TWILIO_BSUID)
    assert parsed.complete


def test_twilio_message_from_a_bsuid_takes_the_phone_from_wa_id_when_given():
    # https://www.twilio.com/docs/messaging/guides/webhook-request (WaId: the sender's WhatsApp id, a phone)
    fields = replaced(form("twilio_inbound_bsuid.txt"), WaId="919876543210", ExternalUserId=None)
    parsed = parse_form(ORG, fields, RECEIVED)
    [message] = parsed.messages
    assert (message.from_phone, message.customer_user_id) == ("+919876543210", TWILIO_BSUID)
    assert parsed.complete


def test_twilio_customer_that_is_neither_phone_nor_bsuid_is_noted_and_the_message_kept():
    # https://www.twilio.com/docs/messaging/guides/webhook-request
    fields = replaced(form("twilio_inbound_bsuid.txt"), From="whatsapp:somebody", ExternalUserId="nobody")
    parsed = parse_form(ORG, fields, RECEIVED)
    [message] = parsed.messages
    assert (message.from_phone, message.customer_user_id, message.body) == (None, None, "Where is my package?")
    assert parsed.unread == [
        "From: neither a phone number nor a WhatsApp user id",
        "ExternalUserId: not a WhatsApp user id",
    ]
    assert not parsed.errors and not parsed.complete


def test_twilio_compatible_status_without_an_account_sid_is_read_as_twilio():
    # Twilio's status callback fields (MessageSid, MessageStatus / SmsStatus) per
    # https://www.twilio.com/docs/messaging/guides/webhook-request, posted without AccountSid by a
    # Twilio-compatible sender (no vendor page found; the shape)
    parsed = parse_form(ORG, form("twilio_compatible_status.txt"), RECEIVED)
    assert parsed.format == "twilio" and parsed.complete
    assert parsed.statuses == [
        StatusEvent(org_id=ORG, bsp_msg_id="SM9a8b7c6d5e4f30211203f4e5d6c7b8a9", status="delivered", ts=RECEIVED)
    ]
    sms_only = [(k, v) for k, v in form("twilio_compatible_status.txt") if k != "MessageStatus"]
    assert [(s.bsp_msg_id, s.status) for s in parse_form(ORG, sms_only, RECEIVED).statuses] == [
        ("SM9a8b7c6d5e4f30211203f4e5d6c7b8a9", "delivered")
    ]


def test_a_form_naming_no_message_or_no_status_is_still_unknown():
    # https://www.twilio.com/docs/messaging/guides/webhook-request (a message callback names its MessageSid)
    for fields in ([("MessageStatus", "sent")], [("MessageSid", "SM1"), ("To", "whatsapp:+15557654321")]):
        assert parse_form(ORG, fields, RECEIVED).format == "unknown"


def test_twilio_status_to_a_bsuid_names_the_customers_bsuid():
    # https://www.twilio.com/en-us/changelog/whatsapp-bsuid-format-in-conversations-and-webhook-fields
    fields = replaced(form("twilio_compatible_status.txt"), To=f"whatsapp:{TWILIO_BSUID}", ChannelToAddress=None)
    [status] = parse_form(ORG, fields, RECEIVED).statuses
    assert (status.status, status.user_id) == ("delivered", TWILIO_BSUID)
    named = replaced(form("twilio_compatible_status.txt"), ExternalUserIdentifier=TWILIO_BSUID)
    [status] = parse_form(ORG, named, RECEIVED).statuses
    assert status.user_id == TWILIO_BSUID


# AiSensy


def test_aisensy_message_created_reads_the_phone_from_contact_mobile():
    # No public AiSensy page documents the webhook topics (see /tmp/platform_research.md section 8); the shape,
    # data.message.contact{id, mobile, name}, is the and an integration's, unverified.
    parsed = parse(ORG, sample("aisensy_message_created_contact_mobile.json"), RECEIVED)
    assert parsed.format == "aisensy" and parsed.complete
    assert parsed.messages == [
        Message(
            org_id=ORG,
            bsp_msg_id="wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0E2QzlEMTA0RjI4QjNFNTcwOUQA",
            direction=Direction.INBOUND,
            msg_kind="TEXT",
            from_phone="+919876543210",
            body="Please share the tracking number",
            sent_at=datetime(2025, 9, 11, 8, 14, 33, tzinfo=UTC),
            receipt_id="68c2f1e0a9b8c7d6e5f40312",
        )
    ]


def test_aisensy_phone_number_still_comes_before_contact_mobile():
    # (as above: no public AiSensy page)
    doc = sample("aisensy_message_created_contact_mobile.json")
    doc["data"]["message"]["phone_number"] = "919876543299"
    [message] = parse(ORG, doc, RECEIVED).messages
    assert message.from_phone == "+919876543299"


# Gupshup


def test_gupshup_deleted_is_the_customer_revoking_their_message_not_a_status():
    # https://docs.gupshup.io/docs/message-events (message-event type union lists "deleted"); the fact is Meta's
    # On-Premises `deleted` status, https://developers.facebook.com/docs/whatsapp/on-premises/webhooks/outbound
    # (a message the customer sent, deleted by them), stored as the Cloud API stores a revoke.
    parsed = parse(ORG, sample("gupshup_v2_deleted.json"), RECEIVED)
    assert parsed.format == "gupshup" and parsed.complete and not parsed.statuses
    wamid = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0VCMDBBQjI3RkQ1QzlDRjlFNzEA"
    deleted_at = datetime(2025, 9, 17, 10, 19, 59, tzinfo=UTC)
    assert parsed.messages == [deletion(ORG, wamid, deleted_at, "+919876543210")]
    [revoke] = parsed.messages
    assert (revoke.bsp_msg_id, revoke.direction, revoke.msg_kind, revoke.ref_bsp_msg_id) == (
        f"{wamid}#deleted",
        Direction.INBOUND,
        EventKind.REVOKE.value,
        wamid,
    )


def test_gupshup_deleted_without_its_own_time_takes_the_envelope_time_and_names_the_bsuid():
    # https://docs.gupshup.io/docs/message-events ; userId as in https://partner-docs.gupshup.io/docs/bsuid
    doc = sample("gupshup_v2_deleted.json")
    doc["payload"]["payload"] = {}
    doc["payload"]["userId"] = "IN.1648738043044942"
    [revoke] = parse(ORG, doc, RECEIVED).messages
    assert (revoke.sent_at, revoke.from_phone, revoke.customer_user_id) == (
        datetime(2025, 9, 17, 10, 20, 0, tzinfo=UTC),
        "+919876543210",
        "IN.1648738043044942",
    )


def test_gupshup_deleted_without_an_id_is_skipped_and_named():
    # https://docs.gupshup.io/docs/message-events
    doc = sample("gupshup_v2_deleted.json")
    del doc["payload"]["id"]
    parsed = parse(ORG, doc, RECEIVED)
    assert parsed.empty and parsed.errors == ["payload: id is missing"] and not parsed.complete


def test_a_twilio_external_user_id_with_the_channel_prefix_is_read():
    # RapidPro's courier posts ExternalUserId=whatsapp:US.1234 (handlers/twiml tests): the prefix is the channel's
    bsuid = "whatsapp:US.13491208655302741918"
    form = [("AccountSid", "AC" + "0" * 32), ("MessageSid", "SM1"), ("SmsStatus", "received"), ("Body", "hi"),
            ("From", bsuid), ("ExternalUserId", bsuid)]  # fmt: skip
    parsed = parse_form(uuid.uuid4(), form, datetime(2026, 1, 1, tzinfo=UTC))
    assert parsed.complete and parsed.messages[0].customer_user_id == "US.13491208655302741918"
