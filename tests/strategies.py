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
        "pricing_model", "category", "conversation", "origin", "expiration_timestamp",
    ]
)  # fmt: skip
WORDS = st.sampled_from(
    [
        "whatsapp_business_account", "messages", "message.status.updated", "message.sender.user", "sent",
        "delivered", "read", "failed", "deleted", "text", "interactive", "wamid.A", "1727951400", "1727951400000",
        "2024-10-03T10:30:00Z", "2024-10-03T16:00:00+05:30", "0001-01-01T00:00:00+05:30", "+919876543210",
        "IN.2081978709342942", "US.ENT.11815799212886844830", "reaction", "edit", "revoke", "system", "marketing",
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
        "topic": plausible("message.status.updated", "message.sender.user", "contact.created"),
        "data": st.fixed_dictionaries({"message": AISENSY_MESSAGE}) | JSON,
    },
    optional={"id": plausible("6750a1f2c3d4e5f6a7b8c9d0"), "created_at": TIME},
)
