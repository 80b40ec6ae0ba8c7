"""Meta's Cloud API envelope (also forwarded by 360dialog, AiSensy and Gupshup v3), and the flat On-Premise form.

A status without a `timestamp` takes the time bluetick received the body. Gupshup v3 adds `gs_id`, its own
message id, beside WhatsApp's `id`: such a status is emitted under both (docs/design.md, Formats)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick.events import Direction, EventKind, Message, Pricing, StatusEvent
from bluetick.payloads.common import (
    Parsed,
    as_dict,
    customer,
    each_item,
    event_time,
    format_error,
    identifier,
    lenient,
    msg_kind,
    phone,
    read_time,
    stamped,
    status_name,
    text,
    user_id,
)

# Message types that are events about another message, and where each names that message.
_REFERRING = {
    "reaction": (EventKind.REACTION, "message_id"),
    "edit": (EventKind.EDIT, "original_message_id"),
    "revoke": (EventKind.REVOKE, "original_message_id"),
}
_LABEL_CHARS = 64


def looks_like(doc: dict[str, Any]) -> bool:
    return doc.get("object") == "whatsapp_business_account" or isinstance(doc.get("entry"), list)


def looks_flat(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("statuses"), list) or isinstance(doc.get("messages"), list)


def parse(org_id: UUID, doc: dict[str, Any], received_at: datetime, format: str = "meta") -> Parsed:
    parsed = Parsed(format=format)

    def entry(item: Any, where: str) -> None:
        each_item(parsed, as_dict(item, where).get("changes"), f"{where}.changes", change, at=where)

    def change(item: Any, where: str) -> None:
        _parse_change(org_id, item, where, parsed, received_at)

    each_item(parsed, doc.get("entry"), "entry", entry)
    return parsed


def parse_flat(org_id: UUID, doc: dict[str, Any], received_at: datetime) -> Parsed:
    """360dialog On-Premise's (and the seeds') `{"statuses": [...]}` and `{"contacts", "messages": [...]}`."""
    parsed = Parsed(format="flat")
    _parse_statuses(org_id, doc.get("statuses"), "statuses", parsed, received_at)
    _parse_messages(org_id, doc, "", None, parsed)
    return parsed


def _parse_change(org_id: UUID, change: Any, where: str, parsed: Parsed, received_at: datetime) -> None:
    change = as_dict(change, where)
    kind = change.get("field", "messages")
    if kind not in ("messages", "smb_message_echoes"):
        return
    value = as_dict(change.get("value"), f"{where}.value")
    business = _business_phone(value.get("metadata"))
    if kind == "smb_message_echoes":
        _parse_echoes(org_id, value, f"{where}.value", parsed)
        return
    _parse_statuses(org_id, value.get("statuses"), f"{where}.value.statuses", parsed, received_at)
    _parse_messages(org_id, value, f"{where}.value.", business, parsed)


def _parse_messages(org_id: UUID, value: dict[str, Any], where: str, business: str | None, parsed: Parsed) -> None:
    contacts = _contact_user_ids(value.get("contacts"))

    def message(item: Any, place: str) -> None:
        parsed.messages.append(inbound_message(org_id, item, business, contacts, parsed.unread, place))

    each_item(parsed, value.get("messages"), f"{where}messages", message, what="messages")


def _parse_echoes(org_id: UUID, value: dict[str, Any], where: str, parsed: Parsed) -> None:
    """`smb_message_echoes`: what the business sent from the WhatsApp Business app, logged as OUTBOUND."""

    def echo(item: Any, place: str) -> None:
        parsed.messages.append(echo_message(org_id, item))

    each_item(parsed, value.get("message_echoes"), f"{where}.message_echoes", echo, what="message_echoes", at=where)


def _business_phone(metadata: Any) -> str | None:
    """The business number the change was received on; None when absent or unusable (it is only context)."""
    return (
        lenient(phone, metadata.get("display_phone_number"), "display_phone_number")
        if isinstance(metadata, dict)
        else None
    )


def _contact_user_ids(contacts: Any) -> dict[str | None, str]:
    """Each contact's BSUID by its phone (wa_id, absent for a username-only customer); a lone contact's under
    None too, for a message that names no phone."""
    found: dict[str | None, str] = {}
    listed = contacts if isinstance(contacts, list) else []
    for contact in listed:
        if isinstance(contact, dict) and (bsuid := lenient(user_id, contact.get("user_id"), "user_id")):
            found[lenient(phone, contact.get("wa_id"), "wa_id")] = bsuid
    if len(listed) == 1 and found:
        found.setdefault(None, next(iter(found.values())))
    return found


def _parse_statuses(org_id: UUID, items: Any, where: str, parsed: Parsed, received_at: datetime) -> None:
    def status(item: Any, place: str) -> None:
        event = status_event(org_id, item, received_at)
        parsed.statuses.append(event)
        gs_id = lenient(identifier, item.get("gs_id"), "gs_id")
        if gs_id is not None and gs_id != event.bsp_msg_id:
            parsed.statuses.append(replace(event, bsp_msg_id=gs_id))

    each_item(parsed, items, where, status)


def status_event(org_id: UUID, item: Any, received_at: datetime) -> StatusEvent:
    item = as_dict(item, "status")
    status = status_name(item.get("status"))
    reason = None
    if status == "failed":
        errors = item.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            error_data = first.get("error_data")
            details = error_data.get("details") if isinstance(error_data, dict) else None
            reason = format_error(first.get("code"), first.get("title"), first.get("message"), details)
    return StatusEvent(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        status=status,
        ts=stamped(item.get("timestamp"), received_at),
        failed_reason=reason,
        user_id=lenient(user_id, item.get("recipient_user_id"), "recipient_user_id"),
        pricing=pricing(item.get("pricing"), item.get("conversation")),
    )


def pricing(price: Any, conversation: Any) -> Pricing | None:
    """A status's `pricing` and `conversation` objects; a field that is absent or unusable stays None."""
    if not isinstance(price, dict) and not isinstance(conversation, dict):
        return None
    price = price if isinstance(price, dict) else {}
    conversation = conversation if isinstance(conversation, dict) else {}
    origin = conversation.get("origin")
    found = Pricing(
        billable=price.get("billable") if isinstance(price.get("billable"), bool) else None,
        model=_label(price.get("pricing_model")),
        category=_label(price.get("category")),
        type=_label(price.get("type")),
        conversation_id=lenient(_conversation_id, conversation.get("id"), "conversation.id"),
        conversation_origin=_label(origin.get("type")) if isinstance(origin, dict) else None,
        conversation_expires_at=lenient(read_time, conversation.get("expiration_timestamp"), "expiration"),
    )
    return None if found == Pricing() else found


