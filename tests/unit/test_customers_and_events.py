"""Customers by phone, BSUID or both; events about other messages; pricing: parsed without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bluetick.events import Direction, EventKind, Pricing
from bluetick.payloads import parse
from bluetick.payloads.api import parse_message
from bluetick.payloads.common import ItemError, user_id

ORG = uuid.UUID("00000000-0000-4000-8000-000000000002")
EPOCH = 1727951400
BSUID = "IN.2081978709342942"


def envelope(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881"}, **value}
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}


def customer_message(**fields: Any) -> dict[str, Any]:
    return {"id": "wamid.IN1", "timestamp": str(EPOCH), "type": "text", "text": {"body": "hi"}, **fields}


@pytest.mark.parametrize("value", [BSUID, "US.ENT.11815799212886844830", "BR.1502576394655843", " IN.1 "])
def test_user_id_takes_bsuids_and_parent_bsuids(value: str):
    assert user_id(value) == value.strip()


@pytest.mark.parametrize("value", ["919876543210", "in.123", "IN.", "IND.123", "IN.12-3", "IN." + "1" * 129, 42])
def test_user_id_refuses_what_is_not_a_bsuid(value: Any):
    with pytest.raises(ItemError, match="to_user_id is not a WhatsApp user id"):
        user_id(value, "to_user_id")


def test_a_username_only_customer_message_carries_the_contacts_bsuid():
    doc = envelope(
        {"contacts": [{"profile": {"username": "@asha"}, "user_id": BSUID}], "messages": [customer_message()]}
    )
    [message] = parse(ORG, doc).messages
    assert (message.from_phone, message.customer_user_id) == (None, BSUID)


def test_a_customer_with_phone_and_bsuid_keeps_both():
    contacts = [{"wa_id": "919876543210", "user_id": BSUID}, {"wa_id": "919812345678", "user_id": "IN.77"}]
    doc = envelope({"contacts": contacts, "messages": [customer_message(**{"from": "919812345678"})]})
    [message] = parse(ORG, doc).messages
    assert (message.from_phone, message.customer_user_id) == ("+919812345678", "IN.77")


def test_from_user_id_on_the_message_wins_and_a_malformed_one_is_ignored():
    [message] = parse(ORG, envelope({"messages": [customer_message(from_user_id=BSUID)]})).messages
    assert message.customer_user_id == BSUID
    parsed = parse(ORG, envelope({"messages": [customer_message(**{"from": "919876543210", "from_user_id": "x"})]}))
    assert (parsed.messages[0].customer_user_id, parsed.errors) == (None, [])


def test_a_status_names_the_customer_by_recipient_user_id():
    item = {"id": "wamid.OUT1", "status": "read", "timestamp": str(EPOCH), "recipient_user_id": BSUID}
    [event] = parse(ORG, envelope({"statuses": [item]})).statuses
    assert (event.status, event.user_id) == ("read", BSUID)


@pytest.mark.parametrize(
    ("item", "kind", "ref", "body"),
    [
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.OUT1", "emoji": "👍"}},
            EventKind.REACTION,
            "wamid.OUT1",
            "👍",
        ),
        ({"type": "reaction", "reaction": {"message_id": "wamid.OUT1"}}, EventKind.REACTION, "wamid.OUT1", None),
        (
            {
                "type": "edit",
                "edit": {"original_message_id": "wamid.IN0", "message": {"type": "text", "text": {"body": "fixed"}}},
            },
            EventKind.EDIT,
            "wamid.IN0",
            "fixed",
        ),
        ({"type": "revoke", "revoke": {"original_message_id": "wamid.IN0"}}, EventKind.REVOKE, "wamid.IN0", None),
        (
            {"type": "system", "system": {"body": "Asha changed their number", "type": "user_changed_number"}},
            EventKind.SYSTEM,
            None,
            "Asha changed their number",
        ),
    ],
    ids=["reaction", "reaction-removed", "edit", "revoke", "system"],
)
def test_events_about_messages_get_their_own_kind_and_the_id_they_refer_to(
    item: dict[str, Any], kind: EventKind, ref: str | None, body: str | None
):
    fields = {"from": "919876543210", "id": "wamid.EV", "timestamp": str(EPOCH), **item}
    [message] = parse(ORG, envelope({"messages": [fields]})).messages
    assert (message.msg_kind, message.ref_bsp_msg_id, message.body) == (kind.value, ref, body)
    assert message.direction is Direction.INBOUND


def test_a_reaction_that_names_no_message_is_skipped_and_named():
    item = {"from": "919876543210", "id": "wamid.EV", "timestamp": str(EPOCH), "type": "reaction", "reaction": {}}
    parsed = parse(ORG, envelope({"messages": [item]}))
    assert parsed.messages == [] and "reaction.message_id is missing" in parsed.errors[0]


def test_pricing_and_conversation_of_a_status_are_read():
    item = {
        "id": "wamid.OUT1",
        "status": "sent",
        "timestamp": str(EPOCH),
        "recipient_id": "919876543210",
        "conversation": {"id": "c0ffee", "expiration_timestamp": str(EPOCH + 86400), "origin": {"type": "marketing"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"},
    }
    [event] = parse(ORG, envelope({"statuses": [item]})).statuses
    assert event.pricing == Pricing(
        billable=True,
        model="pmp",
        category="marketing",
        type="regular",
        conversation_id="c0ffee",
        conversation_origin="marketing",
        conversation_expires_at=datetime(2024, 10, 4, 10, 30, tzinfo=UTC),
    )


def test_unusable_pricing_fields_are_left_out_and_cost_nothing_else():
    item = {
        "id": "wamid.OUT1",
        "status": "sent",
        "timestamp": str(EPOCH),
        "pricing": {"billable": "yes", "category": 7},
    }
    [event] = parse(ORG, envelope({"statuses": [item]})).statuses
    assert event.pricing is None


@pytest.mark.parametrize(
    ("doc", "customer"),
    [
        ({"to_user_id": BSUID}, (None, BSUID)),
        ({"to_phone": "+919876543210", "to_user_id": BSUID}, ("+919876543210", BSUID)),
        ({"direction": "INBOUND", "from_user_id": BSUID}, (None, BSUID)),
    ],
)
def test_the_logging_api_takes_a_phone_a_bsuid_or_both(doc: dict[str, Any], customer: tuple[str | None, str]):
    message = parse_message(ORG, {"bsp_msg_id": "wamid.X", **doc})
    phone = message.to_phone if message.direction is Direction.OUTBOUND else message.from_phone
    assert (phone, message.customer_user_id) == customer


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({}, "to_phone or to_user_id is required for an OUTBOUND message"),
        ({"direction": "INBOUND"}, "from_phone or from_user_id is required for an INBOUND message"),
        ({"to_user_id": "asha"}, "to_user_id is not a WhatsApp user id"),
        ({"direction": "INBOUND", "from_user_id": "919876543210"}, "from_user_id is not a WhatsApp user id"),
        ({"to_phone": "+919876543210", "from_user_id": BSUID}, "from_user_id does not apply to an OUTBOUND message"),
    ],
)
def test_the_logging_api_names_the_customer_field_that_is_wrong(doc: dict[str, Any], error: str):
    with pytest.raises(ItemError, match=error):
        parse_message(ORG, {"bsp_msg_id": "wamid.X", **doc})
