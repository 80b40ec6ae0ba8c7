"""Hypothesis strategies for webhook bodies: any JSON, and each format's skeleton with random leaves."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Any JSON value

KEYS = st.sampled_from(
    [
        "entry", "changes", "field", "value", "metadata", "display_phone_number", "statuses", "messages", "id",
        "messageId", "status", "timestamp", "from", "type", "text", "body", "caption", "interactive", "button_reply",
        "title", "errors", "code", "message", "error_data", "details", "topic", "created_at", "data", "phone_number",
        "message_type", "message_content", "failureResponse", "reason", "sent_at", "delivered_at", "read_at",
        "failed_at", "object", "contacts", "user_id", "from_user_id", "recipient_user_id", "wa_id", "reaction",
        "message_id", "emoji", "edit", "revoke", "original_message_id", "system", "pricing", "billable",
        "pricing_model", "category", "conversation", "origin", "expiration_timestamp", "gs_id", "gs_app_id", "app",
        "payload", "gsId", "ts", "sender", "source", "userId", "eventType", "localMessageId", "whatsappMessageId",
        "waId", "failedCode", "failedDetail", "customer", "channel_phone_number", "channel_error_code",
        "channel_failure_reason", "delivered_at_utc", "seen_at_utc", "received_at_utc", "message_echoes", "to",
        "to_user_id", "event_id", "time", "user_preferences", "recipient_type", "recipient_participant_id",
        "recipient_participant_user_id", "recipient_participant_parent_user_id", "parent_user_id",
        "parent_recipient_user_id", "recipient_parent_user_id", "from_parent_user_id", "group_id", "previous_user_id",
        "event", "message_template_id", "message_template_name", "message_template_language", "new_quality_score",
        "new_category", "correct_category", "calls", "history", "state_sync", "bsuid", "parentBsuid", "contact",
        "mobile", "destination",
    ]
)  # fmt: skip
WORDS = st.sampled_from(
    [
        "whatsapp_business_account", "messages", "message.status.updated", "message.sender.user", "sent",
        "delivered", "read", "failed", "deleted", "text", "interactive", "wamid.A", "1727951400", "1727951400000",
        "2024-10-03T10:30:00Z", "2024-10-03T16:00:00+05:30", "0001-01-01T00:00:00+05:30", "+919876543210",
        "IN.2081978709342942", "US.ENT.11815799212886844830", "reaction", "edit", "revoke", "system", "marketing",
        "message-event", "message", "enqueued", "smb_message_echoes", "message_api_read", "message_received",
        "sentMessageDELIVERED_v2", "2024-10-03T10:30:00.120000", "user_preferences", "stop", "resume",
        "message_template_status_update", "template_category_update", "account_update", "calls", "group",
        "user_changed_number", "user_changed_user_id", "message_bsuid", "whatsapp:US.13491208655302741918",
    ]
)  # fmt: skip
LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | WORDS
JSON = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)
# Arbitrary JSON rarely reaches the item parsers, so also draw each format's skeleton, its fields half
# the time plausible and half the time any leaf (deferred, so one_of does not flatten LEAVES' branches).
ANY_LEAF = st.deferred(lambda: LEAVES)


def plausible(*values: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(values), ANY_LEAF)


ID = plausible("wamid.A", "wamid.B", 42)
STAGE = plausible("sent", "delivered", "read", "failed", "deleted", "READ")
TIME = plausible(
    "1727951400", 1727951400, 1727951400000, 1727951400.5, "2024-10-03T10:30:00Z", "2024-10-03T16:00:00+05:30",
    "0001-01-01T00:00:00+05:30", 10**400, -1, "2024-10-03T10:30:00",
)  # fmt: skip
PHONE = plausible("919876543210", "+91 98765-43210", 16505551234, "123")
BSUID = plausible("IN.2081978709342942", "US.ENT.11815799212886844830", "IN.", "919876543210")
GROUP_ID = plausible("Y2FwaV9ncm91cDoxNTU1NzY1NDMyMToxMjAzNjM0MDQ2OTQyMzM4MjAZD", 42)
PRICING = st.fixed_dictionaries(
    {},
    optional={
        "billable": plausible(True, False),
        "pricing_model": plausible("PMP", "CBP"),
        "type": plausible("regular", "free_customer_service", "free_entry_point"),
        "category": plausible("marketing_lite", "authentication_international", "referral_conversion", "service"),
    },
)
STATUS_ITEM = st.fixed_dictionaries(
    {"id": ID, "status": STAGE, "timestamp": TIME},
    optional={
        "errors": JSON,
        "recipient_id": PHONE | GROUP_ID,
        "recipient_user_id": BSUID,
        "pricing": PRICING | JSON,
        "conversation": JSON,
        "type": plausible("call"),
        # groups (one status per participant) and the parent BSUID's three spellings in Meta's docs
        "recipient_type": plausible("group", "individual"),
        "recipient_participant_id": PHONE,
        "recipient_participant_user_id": BSUID,
        "recipient_participant_parent_user_id": BSUID,
        "recipient_parent_user_id": BSUID,
        "parent_recipient_user_id": BSUID,
        "parent_user_id": BSUID,
    },
)
CONTACT = st.fixed_dictionaries(
    {}, optional={"wa_id": PHONE, "user_id": BSUID, "parent_user_id": BSUID, "profile": JSON}
)
SYSTEM = st.fixed_dictionaries(
    {"body": ANY_LEAF},
    optional={
        "type": plausible("user_changed_number", "user_changed_user_id", "customer_changed_number"),
        "wa_id": PHONE,
        "user_id": BSUID,
        "previous_user_id": BSUID,
        "parent_user_id": BSUID,
    },
)
MESSAGE_ITEM = st.fixed_dictionaries(
    {
        "id": ID,
        "from": PHONE,
        "timestamp": TIME,
        "type": plausible("text", "interactive", "button", "image", "reaction", "edit", "revoke", "system"),
    },
    optional={
        "from_user_id": BSUID,
        "from_parent_user_id": BSUID,
        "group_id": GROUP_ID,
        "reaction": st.fixed_dictionaries({"message_id": ID, "emoji": ANY_LEAF}) | JSON,
        "edit": st.fixed_dictionaries({"original_message_id": ID, "message": JSON}) | JSON,
        "revoke": st.fixed_dictionaries({"original_message_id": ID}) | JSON,
        "system": SYSTEM | JSON,
        "text": st.fixed_dictionaries({"body": ANY_LEAF}),
        "interactive": st.fixed_dictionaries({"button_reply": st.fixed_dictionaries({"title": ANY_LEAF})}) | JSON,
        "image": st.fixed_dictionaries({"caption": ANY_LEAF}) | JSON,
    },
)
PREFERENCE_ITEM = st.fixed_dictionaries(
    {"value": plausible("stop", "resume", "STOP"), "timestamp": TIME},
    optional={
        "wa_id": PHONE,
        "user_id": BSUID,
        "parent_user_id": BSUID,
        "category": plausible("marketing_messages"),
        "detail": ANY_LEAF,
    },
)
MESSAGES_VALUE = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries({"display_phone_number": PHONE}) | JSON,
        "contacts": st.lists(CONTACT, max_size=2) | JSON,
        "statuses": st.lists(STATUS_ITEM, max_size=3) | JSON,
        "messages": st.lists(MESSAGE_ITEM, max_size=3) | JSON,
        "errors": st.lists(st.fixed_dictionaries({"code": ANY_LEAF, "title": ANY_LEAF}), max_size=2) | JSON,
    },
)
PREFERENCES_VALUE = st.fixed_dictionaries(
    {"user_preferences": st.lists(PREFERENCE_ITEM, max_size=3) | JSON},
    optional={"contacts": st.lists(CONTACT, max_size=2) | JSON},
)
TEMPLATE_VALUE = st.fixed_dictionaries(
    {"message_template_id": plausible(1184502297736401, "1184502297736401")},
    optional={
        "event": plausible("APPROVED", "REJECTED"),
        "message_template_name": plausible("order_shipped_v3"),
        "message_template_language": plausible("en_US"),
        "reason": plausible("NONE", "INCORRECT_CATEGORY"),
        "new_quality_score": plausible("GREEN", "YELLOW"),
        "new_category": plausible("MARKETING", "UTILITY"),
        "correct_category": plausible("MARKETING"),
        "category_update_timestamp": TIME,
        "disable_info": JSON,
    },
)
ACCOUNT_VALUE = st.fixed_dictionaries(
    {},
    optional={
        "event": plausible("ACCOUNT_VIOLATION", "UPGRADE"),
        "violation_info": JSON,
        "display_phone_number": PHONE,
        "current_limit": plausible("TIER_1K"),
    },
)
# calls' statuses[] are of calls (wacid ids), never message statuses; history and state sync are kept unread
UNREAD_VALUE = st.fixed_dictionaries(
    {},
    optional={"statuses": st.lists(STATUS_ITEM, max_size=2), "calls": JSON, "history": JSON, "state_sync": JSON},
)
CHANGE = st.one_of(
    st.fixed_dictionaries({"field": plausible("messages")}, optional={"value": MESSAGES_VALUE | JSON}),
    st.fixed_dictionaries({"field": plausible("user_preferences")}, optional={"value": PREFERENCES_VALUE | JSON}),
    st.fixed_dictionaries(
        {
            "field": plausible(
                "message_template_status_update", "message_template_quality_update", "template_category_update"
            )
        },
        optional={"value": TEMPLATE_VALUE | JSON},
    ),
    st.fixed_dictionaries(
        {"field": plausible("account_update", "phone_number_quality_update")}, optional={"value": ACCOUNT_VALUE | JSON}
    ),
    st.fixed_dictionaries(
        {"field": plausible("calls", "history", "smb_app_state_sync")}, optional={"value": UNREAD_VALUE | JSON}
    ),
)
META_DOC = st.fixed_dictionaries(
    {"object": plausible("whatsapp_business_account")},
    optional={
        "entry": st.lists(
            st.fixed_dictionaries({"changes": st.lists(CHANGE, max_size=3) | JSON}, optional={"time": TIME})
        )
        | JSON
    },
)
FLAT_DOC = st.fixed_dictionaries({"statuses": st.lists(STATUS_ITEM, max_size=4)})
AISENSY_MESSAGE = st.fixed_dictionaries(
    {"status": STAGE},
    optional={
        "messageId": ID,
        "id": ID,
        "phone_number": PHONE,
        "contact": st.fixed_dictionaries({}, optional={"mobile": PHONE, "name": ANY_LEAF, "id": ID}) | JSON,
        "message_type": plausible("TEXT"),
        "message_content": st.fixed_dictionaries({"text": ANY_LEAF}) | JSON,
        "failureResponse": st.fixed_dictionaries({"code": ANY_LEAF, "reason": ANY_LEAF}) | JSON,
        **{f"{stage}_at": TIME for stage in ("sent", "delivered", "read", "failed")},
    },
)
AISENSY_DOC = st.fixed_dictionaries(
    {
        "topic": plausible(
            "message.status.updated",
            "message.status.update",
            "message.status",
            "message.sender.user",
            "message.created",
            "contact.created",
        ),
        "data": st.fixed_dictionaries({"message": AISENSY_MESSAGE}) | JSON,
    },
    optional={"id": plausible("6750a1f2c3d4e5f6a7b8c9d0"), "event_id": ID, "created_at": TIME},
)
GUPSHUP_DOC = st.fixed_dictionaries(
    {"app": plausible("AcmeSupport"), "type": plausible("message-event", "message", "user-event")},
    optional={
        "timestamp": TIME,
        "version": plausible(2),
        "payload": st.fixed_dictionaries(
            {"id": ID, "type": plausible("enqueued", "sent", "delivered", "read", "failed", "deleted", "text")},
            optional={
                "gsId": ID,
                "destination": PHONE,
                "payload": st.fixed_dictionaries(
                    {},
                    optional={
                        "ts": TIME,
                        "code": ANY_LEAF,
                        "reason": ANY_LEAF,
                        "whatsappMessageId": ID,
                        "text": ANY_LEAF,
                    },
                )
                | JSON,
                "sender": st.fixed_dictionaries({}, optional={"phone": PHONE, "userId": BSUID}) | JSON,
                "source": PHONE,
                "conversation": JSON,
                "pricing": JSON,
            },
        )
        | JSON,
    },
)
GUPSHUP_V3_DOC = META_DOC.map(lambda doc: {**doc, "gs_app_id": "5b7e2c91"})
WATI_DOC = st.fixed_dictionaries(
    {
        "eventType": plausible(
            "message",
            "message_bsuid",
            "templateMessageSent_v2",
            "sentMessageDELIVERED_v2",
            "sentMessageREAD",
            "templateMessageFailed",
        )
    },
    optional={
        "localMessageId": ID,
        "whatsappMessageId": ID,
        "id": ID,
        "timestamp": TIME,
        "created": TIME,
        "waId": PHONE | BSUID,
        "bsuid": BSUID,
        "parentBsuid": BSUID,
        "username": ANY_LEAF,
        "channelPhoneNumber": PHONE,
        "text": ANY_LEAF,
        "type": plausible("text", "template"),
        "failedCode": ANY_LEAF,
        "failedDetail": ANY_LEAF,
    },
)
INTERAKT_DOC = st.fixed_dictionaries(
    {
        "type": plausible("message_api_read", "message_campaign_failed", "message_received", "message_api_clicked"),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "customer": st.fixed_dictionaries({"channel_phone_number": PHONE | BSUID}) | JSON,
                "message": st.fixed_dictionaries(
                    {"id": ID},
                    optional={
                        "delivered_at_utc": TIME,
                        "seen_at_utc": TIME,
                        "received_at_utc": TIME,
                        "channel_error_code": ANY_LEAF,
                        "channel_failure_reason": ANY_LEAF,
                        "message": ANY_LEAF,
                        "message_content_type": plausible("Text"),
                    },
                )
                | JSON,
            },
        ),
    },
    optional={"timestamp": TIME},
)
ECHO_ITEM = st.fixed_dictionaries(
    {"id": ID, "from": PHONE, "to": PHONE, "timestamp": TIME, "type": plausible("text", "image")},
    optional={"to_user_id": BSUID, "text": st.fixed_dictionaries({"body": ANY_LEAF}) | JSON},
)
ECHO_DOC = st.fixed_dictionaries(
    {
        "object": plausible("whatsapp_business_account"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": plausible("smb_message_echoes"),
                                "value": st.fixed_dictionaries({"message_echoes": st.lists(ECHO_ITEM, max_size=3)})
                                | JSON,
                            }
                        ),
                        max_size=2,
                    )
                }
            ),
            max_size=2,
        ),
    }
)
FLAT_MESSAGES_DOC = st.fixed_dictionaries(
    {"messages": st.lists(MESSAGE_ITEM, max_size=3)}, optional={"contacts": JSON, "statuses": st.lists(STATUS_ITEM)}
)


def form_value(*values: str) -> st.SearchStrategy[str]:
    """A form field's value: one of `values` half the time, else any text (a form holds only text)."""
    return st.one_of(st.sampled_from(values), st.text(max_size=40))


