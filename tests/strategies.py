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
        "to_user_id", "event_id",
    ]
)  # fmt: skip
WORDS = st.sampled_from(
    [
        "whatsapp_business_account", "messages", "message.status.updated", "message.sender.user", "sent",
        "delivered", "read", "failed", "deleted", "text", "interactive", "wamid.A", "1727951400", "1727951400000",
        "2024-10-03T10:30:00Z", "2024-10-03T16:00:00+05:30", "0001-01-01T00:00:00+05:30", "+919876543210",
        "IN.2081978709342942", "US.ENT.11815799212886844830", "reaction", "edit", "revoke", "system", "marketing",
        "message-event", "message", "enqueued", "smb_message_echoes", "message_api_read", "message_received",
        "sentMessageDELIVERED_v2", "2024-10-03T10:30:00.120000",
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
STATUS_ITEM = st.fixed_dictionaries(
    {"id": ID, "status": STAGE, "timestamp": TIME},
    optional={"errors": JSON, "recipient_id": PHONE, "recipient_user_id": BSUID, "pricing": JSON, "conversation": JSON},
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
        "reaction": st.fixed_dictionaries({"message_id": ID, "emoji": ANY_LEAF}) | JSON,
        "edit": st.fixed_dictionaries({"original_message_id": ID, "message": JSON}) | JSON,
        "revoke": st.fixed_dictionaries({"original_message_id": ID}) | JSON,
        "system": st.fixed_dictionaries({"body": ANY_LEAF}) | JSON,
        "text": st.fixed_dictionaries({"body": ANY_LEAF}),
        "interactive": st.fixed_dictionaries({"button_reply": st.fixed_dictionaries({"title": ANY_LEAF})}) | JSON,
        "image": st.fixed_dictionaries({"caption": ANY_LEAF}) | JSON,
    },
)
CHANGE = st.fixed_dictionaries(
    {"field": plausible("messages")},
    optional={
        "value": st.fixed_dictionaries(
            {},
            optional={
                "metadata": st.fixed_dictionaries({"display_phone_number": PHONE}) | JSON,
                "statuses": st.lists(STATUS_ITEM, max_size=3) | JSON,
                "messages": st.lists(MESSAGE_ITEM, max_size=3) | JSON,
            },
        )
        | JSON
    },
)
META_DOC = st.fixed_dictionaries(
    {"object": plausible("whatsapp_business_account")},
    optional={"entry": st.lists(st.fixed_dictionaries({"changes": st.lists(CHANGE, max_size=3) | JSON})) | JSON},
)
FLAT_DOC = st.fixed_dictionaries({"statuses": st.lists(STATUS_ITEM, max_size=4)})
AISENSY_MESSAGE = st.fixed_dictionaries(
    {"status": STAGE},
    optional={
        "messageId": ID,
        "id": ID,
        "phone_number": PHONE,
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
            {"id": ID, "type": plausible("enqueued", "sent", "delivered", "read", "failed", "text")},
            optional={
                "gsId": ID,
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
            "message", "templateMessageSent_v2", "sentMessageDELIVERED_v2", "sentMessageREAD", "templateMessageFailed"
        )
    },
    optional={
        "localMessageId": ID,
        "whatsappMessageId": ID,
        "id": ID,
        "timestamp": TIME,
        "created": TIME,
        "waId": PHONE | BSUID,
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
# Every format's skeleton, for the "never raises" and "never a 500" tests.
FORMAT_DOCS = st.one_of(
    META_DOC, FLAT_DOC, AISENSY_DOC, GUPSHUP_DOC, GUPSHUP_V3_DOC, WATI_DOC, INTERAKT_DOC, ECHO_DOC, FLAT_MESSAGES_DOC
)