def _label(value: Any) -> str | None:
    """A short label as Meta writes it (a category, a pricing model), lower-cased; None when unusable."""
    if not isinstance(value, str) or not 0 < len(value.strip()) <= _LABEL_CHARS:
        return None
    return value.strip().lower()


def _conversation_id(value: Any, what: str) -> str | None:
    return identifier(value, what) if value is not None else None


def _message_body(item: dict[str, Any], kind: str) -> str | None:
    content = item.get(kind)
    if not isinstance(content, dict):
        return None
    if kind == "text":
        return text(content.get("body"), "text.body")
    if kind == "interactive":
        for reply_kind in ("button_reply", "list_reply"):
            reply = content.get(reply_kind)
            if isinstance(reply, dict):
                return text(reply.get("title"), "reply title")
        return None
    if kind == "button":
        return text(content.get("text"), "button.text")
    if kind == "reaction":
        return text(content.get("emoji"), "reaction.emoji")
    if kind == "system":
        return text(content.get("body"), "system.body")
    if kind == "edit":
        edited = content.get("message")
        return _message_body(edited, str(edited.get("type", "text"))) if isinstance(edited, dict) else None
    return text(content.get("caption"), "caption") if isinstance(content.get("caption"), str) else None


def inbound_message(
    org_id: UUID,
    item: Any,
    business_phone: str | None,
    contacts: dict[str | None, str],
    unread: list[str],
    where: str,
) -> Message:
    """A customer's message, or an event of theirs about another message (reaction, edit, revoke, system).

    A `from` that is not a phone number is noted in `unread` and the message kept without it."""
    item = as_dict(item, "message")
    kind = item.get("type") if isinstance(item.get("type"), str) else "unknown"
    from_phone, from_bsuid = customer(item.get("from"), f"{where}.from", unread)
    bsuid = lenient(user_id, item.get("from_user_id"), "from_user_id") or from_bsuid or contacts.get(from_phone)
    ref = None
    label = kind.upper()[:64]
    if kind in _REFERRING:
        event, ref_field = _REFERRING[kind]
        content = item.get(kind)
        ref = identifier(content.get(ref_field) if isinstance(content, dict) else None, f"{kind}.{ref_field}")
        label = event.value
    elif kind == "system":
        label = EventKind.SYSTEM.value
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        direction=Direction.INBOUND,
        msg_kind=msg_kind(label, "type"),
        from_phone=from_phone,
        to_phone=business_phone,
        body=_message_body(item, kind),
        sent_at=event_time(item.get("timestamp")),
        customer_user_id=bsuid,
        ref_bsp_msg_id=ref,
    )


def echo_message(org_id: UUID, item: Any) -> Message:
    """One `message_echoes[]` item: `from` is the business, `to` (and `to_user_id`) the customer."""
    item = as_dict(item, "message_echo")
    kind = item.get("type") if isinstance(item.get("type"), str) else "unknown"
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        direction=Direction.OUTBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "type"),
        to_phone=lenient(phone, item.get("to"), "to"),
        from_phone=lenient(phone, item.get("from"), "from"),
        body=_message_body(item, kind),
        sent_at=event_time(item.get("timestamp")),
        customer_user_id=lenient(user_id, item.get("to_user_id"), "to_user_id"),
    )
