"""Meta's Cloud API envelope (also forwarded as-is by 360dialog and AiSensy), and the seeds' flat form."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bluetick.events import Direction, EventKind, Message, Pricing, StatusEvent
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    as_dict,
    as_list,
    event_time,
    format_error,
    identifier,
    lenient,
    msg_kind,
    phone,
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
    return isinstance(doc.get("statuses"), list)


def parse(org_id: UUID, doc: dict[str, Any]) -> Parsed:
    parsed = Parsed(format="meta")
    try:
        entries = as_list(doc.get("entry"), "entry")
    except ItemError as exc:
        parsed.errors.append(f"entry: {exc}")
        return parsed
    for e, entry in enumerate(entries):
        where = f"entry[{e}]"
        try:
            changes = as_list(as_dict(entry, where).get("changes"), f"{where}.changes")
        except ItemError as exc:
            parsed.errors.append(f"{where}: {exc}")
            continue
        for c, change in enumerate(changes):
            _parse_change(org_id, change, f"{where}.changes[{c}]", parsed)
    return parsed


def parse_flat(org_id: UUID, doc: dict[str, Any]) -> Parsed:
    parsed = Parsed(format="flat")
    _parse_statuses(org_id, doc.get("statuses"), "statuses", parsed)
    return parsed


def _parse_change(org_id: UUID, change: Any, where: str, parsed: Parsed) -> None:
    try:
        change = as_dict(change, where)
        if change.get("field", "messages") != "messages":
            return
        value = as_dict(change.get("value"), f"{where}.value")
    except ItemError as exc:
        parsed.errors.append(f"{where}: {exc}")
        return
    business = _business_phone(value.get("metadata"))
    _parse_statuses(org_id, value.get("statuses"), f"{where}.value.statuses", parsed)
    try:
        items = as_list(value.get("messages"), "messages")
    except ItemError as exc:
        parsed.errors.append(f"{where}.value: {exc}")
        return
    contacts = _contact_user_ids(value.get("contacts"))
    for i, item in enumerate(items):
        try:
            parsed.messages.append(inbound_message(org_id, item, business, contacts))
        except ItemError as exc:
            parsed.errors.append(f"{where}.value.messages[{i}]: {exc}")


def _business_phone(metadata: Any) -> str | None:
    """The business number the change was received on; None when absent or unusable (it is only context)."""
    if not isinstance(metadata, dict):
        return None
    try:
        return phone(metadata.get("display_phone_number"))
    except ItemError:
        return None


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


def _parse_statuses(org_id: UUID, items: Any, where: str, parsed: Parsed) -> None:
    try:
        items = as_list(items, where)
    except ItemError as exc:
        parsed.errors.append(f"{where}: {exc}")
        return
    for i, item in enumerate(items):
        try:
            parsed.statuses.append(status_event(org_id, item))
        except ItemError as exc:
            parsed.errors.append(f"{where}[{i}]: {exc}")


def status_event(org_id: UUID, item: Any) -> StatusEvent:
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
        ts=event_time(item.get("timestamp")),
        failed_reason=reason,
        user_id=lenient(user_id, item.get("recipient_user_id"), "recipient_user_id"),
        pricing=pricing(item.get("pricing"), item.get("conversation")),
    )


def pricing(price: Any, conversation: Any) -> Pricing | None:
    """A status's `pricing` and `conversation` objects; a field that is absent or unusable stays None."""
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
        conversation_expires_at=lenient(event_time, conversation.get("expiration_timestamp"), "expiration"),
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
    org_id: UUID, item: Any, business_phone: str | None, contacts: dict[str | None, str] | None = None
) -> Message:
    """A customer's message, or an event of theirs about another message (reaction, edit, revoke, system)."""
    item = as_dict(item, "message")
    kind = item.get("type") if isinstance(item.get("type"), str) else "unknown"
    customer = phone(item.get("from"), "from")
    bsuid = lenient(user_id, item.get("from_user_id"), "from_user_id") or (contacts or {}).get(customer)
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
        from_phone=customer,
        to_phone=business_phone,
        body=_message_body(item, kind),
        sent_at=event_time(item.get("timestamp")),
        customer_user_id=bsuid,
        ref_bsp_msg_id=ref,
    )
