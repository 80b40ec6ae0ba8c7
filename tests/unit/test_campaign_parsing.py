"""Issue 25, parsing: a logged message's template and campaign, and what a reply or a tap says about the message it
answers (docs/design.md, Replies and clicks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bluetick.events import Message
from bluetick.payloads import gupshup, interakt, meta, wati
from bluetick.payloads.api import parse_message
from bluetick.payloads.common import MAX_LABEL_CHARS, ItemError
from tests.conftest import payload

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000c5")
NOW = datetime(2024, 12, 4, 12, 0, tzinfo=UTC)
CAMPAIGN_MSG = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQ0FNUEFJR04wMDAxAA=="


def logged(**extra: Any) -> dict[str, Any]:
    return {"bsp_msg_id": "m1", "to_phone": "+919876543210", **extra}


def test_template_and_campaign_fill_the_message_and_its_json():
    message = parse_message(
        ORG,
        logged(
            template={"name": " diwali_offer ", "language": "en_US", "category": "MARKETING"},
            campaign={"id": "cmp-42", "name": "Diwali 2024"},
        ),
    )
    assert (message.template_name, message.template_language, message.template_category) == (
        "diwali_offer",
        "en_US",
        "MARKETING",
    )
    assert (message.campaign_id, message.campaign_name) == ("cmp-42", "Diwali 2024")
    doc = message.to_json()
    assert {k: doc[k] for k in ("template_name", "campaign_id", "campaign_name")} == {
        "template_name": "diwali_offer",
        "campaign_id": "cmp-42",
        "campaign_name": "Diwali 2024",
    }


def test_a_campaign_may_be_its_id_alone_and_both_are_optional():
    message = parse_message(ORG, logged(campaign="cmp-7", template={"name": "order_update"}))
    assert (message.campaign_id, message.campaign_name, message.template_language) == ("cmp-7", None, None)
    bare = parse_message(ORG, logged())
    assert (bare.template_name, bare.campaign_id) == (None, None)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"template": "order_update"}, "template"),
        ({"template": ["order_update"]}, "template"),
        ({"template": {"language": "en"}}, "template.name"),
        ({"template": {"name": 7}}, "template.name"),
        ({"template": {"name": "x" * (MAX_LABEL_CHARS + 1)}}, "template.name"),
        ({"template": {"name": "ok", "language": {"code": "en"}}}, "template.language"),
        ({"template": {"name": "ok", "category": "c" * (MAX_LABEL_CHARS + 1)}}, "template.category"),
        ({"template": {"name": "   "}}, "template.name"),
        ({"campaign": 42}, "campaign"),
        ({"campaign": ""}, "campaign"),
        ({"campaign": "c" * (MAX_LABEL_CHARS + 1)}, "campaign"),
        ({"campaign": {"name": "Diwali"}}, "campaign.id"),
        ({"campaign": {"id": ["x"]}}, "campaign.id"),
        ({"campaign": {"id": "ok", "name": "n" * (MAX_LABEL_CHARS + 1)}}, "campaign.name"),
    ],
)
def test_a_bad_template_or_campaign_is_refused_naming_the_field(extra: dict[str, Any], named: str):
    with pytest.raises(ItemError) as exc:
        parse_message(ORG, logged(**extra))
    assert str(exc.value).startswith(f"{named} ")


def test_the_longest_label_is_accepted():
    longest = "x" * MAX_LABEL_CHARS
    message = parse_message(ORG, logged(template={"name": longest}, campaign={"id": longest, "name": longest}))
    assert message.template_name == message.campaign_id == message.campaign_name == longest


def statuses(parsed: Any) -> list[tuple[str, str, datetime]]:
    return [(s.bsp_msg_id, s.status, s.ts) for s in parsed.statuses]


def only(parsed: Any) -> Message:
    assert not parsed.errors and not parsed.unread
    [message] = parsed.messages
    return message


def test_a_meta_reply_points_at_its_message_and_marks_it_replied():
    parsed = meta.parse(ORG, payload("campaigns/meta_reply_text.json"), NOW)
    message = only(parsed)
    assert (message.ref_bsp_msg_id, message.body, message.metadata) == (CAMPAIGN_MSG, "Is this still on?", None)
    assert statuses(parsed) == [(CAMPAIGN_MSG, "replied", datetime.fromtimestamp(1733300000, UTC))]


@pytest.mark.parametrize(
    ("name", "title", "tapped"),
    [
        ("meta_quick_reply_button.json", "Shop now", "SHOP_NOW"),
        ("meta_interactive_button_reply.json", "Yes please", "yes_please"),
        ("meta_interactive_list_reply.json", "Medium", "size_m"),
    ],
)
def test_a_meta_tap_marks_its_message_replied_and_clicked_and_keeps_its_payload(name: str, title: str, tapped: str):
    parsed = meta.parse(ORG, payload(f"campaigns/{name}"), NOW)
    message = only(parsed)
    assert (message.ref_bsp_msg_id, message.body, message.metadata) == (CAMPAIGN_MSG, title, {"button_payload": tapped})
    assert [(i, s) for i, s, _ in statuses(parsed)] == [(CAMPAIGN_MSG, "replied"), (CAMPAIGN_MSG, "clicked")]
    assert {ts for *_, ts in statuses(parsed)} == {message.sent_at}


def test_a_forwarded_message_or_a_reaction_marks_nothing():
    doc = payload("campaigns/meta_reply_text.json")
    item = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    item["context"] = {"forwarded": True}
    parsed = meta.parse(ORG, doc, NOW)
    assert only(parsed).ref_bsp_msg_id is None and parsed.statuses == []
    item.pop("context")
    item.update(type="reaction", reaction={"message_id": CAMPAIGN_MSG, "emoji": "+"})
    parsed = meta.parse(ORG, doc, NOW)
    assert only(parsed).ref_bsp_msg_id == CAMPAIGN_MSG and parsed.statuses == []


def test_an_unusable_context_id_is_ignored_and_the_reply_kept():
    doc = payload("campaigns/meta_quick_reply_button.json")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["context"]["id"] = {"not": "an id"}
    parsed = meta.parse(ORG, doc, NOW)
    message = only(parsed)
    assert message.ref_bsp_msg_id is None and message.metadata == {"button_payload": "SHOP_NOW"}
    assert parsed.statuses == []


def test_gupshup_v2_context_marks_the_message_under_both_its_ids():
    reply = gupshup.parse(ORG, payload("campaigns/gupshup_v2_reply_context.json"), NOW)
    assert only(reply).ref_bsp_msg_id == "gBEGkYaYVSEEAgnPFrOLcjkFjL8"
    ids = ["gBEGkYaYVSEEAgnPFrOLcjkFjL8", "9b71295f-f7af-4c1f-b2b4-31b4a4867bad"]
    assert [(i, s) for i, s, _ in statuses(reply)] == [(i, "replied") for i in ids]
    tap = gupshup.parse(ORG, payload("campaigns/gupshup_v2_button_reply.json"), NOW)
    assert only(tap).metadata == {"button_payload": "yes_pb"} and only(tap).body == "Yes"
    assert [(i, s) for i, s, _ in statuses(tap)] == [(i, s) for i in ids for s in ("replied", "clicked")]


def test_wati_replied_is_the_replied_key_under_both_ids():
    parsed = wati.parse(ORG, payload("campaigns/wati_sent_message_replied.json"), NOW)
    assert {s for _, s, _ in statuses(parsed)} == {"replied"} and len(parsed.statuses) == 2


def test_an_interakt_click_is_the_clicked_key_at_its_click_time():
    parsed = interakt.parse(ORG, payload("campaigns/interakt_api_clicked.json"), NOW)
    assert not parsed.unread and not parsed.errors and parsed.messages == []
    found = {s.status: s.ts for s in parsed.statuses}
    assert {s.bsp_msg_id for s in parsed.statuses} == {"f6f22110-9eab-4282-9b2c-673c3bbaa0fa"}
    assert found == {
        "delivered": datetime(2024, 6, 10, 8, 37, 48, tzinfo=UTC),
        "read": datetime(2024, 6, 10, 8, 38, 5, tzinfo=UTC),
        "clicked": datetime(2024, 6, 10, 8, 38, 8, tzinfo=UTC),
    }


# ------------------------------------------------------------------- a webhook's template and campaign (rule 11)


def test_wati_template_name_travels_with_both_ids_and_a_bad_one_is_noted_not_fatal():
    doc = payload("campaigns/wati_template_message_sent.json")
    parsed = wati.parse(ORG, doc, NOW)
    assert [(s.bsp_msg_id, s.status, s.template_name) for s in parsed.statuses] == [
        ("0c3f9a52-7d1e-4b8a-9f60-2e5d7c4b1a93", "sent", "order_shipped"),
        ("wamid.HBgMOTE5ODc2NTQzMjEyFQIAERgSV0FUSVRFTVBMQVRFMDAxAA==", "sent", "order_shipped"),
    ]
    assert parsed.statuses[0].to_json()["template_name"] == "order_shipped"
    for bad in ("x" * (MAX_LABEL_CHARS + 1), 42, "   "):
        parsed = wati.parse(ORG, {**doc, "templateName": bad}, NOW)
        assert [s.template_name for s in parsed.statuses] == [None, None] and not parsed.errors
        assert parsed.unread == [f"templateName: not a string of 1 to {MAX_LABEL_CHARS} characters"]


def test_interakt_campaign_id_and_raw_template_travel_with_each_stage():
    parsed = interakt.parse(ORG, payload("campaigns/interakt_campaign_delivered.json"), NOW)
    assert [(s.status, s.campaign_id, s.template_name, s.template_language) for s in parsed.statuses] == [
        ("delivered", "7c2e4f60-1b3d-4e5f-a6b7-c8d9e0f1a2b3", "winter_sale", "hi")
    ]


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"language": "en"}', '{"name": ""}', "{", None, 7])
def test_an_unreadable_interakt_raw_template_leaves_the_template_out_and_the_status_in(raw: Any):
    doc = payload("campaigns/interakt_campaign_delivered.json")
    doc["data"]["message"]["raw_template"] = raw
    doc["data"]["message"]["campaign_id"] = None
    parsed = interakt.parse(ORG, doc, NOW)
    assert [(s.status, s.campaign_id, s.template_name) for s in parsed.statuses] == [("delivered", None, None)]
    assert not parsed.errors


def test_an_interakt_raw_template_is_read_by_the_house_json_reader():
    """jsoncodec reads what the standard library reads, a lone surrogate escape included (orjson alone refuses it)."""
    doc = payload("campaigns/interakt_campaign_delivered.json")
    doc["data"]["message"]["raw_template"] = '{"name": "promo", "language": "en", "category": "\\ud800"}'
    parsed = interakt.parse(ORG, doc, NOW)
    assert [(s.template_name, s.template_language) for s in parsed.statuses] == [("promo", "en")]
