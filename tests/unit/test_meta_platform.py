"""Meta's other webhook fields and the platform's 2025-26 changes, parsed from the doc-based samples in
tests/payloads/platform/ (each test cites the page its sample follows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetick.events import (
    AccountUpdate,
    Direction,
    GroupReceipt,
    IdentityLink,
    Message,
    Preference,
    Pricing,
    StatusEvent,
    TemplateUpdate,
)
from bluetick.payloads import Parsed, parse, parse_form
from tests.conftest import payload
from tests.strategies import FORMAT_DOCS, TWILIO_FORM

ORG = uuid.UUID("00000000-0000-4000-8000-000000000023")
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # when the body was received
DOCS = "https://developers.facebook.com/documentation/business-messaging/whatsapp"
BUSINESS = "+15557654321"
GROUP = "Y2FwaV9ncm91cDoxNTU1NzY1NDMyMToxMjAzNjM0MDQ2OTQyMzM4MjAZD"
GROUP_MSG = "wamid.HBgjY2FwaV9ncm91cDoxNTU1NzY1NDMyMRUCABEYEjNFQjBDNzYyRDk4QTE0NkYyOQA="


def sample(name: str) -> dict[str, Any]:
    return payload(f"platform/{name}")


def parsed(name: str) -> Parsed:
    return parse(ORG, sample(name), AT)


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def value_of(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = doc["entry"][0]["changes"][0]["value"]
    return found


def only_facts(result: Parsed) -> list[Any]:
    assert result.format == "meta"
    assert (result.statuses, result.messages, result.errors, result.unread) == ([], [], [], [])
    return list(result.facts)


# user_preferences: {DOCS}/webhooks/reference/user_preferences


def test_a_stop_preference_is_read_with_the_customer_phone_and_bsuid() -> None:
    # {DOCS}/webhooks/reference/user_preferences (BSUID era: user_id beside wa_id)
    assert only_facts(parsed("meta_user_preferences_stop.json")) == [
        Preference(
            org_id=ORG,
            ts=at(1756214530),
            preference="stop",
            category="marketing_messages",
            customer_phone="+919876543210",
            customer_user_id="IN.20583917746102958371",
            detail="User requested to stop marketing messages",
        )
    ]


def test_a_resume_preference_is_read_with_the_phone_alone() -> None:
    # {DOCS}/webhooks/reference/user_preferences (the doc's own example: contacts[] with wa_id only)
    assert only_facts(parsed("meta_user_preferences_resume.json")) == [
        Preference(
            org_id=ORG,
            ts=at(1756301122),
            preference="resume",
            category="marketing_messages",
            customer_phone="+16505551234",
            detail="User requested to resume marketing messages",
        )
    ]


def test_a_malformed_preference_is_skipped_and_named_while_the_good_ones_are_kept() -> None:
    # {DOCS}/webhooks/reference/user_preferences
    doc = sample("meta_user_preferences_stop.json")
    good = value_of(doc)["user_preferences"][0]
    username_only = {**good, "wa_id": None, "value": "RESUME", "timestamp": 1756214600}
    value_of(doc)["user_preferences"] = [
        good,
        {**good, "wa_id": "123"},
        {k: v for k, v in good.items() if k != "value"},
        {k: v for k, v in good.items() if k not in ("wa_id", "user_id")},
        {**good, "timestamp": None},
        "stop",
        username_only,
    ]
    result = parse(ORG, doc, AT)
    where = "entry[0].changes[0].value.user_preferences"
    assert result.errors == [
        f"{where}[1]: wa_id is not a phone number",
        f"{where}[2]: value and category must be short texts",
        f"{where}[3]: names no customer (wa_id or user_id)",
        f"{where}[4]: timestamp is missing",
        f"{where}[5]: user_preference must be an object",
    ]
    assert [(f.preference, f.customer_phone, f.customer_user_id) for f in result.facts] == [
        ("stop", "+919876543210", "IN.20583917746102958371"),
        ("resume", None, "IN.20583917746102958371"),
    ]


# Template webhooks: their only time is the entry's


def test_a_template_status_update_is_read_at_the_entry_time() -> None:
    # {DOCS}/webhooks/reference/message_template_status_update
    doc = sample("meta_template_status_update.json")
    assert only_facts(parse(ORG, doc, AT)) == [
        TemplateUpdate(
            org_id=ORG,
            template_id="1184502297736401",
            field="status",
            value="REJECTED",
            ts=at(1755872044),
            name="order_shipped_v3",
            language="en_US",
            reason="INCORRECT_CATEGORY",
            detail=value_of(doc),
        )
    ]


def test_a_template_quality_update_is_read() -> None:
    # {DOCS}/webhooks/reference/message_template_quality_update
    doc = sample("meta_template_quality_update.json")
    assert only_facts(parse(ORG, doc, AT)) == [
        TemplateUpdate(
            org_id=ORG,
            template_id="1184502297736401",
            field="quality",
            value="YELLOW",
            ts=at(1756480211),
            name="order_shipped_v3",
            language="en_US",
            detail=value_of(doc),
        )
    ]


def test_a_template_category_update_is_read() -> None:
    # {DOCS}/webhooks/reference/template_category_update (completed change: previous_category, new_category)
    doc = sample("meta_template_category_update.json")
    assert only_facts(parse(ORG, doc, AT)) == [
        TemplateUpdate(
            org_id=ORG,
            template_id="1029384756102938",
            field="category",
            value="MARKETING",
            ts=at(1757003390),
            name="cart_reminder",
            language="en_US",
            detail=value_of(doc),
        )
    ]


def test_a_category_change_notice_keeps_the_current_category_and_the_coming_one_in_detail() -> None:
    # {DOCS}/webhooks/reference/template_category_update (a day's notice: correct_category is the category to
    # come, new_category the current one)
    doc = sample("meta_template_category_update.json")
    notice = {**value_of(doc), "correct_category": "MARKETING", "new_category": "UTILITY"}
    notice["category_update_timestamp"] = 1757089790
    del notice["previous_category"]
    doc["entry"][0]["changes"][0]["value"] = notice
    (update,) = only_facts(parse(ORG, doc, AT))
    assert (update.value, update.detail) == ("UTILITY", notice)


def test_a_template_update_without_an_entry_time_takes_the_time_received() -> None:
    # {DOCS}/webhooks/reference/message_template_status_update (entry.time is the only time)
    doc = sample("meta_template_status_update.json")
    del doc["entry"][0]["time"]
    (update,) = only_facts(parse(ORG, doc, AT))
    assert update.ts == AT


def test_a_template_update_without_its_id_is_skipped_and_named() -> None:
    # {DOCS}/webhooks/reference/message_template_status_update
    doc = sample("meta_template_status_update.json")
    del value_of(doc)["message_template_id"]
    result = parse(ORG, doc, AT)
    assert result.facts == [] and result.errors == ["entry[0].changes[0]: message_template_id is missing"]


# Account and phone number events: kept whole


def test_an_account_update_is_kept_whole() -> None:
    # {DOCS}/webhooks/reference/account_update
    doc = sample("meta_account_update.json")
    assert only_facts(parse(ORG, doc, AT)) == [
        AccountUpdate(org_id=ORG, field="account_update", ts=at(1757310877), event="ACCOUNT_VIOLATION",
                      detail=value_of(doc))
    ]  # fmt: skip


def test_a_phone_number_quality_update_is_kept_whole() -> None:
    # {DOCS}/webhooks/reference/phone_number_quality_update
    doc = sample("meta_phone_number_quality_update.json")
    assert only_facts(parse(ORG, doc, AT)) == [
        AccountUpdate(org_id=ORG, field="phone_number_quality_update", ts=at(1757408800), event="UPGRADE",
                      detail=value_of(doc))
    ]  # fmt: skip


# Fields not read: noted, so the body is kept in the inbox


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("meta_calls.json", "calls"),  # {DOCS}/business-scoped-user-ids/ (calls webhooks)
        ("meta_history.json", "history"),  # {DOCS}/business-scoped-user-ids/ (history webhooks)
        ("meta_smb_app_state_sync.json", "smb_app_state_sync"),  # {DOCS}/webhooks/reference/smb_app_state_sync
    ],
)
def test_a_field_not_read_is_noted_so_its_body_is_kept(name: str, field: str) -> None:
    result = parsed(name)
    assert result.empty and result.errors == []
    assert result.unread == [f"entry[0].changes[0]: field '{field}' is not read"]
    assert not result.complete


def test_the_statuses_of_a_call_are_never_read_as_message_statuses() -> None:
    # {DOCS}/business-scoped-user-ids/ (business-initiated call statuses: id wacid.*, type call)
    result = parsed("meta_calls.json")
    assert value_of(sample("meta_calls.json"))["statuses"] and result.statuses == []


def test_a_messages_change_of_errors_only_is_noted_with_its_error() -> None:
    # {DOCS}/webhooks/reference/messages/errors
    result = parsed("meta_messages_errors_only.json")
    assert result.empty and result.errors == []
    assert result.unread == [
        "entry[0].changes[0].value.errors: not read (Error 131000: Something went wrong - Something went wrong "
        "(Message failed to send due to an unknown error. Try again later.))"
    ]


def test_errors_beside_statuses_are_noted_and_the_statuses_read() -> None:
    # {DOCS}/webhooks/reference/messages/errors and .../messages/status/
    doc = sample("meta_messages_errors_only.json")
    value_of(doc)["statuses"] = value_of(sample("meta_status_pmp_regular.json"))["statuses"]
    result = parse(ORG, doc, AT)
    assert [s.status for s in result.statuses] == ["delivered"]
    assert len(result.unread) == 1 and "Error 131000" in result.unread[0]


# Groups: one status per participant, merged into the message's row, each participant's receipt kept beside it


def test_group_statuses_merge_into_the_message_and_keep_each_participants_receipt() -> None:
    # {DOCS}/business-scoped-user-ids/ ("Status messages webhooks for groups")
    result = parsed("meta_group_status_delivered.json")
    assert (result.messages, result.errors, result.unread) == ([], [], [])
    utility = Pricing(billable=True, model="pmp", category="utility", type="regular")
    assert result.statuses == [
        StatusEvent(org_id=ORG, bsp_msg_id=GROUP_MSG, status="delivered", ts=at(1757700031), pricing=utility),
        StatusEvent(org_id=ORG, bsp_msg_id=GROUP_MSG, status="delivered", ts=at(1757700034), pricing=utility),
    ]
    assert result.facts == [
        GroupReceipt(org_id=ORG, bsp_msg_id=GROUP_MSG, status="delivered", ts=at(1757700031), group_id=GROUP,
                     participant_phone="+16505551234", participant_user_id="US.13491208655302741918",
                     participant_parent_user_id="US.ENT.11815799212886844830"),
        GroupReceipt(org_id=ORG, bsp_msg_id=GROUP_MSG, status="delivered", ts=at(1757700034), group_id=GROUP,
                     participant_user_id="IN.20583917746102958371",
                     participant_parent_user_id="IN.ENT.30917264518830027461"),
    ]  # fmt: skip


def test_a_group_read_is_a_status_and_the_participants_receipt() -> None:
    # {DOCS}/business-scoped-user-ids/ ("Status messages webhooks for groups")
    result = parsed("meta_group_status_read.json")
    assert result.statuses == [StatusEvent(org_id=ORG, bsp_msg_id=GROUP_MSG, status="read", ts=at(1757700410))]
    assert result.facts == [
        GroupReceipt(org_id=ORG, bsp_msg_id=GROUP_MSG, status="read", ts=at(1757700410), group_id=GROUP,
                     participant_phone="+16505551234", participant_user_id="US.13491208655302741918",
                     participant_parent_user_id="US.ENT.11815799212886844830"),
    ]  # fmt: skip


def test_a_group_status_naming_no_participant_is_stored_and_noted() -> None:
    # {DOCS}/business-scoped-user-ids/ ("Status messages webhooks for groups")
    doc = sample("meta_group_status_read.json")
    for key in ("recipient_participant_id", "recipient_participant_user_id"):
        del value_of(doc)["statuses"][0][key]
    result = parse(ORG, doc, AT)
    assert len(result.statuses) == 1 and result.facts == []
    assert result.unread == ["entry[0].changes[0].value.statuses[0]: a group status that names no participant"]


def test_an_inbound_group_message_keeps_its_group() -> None:
    # {DOCS}/webhooks/reference/messages/group/
    result = parsed("meta_group_inbound.json")
    assert (result.statuses, result.facts, result.errors, result.unread) == ([], [], [], [])
    assert result.messages == [
        Message(
            org_id=ORG,
            bsp_msg_id="wamid.HBgjY2FwaV9ncm91cDoxNTU1NzY1NDMyMRUCABIYFDNBN0Y5QzJFMTE0QjZEMDg4RjE1AA==",
            direction=Direction.INBOUND,
            msg_kind="TEXT",
            to_phone=BUSINESS,
            from_phone="+16505551234",
            body="Thanks, got the tracking link.",
            sent_at=at(1757700902),
            customer_user_id="US.13491208655302741918",
            group_id=GROUP,
        )
    ]


# BSUIDs: parent ids, and one customer across an identifier change


def test_an_inbound_message_keeps_the_customers_parent_bsuid() -> None:
    # {DOCS}/business-scoped-user-ids/ (messages[].from_parent_user_id, contacts[].parent_user_id)
    result = parsed("meta_inbound_with_parent_user_id.json")
    assert (result.statuses, result.facts, result.errors, result.unread) == ([], [], [], [])
    assert result.messages == [
        Message(
            org_id=ORG,
            bsp_msg_id="wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRCNjU5OUFFRTAzODEwMTQ0RgA=",
            direction=Direction.INBOUND,
            msg_kind="TEXT",
            to_phone=BUSINESS,
            body="Where is my package?",
            sent_at=at(1758003311),
            customer_user_id="US.13491208655302741918",
            customer_parent_user_id="US.ENT.11815799212886844830",
        )
    ]


def test_a_parent_bsuid_named_only_by_the_contact_is_read() -> None:
    # {DOCS}/business-scoped-user-ids/ (contacts[].parent_user_id, matched as contacts[].user_id is)
    doc = sample("meta_inbound_with_parent_user_id.json")
    del value_of(doc)["messages"][0]["from_parent_user_id"]
    (message,) = parse(ORG, doc, AT).messages
    assert message.customer_parent_user_id == "US.ENT.11815799212886844830"


@pytest.mark.parametrize("field", ["parent_recipient_user_id", "parent_user_id", "recipient_parent_user_id"])
def test_a_status_reads_the_parent_bsuid_under_each_of_its_documented_names(field: str) -> None:
    # {DOCS}/webhooks/reference/messages/status/ (syntax, field list and examples disagree on the name)
    doc = sample("meta_status_pmp_regular.json")
    value_of(doc)["statuses"][0][field] = "US.ENT.11815799212886844830"
    (event,) = parse(ORG, doc, AT).statuses
    assert event.parent_user_id == "US.ENT.11815799212886844830"


def test_a_changed_number_links_the_old_and_new_phone_and_bsuid() -> None:
    # {DOCS}/webhooks/reference/messages/system/ (user_changed_number: from is the old phone, wa_id the new;
    # previous_user_id the old BSUID)
    result = parsed("meta_system_user_changed_number.json")
    (message,) = result.messages
    assert (message.msg_kind, message.from_phone, result.errors, result.unread) == ("SYSTEM", "+919876543210", [], [])
    msg_id = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgUM0E0RDlCMjdDNzE4RjAwNkE5QjQA"
    assert result.facts == [
        IdentityLink(ORG, "phone", "+919876543210", "+919812345678", at(1757801004), msg_id),
        IdentityLink(ORG, "user_id", "IN.20583917746102958371", "IN.48210573390128846127", at(1757801004), msg_id),
    ]


def test_a_changed_user_id_links_the_old_and_new_bsuid() -> None:
    # {DOCS}/webhooks/reference/messages/system/ (user_changed_user_id: no phone to share)
    result = parsed("meta_system_user_changed_user_id.json")
    (message,) = result.messages
    assert (message.msg_kind, message.customer_user_id) == ("SYSTEM", "US.13491208655302741918")
    msg_id = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQThDMTE5RTA0QjdGMjVEOTE2MwA="
    assert result.facts == [
        IdentityLink(ORG, "user_id", "US.13491208655302741918", "US.70264913385017722649", at(1757902217), msg_id)
    ]


def test_a_changed_user_id_without_previous_user_id_links_the_senders() -> None:
    # {DOCS}/webhooks/reference/messages/system/ (previous_user_id was added on Aug 11 2026)
    doc = sample("meta_system_user_changed_user_id.json")
    del value_of(doc)["messages"][0]["system"]["previous_user_id"]
    (link,) = parse(ORG, doc, AT).facts
    assert isinstance(link, IdentityLink)
    assert (link.old_id, link.new_id) == ("US.13491208655302741918", "US.70264913385017722649")


def test_a_changed_number_naming_no_new_identifier_is_stored_and_noted() -> None:
    # {DOCS}/webhooks/reference/messages/system/
    doc = sample("meta_system_user_changed_number.json")
    system = value_of(doc)["messages"][0]["system"]
    value_of(doc)["messages"][0]["system"] = {"body": system["body"], "type": system["type"]}
    result = parse(ORG, doc, AT)
    assert len(result.messages) == 1 and result.facts == []
    assert result.unread == [
        "entry[0].changes[0].value.messages[0]: system user_changed_number names no old and new identifier to link"
    ]


# Tolerance


@pytest.mark.parametrize("timestamp", [None, "", "soon", [1]])
def test_a_customer_message_with_an_unreadable_time_takes_the_time_received_and_is_noted(timestamp: object) -> None:
    # {DOCS}/webhooks/reference/messages/ (messages[].timestamp)
    doc = sample("meta_group_inbound.json")
    value_of(doc)["messages"][0]["timestamp"] = timestamp
    result = parse(ORG, doc, AT)
    (message,) = result.messages
    assert message.sent_at == AT and result.errors == []
    assert len(result.unread) == 1 and result.unread[0].startswith("entry[0].changes[0].value.messages[0]: timestamp")


def test_a_customer_message_from_the_future_is_still_refused() -> None:
    # {DOCS}/webhooks/reference/messages/
    doc = sample("meta_group_inbound.json")
    value_of(doc)["messages"][0]["timestamp"] = str(int((datetime.now(UTC) + timedelta(days=1)).timestamp()))
    result = parse(ORG, doc, AT)
    assert result.messages == [] and len(result.errors) == 1 and "in the future" in result.errors[0]


def test_an_on_premises_deleted_status_is_stored_as_the_revoke_it_stands_for() -> None:
    # https://developers.facebook.com/docs/whatsapp/on-premises/webhooks/outbound (status deleted: the customer
    # deleted a message they sent)
    result = parsed("onprem_status_deleted.json")
    assert (result.format, result.statuses, result.facts, result.errors) == ("flat", [], [], [])
    assert result.messages == [
        Message(
            org_id=ORG,
            bsp_msg_id="gBEGkZiHZUMhAglDW5ulzmBYVtw#deleted",
            direction=Direction.INBOUND,
            msg_kind="REVOKE",
            from_phone="+919876543210",
            sent_at=at(1754903120),
            ref_bsp_msg_id="gBEGkZiHZUMhAglDW5ulzmBYVtw",
        )
    ]


def test_a_deleted_status_in_a_cloud_envelope_is_a_revoke_too() -> None:
    # https://developers.facebook.com/docs/whatsapp/on-premises/webhooks/outbound and {DOCS}/webhooks/reference/
    # messages/revoke (the Cloud API's revoke: an inbound message about the original)
    doc = sample("meta_revoke.json")
    original = value_of(doc)["messages"][0]["revoke"]["original_message_id"]
    value_of(doc)["statuses"] = [
        {"id": original, "status": "deleted", "timestamp": "1758105020", "recipient_id": "919876543210"}
    ]
    result = parse(ORG, doc, AT)
    assert result.statuses == [] and result.errors == []
    deleted, revoke = result.messages  # statuses are read before messages
    assert (revoke.msg_kind, revoke.ref_bsp_msg_id, revoke.from_phone) == ("REVOKE", original, "+919876543210")
    assert (deleted.msg_kind, deleted.ref_bsp_msg_id, deleted.from_phone) == ("REVOKE", original, "+919876543210")
    assert deleted.bsp_msg_id == f"{original}#deleted"


# Per-message pricing (since July 2025): {DOCS}/webhooks/reference/messages/status/ and {DOCS}/pricing


def test_a_pmp_status_without_billable_reads_its_type_and_category() -> None:
    # {DOCS}/webhooks/reference/messages/status/ (billable deprecated, may be absent)
    (event,) = parsed("meta_status_pmp_regular.json").statuses
    assert event.pricing == Pricing(billable=None, model="pmp", category="marketing_lite", type="regular")


def test_a_free_customer_service_status_is_read_as_not_billable() -> None:
    # {DOCS}/pricing (free_customer_service)
    (event,) = parsed("meta_status_pmp_free_service.json").statuses
    assert event.pricing == Pricing(billable=False, model="pmp", category="service", type="free_customer_service")


# Total: the fuzz skeletons of every shape above (tests/strategies.py) never make a parser raise


@given(doc=FORMAT_DOCS)
def test_any_body_of_the_known_shapes_parses_into_facts_of_its_org(doc: Any) -> None:
    result = parse(ORG, doc, AT)
    for fact in result.facts:
        assert fact.org_id == ORG and fact.ts.utcoffset() == timedelta(0)


@given(form=TWILIO_FORM, org=st.uuids(version=4))
def test_any_twilio_like_form_parses_without_raising(form: list[tuple[str, str]], org: uuid.UUID) -> None:
    result = parse_form(org, form, AT)
    assert all(e.org_id == org for e in [*result.statuses, *result.messages])


def envelope(field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}],
    }


# pywa's outgoing edit and delete echoes (tests/data): an echoed edit or revoke names the message it is about
@pytest.mark.parametrize(("kind", "content"), [("edit", {"original_message_id": "wamid.zzzzzz",
                                                          "message": {"type": "text", "text": {"body": "new"}}}),
                                                 ("revoke", {"original_message_id": "wamid.zzzzzz"})])  # fmt: skip
def test_an_echoed_edit_or_revoke_names_the_message_it_is_about(kind: str, content: dict[str, Any]):
    echo = {"from": "15557654321", "to": "16505551234", "id": "wamid.echo1", "timestamp": "1750000000", "type": kind,
            kind: content}  # fmt: skip
    parsed = parse(ORG, envelope("smb_message_echoes", {"message_echoes": [echo]}), AT)
    [message] = parsed.messages
    assert (message.msg_kind, message.ref_bsp_msg_id) == (kind.upper(), "wamid.zzzzzz") and parsed.complete


def test_a_from_user_id_that_is_not_a_bsuid_is_noted_so_the_body_is_kept():
    item = {"from": "", "from_user_id": "user.93731", "id": "wamid.u1", "timestamp": "1750000000", "type": "text",
            "text": {"body": "hi"}}  # fmt: skip
    parsed = parse(ORG, envelope("messages", {"messages": [item]}), AT)
    assert parsed.messages[0].customer_user_id is None
    assert parsed.unread == ["entry[0].changes[0].value.messages[0].from_user_id: not a WhatsApp user id"]