# Twilio's form (and senders that copy its fields without an AccountSid), as (name, value) pairs.
TWILIO_FORM = st.fixed_dictionaries(
    {"MessageSid": form_value("SM9a8b7c6d5e4f30211203f4e5d6c7b8a9", "")},
    optional={
        "AccountSid": form_value("AC7e1d2c3b4a5968778695a4b3c2d1e0f9"),
        "SmsMessageSid": form_value("SM4f2c8e1a9b7d6035c2e1f0a9b8c7d6e5"),
        "MessageStatus": form_value("delivered", "read", "undelivered", "received"),
        "SmsStatus": form_value("delivered", "received"),
        "From": form_value("whatsapp:+16505551234", "whatsapp:US.13491208655302741918", "whatsapp:", "+1"),
        "To": form_value("whatsapp:+15557654321", "whatsapp:US.ENT.11815799212886844830"),
        "ExternalUserId": form_value("US.13491208655302741918", "919876543210"),
        "ExternalUserIdentifier": form_value("US.13491208655302741918"),
        "WaId": form_value("16505551234"),
        "Body": form_value("Where is my package?"),
        "ErrorCode": form_value("30008"),
        "ErrorMessage": form_value("Unknown error"),
    },
).map(lambda fields: list(fields.items()))
# Every format's skeleton, for the "never raises" and "never a 500" tests.
FORMAT_DOCS = st.one_of(
    META_DOC, FLAT_DOC, AISENSY_DOC, GUPSHUP_DOC, GUPSHUP_V3_DOC, WATI_DOC, INTERAKT_DOC, ECHO_DOC, FLAT_MESSAGES_DOC
)
