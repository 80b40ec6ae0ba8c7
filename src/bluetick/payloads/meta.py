"""Meta's Cloud API envelope (also forwarded by 360dialog, AiSensy and Gupshup v3), and the flat On-Premise form.

A status without a `timestamp` takes the time bluetick received the body, and so does a customer message whose
`timestamp` is missing or unreadable (noted, so the body is kept). Gupshup v3 adds `gs_id`, its own message id,
beside WhatsApp's `id`: such a status is emitted under both (docs/design.md, Formats). Changes of the fields bluetick
does not read (`calls`, `history`, `smb_app_state_sync`, ...) are noted in `unread`, so their body is kept.

A customer's message whose `context.id` names the message it answers points at it (`ref_bsp_msg_id`) and marks it
`replied`, and a tap (a quick-reply `button`, an interactive `button_reply` or `list_reply`) `clicked` too, its
payload or reply id kept as `metadata.button_payload` (docs/design.md, Replies and clicks)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from bluetick.events import (
    AccountUpdate,
    Direction,
    EventKind,
    GroupReceipt,
    IdentityLink,
    Message,
    Preference,
    Pricing,
    StatusEvent,
    TemplateUpdate,
)
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    as_dict,
    as_object,
    customer,
    deletion,
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
    storable_json,
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
# The template webhooks: each field's change and where its value says the new state.
_TEMPLATE_FIELDS = {
    "message_template_status_update": ("status", "event"),
    "message_template_quality_update": ("quality", "new_quality_score"),
    "template_category_update": ("category", "new_category"),
}
_ACCOUNT_FIELDS = ("account_update", "phone_number_quality_update")
_READ_FIELDS = ("messages", "smb_message_echoes", "user_preferences", *_TEMPLATE_FIELDS, *_ACCOUNT_FIELDS)
# Meta's docs name a status's parent BSUID three ways (the status reference's syntax, field list and examples).
_STATUS_PARENT_FIELDS = ("recipient_parent_user_id", "parent_recipient_user_id", "parent_user_id")
REPLIED, CLICKED = "replied", "clicked"  # unranked keys of the answered message's whatsapp_status
BUTTON_PAYLOAD = "button_payload"  # a tap's payload or reply id, in the reply's own metadata
_EVENT_KINDS = frozenset(kind.value for kind in EventKind)
_DELETED = "deleted"  # On-Premises: the customer deleted a message they sent (the Cloud API sends a revoke)
_GROUP = "group"


class _Contacts(NamedTuple):
    """A change's `contacts[]`: each customer's BSUID and parent BSUID by phone (see `_contact_ids`)."""

    user_ids: dict[str | None, str]
    parent_user_ids: dict[str | None, str]


def looks_like(doc: dict[str, Any]) -> bool:
    return doc.get("object") == "whatsapp_business_account" or isinstance(doc.get("entry"), list)


def looks_flat(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("statuses"), list) or isinstance(doc.get("messages"), list)


def parse(org_id: UUID, doc: dict[str, Any], received_at: datetime, format: str = "meta") -> Parsed:
    parsed = Parsed(format=format)

    def entry(item: Any, where: str) -> None:
        item = as_dict(item, where)
        # The template and account webhooks' only time is the entry's (the time received when unusable).
        entry_time = lenient(event_time, item.get("time"), "time") or received_at

        def change(value: Any, place: str) -> None:
            _parse_change(org_id, value, place, parsed, received_at, entry_time)

        each_item(parsed, item.get("changes"), f"{where}.changes", change, at=where)

    each_item(parsed, doc.get("entry"), "entry", entry)
    return parsed


def parse_flat(org_id: UUID, doc: dict[str, Any], received_at: datetime) -> Parsed:
    """360dialog On-Premise's (and the seeds') `{"statuses": [...]}` and `{"contacts", "messages": [...]}`."""
    parsed = Parsed(format="flat")
    _parse_statuses(org_id, doc.get("statuses"), "statuses", parsed, received_at)
    _parse_messages(org_id, doc, "", None, parsed, received_at)
    return parsed


def _parse_change(
    org_id: UUID, change: Any, where: str, parsed: Parsed, received_at: datetime, entry_time: datetime
) -> None:
    change = as_dict(change, where)
    kind = change.get("field", "messages")
    if kind not in _READ_FIELDS:
        name = repr(kind[:_LABEL_CHARS]) if isinstance(kind, str) else f"of type {type(kind).__name__}"
        parsed.unread.append(f"{where}: field {name} is not read")
        return
    value = as_dict(change.get("value"), f"{where}.value")
    place = f"{where}.value"
    if kind == "messages":
        _parse_statuses(org_id, value.get("statuses"), f"{place}.statuses", parsed, received_at)
        _parse_messages(org_id, value, f"{place}.", _business_phone(value.get("metadata")), parsed, received_at)
        if value.get("errors") not in (None, []):
            parsed.unread.append(f"{place}.errors: not read ({_errors_note(value.get('errors'))})")
    elif kind == "smb_message_echoes":
        _parse_echoes(org_id, value, place, parsed)
    elif kind == "user_preferences":
        _parse_preferences(org_id, value, place, parsed)
    elif kind in _TEMPLATE_FIELDS:
        parsed.facts.append(template_update(org_id, kind, value, entry_time, place))
    else:
        parsed.facts.append(account_update(org_id, kind, value, entry_time, place))


def _errors_note(errors: Any) -> str:
    """A value-level `errors` array as its first error reads (`Error 131000: ...`)."""
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return "Error"
    details = as_object(first.get("error_data")).get("details")
    return format_error(first.get("code"), first.get("title"), first.get("message"), details)


def _parse_preferences(org_id: UUID, value: dict[str, Any], where: str, parsed: Parsed) -> None:
    """`user_preferences`: customers who stopped or resumed marketing messages, one `Preference` an item."""

    def item(raw: Any, place: str) -> None:
        parsed.facts.append(preference(org_id, raw))

    each_item(parsed, value.get("user_preferences"), f"{where}.user_preferences", item, what="user_preferences")


def preference(org_id: UUID, item: Any) -> Preference:
    """One `user_preferences[]` item; the customer is its `wa_id` and/or `user_id`."""
    item = as_dict(item, "user_preference")
    customer_phone = phone(item.get("wa_id"), "wa_id")
    bsuid = user_id(item.get("user_id"), "user_id")
    if customer_phone is None and bsuid is None:
        raise ItemError("names no customer (wa_id or user_id)")
    choice, category = _label(item.get("value")), _label(item.get("category"))
    if choice is None or category is None:
        raise ItemError("value and category must be short texts")
    return Preference(
        org_id=org_id,
        ts=event_time(item.get("timestamp")),
        preference=choice,
        category=category,
        customer_phone=customer_phone,
        customer_user_id=bsuid,
        detail=text(item.get("detail"), "detail"),
    )


def template_update(org_id: UUID, kind: str, value: dict[str, Any], ts: datetime, where: str) -> TemplateUpdate:
    """A template webhook's change; its whole value is kept as `detail`.

    `template_category_update` also comes a day ahead of a change, with `correct_category` (the category to come)
    and `new_category` (confusingly, the current one): its value is `new_category` in both variants, the category
    the template has at the entry's time, so the current state never runs ahead; `detail` keeps the coming one."""
    field, key = _TEMPLATE_FIELDS[kind]
    return TemplateUpdate(
        org_id=org_id,
        template_id=identifier(value.get("message_template_id"), "message_template_id"),
        field=field,
        value=identifier(value.get(key), key),
        ts=ts,
        name=lenient(identifier, value.get("message_template_name"), "message_template_name"),
        language=lenient(identifier, value.get("message_template_language"), "message_template_language"),
        reason=lenient(identifier, value.get("reason"), "reason"),
        detail=storable_json(value, where),
    )


def account_update(org_id: UUID, kind: str, value: dict[str, Any], ts: datetime, where: str) -> AccountUpdate:
    """An `account_update` or `phone_number_quality_update`, kept whole: its value is event-specific."""
    return AccountUpdate(
        org_id=org_id,
        field=kind,
        ts=ts,
        event=lenient(identifier, value.get("event"), "event"),
        detail=storable_json(value, where),
    )


def _parse_messages(
    org_id: UUID, value: dict[str, Any], where: str, business: str | None, parsed: Parsed, received_at: datetime
) -> None:
    listed = value.get("contacts")
    contacts = _Contacts(_contact_ids(listed, "user_id"), _contact_ids(listed, "parent_user_id"))

    def message(item: Any, place: str) -> None:
        found = inbound_message(org_id, item, business, contacts, parsed.unread, place, received_at)
        parsed.messages.append(found)
        parsed.statuses.extend(engagement(found, item))
        parsed.facts.extend(identity_links(item, found, parsed.unread, place))

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


def _contact_ids(contacts: Any, key: str) -> dict[str | None, str]:
    """Each contact's BSUID (`key`: user_id or parent_user_id) by its phone (wa_id, absent for a username-only
    customer); a lone contact's under None too, for a message that names no phone."""
    found: dict[str | None, str] = {}
    listed = contacts if isinstance(contacts, list) else []
    for contact in listed:
        if isinstance(contact, dict) and (bsuid := lenient(user_id, contact.get(key), key)):
            found[lenient(phone, contact.get("wa_id"), "wa_id")] = bsuid
    if len(listed) == 1 and found:
        found.setdefault(None, next(iter(found.values())))
    return found


def _parse_statuses(org_id: UUID, items: Any, where: str, parsed: Parsed, received_at: datetime) -> None:
    def status(item: Any, place: str) -> None:
        item = as_dict(item, "status")
        if status_name(item.get("status")) == _DELETED:
            parsed.messages.append(deleted_message(org_id, item, received_at))
            return
        event = status_event(org_id, item, received_at)
        parsed.statuses.append(event)
        gs_id = lenient(identifier, item.get("gs_id"), "gs_id")
        if gs_id is not None and gs_id != event.bsp_msg_id:
            parsed.statuses.append(replace(event, bsp_msg_id=gs_id))
        if item.get("recipient_type") == _GROUP:
            receipt = group_receipt(event, item)
            if receipt.participant_phone is None and receipt.participant_user_id is None:
                parsed.unread.append(f"{place}: a group status that names no participant")
            else:
                parsed.facts.append(receipt)

    each_item(parsed, items, where, status)


def status_event(org_id: UUID, item: Any, received_at: datetime) -> StatusEvent:
    """One status; a group's names the group, not a customer, so it carries no customer BSUID."""
    item = as_dict(item, "status")
    status = status_name(item.get("status"))
    reason = None
    if status == "failed":
        errors = item.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            details = as_object(first.get("error_data")).get("details")
            reason = format_error(first.get("code"), first.get("title"), first.get("message"), details)
    individual = item.get("recipient_type") != _GROUP
    return StatusEvent(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        status=status,
        ts=stamped(item.get("timestamp"), received_at),
        failed_reason=reason,
        user_id=lenient(user_id, item.get("recipient_user_id"), "recipient_user_id") if individual else None,
        pricing=pricing(item.get("pricing"), item.get("conversation")),
        parent_user_id=_first_user_id(item, _STATUS_PARENT_FIELDS) if individual else None,
    )


def group_receipt(event: StatusEvent, item: dict[str, Any]) -> GroupReceipt:
    """A group status's participant receipt: `recipient_id` is the group, `recipient_participant_*` the member."""
    return GroupReceipt(
        org_id=event.org_id,
        bsp_msg_id=event.bsp_msg_id,
        status=event.status,
        ts=event.ts,
        group_id=lenient(identifier, item.get("recipient_id"), "recipient_id"),
        participant_phone=lenient(phone, item.get("recipient_participant_id"), "recipient_participant_id"),
        participant_user_id=_first_user_id(item, ("recipient_participant_user_id",)),
        participant_parent_user_id=_first_user_id(item, ("recipient_participant_parent_user_id",)),
    )


def deleted_message(org_id: UUID, item: dict[str, Any], received_at: datetime) -> Message:
    """A `deleted` status: the customer (`recipient_id`) deleted a message they sent, stored as a revoke is."""
    return deletion(
        org_id,
        identifier(item.get("id")),
        stamped(item.get("timestamp"), received_at),
        customer_phone=lenient(phone, item.get("recipient_id"), "recipient_id"),
        customer_user_id=lenient(user_id, item.get("recipient_user_id"), "recipient_user_id"),
    )


def _first_user_id(item: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    """The first usable BSUID among `fields` of `item`."""
    return next((found for key in fields if (found := lenient(user_id, item.get(key), key))), None)


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
    contacts: _Contacts,
    unread: list[str],
    where: str,
    received_at: datetime,
) -> Message:
    """A customer's message, or an event of theirs about another message (reaction, edit, revoke, system).

    A `from` that is not a phone number, or a time that is missing or unreadable, is noted in `unread` and the
    message kept without it (its time the time received)."""
    item = as_dict(item, "message")
    kind = item.get("type") if isinstance(item.get("type"), str) else "unknown"
    from_phone, from_bsuid = customer(item.get("from"), f"{where}.from", unread)
    for field in ("from_user_id", "from_parent_user_id"):
        if item.get(field) not in (None, "") and lenient(user_id, item.get(field), field) is None:
            unread.append(f"{where}.{field}: not a WhatsApp user id")
    bsuid = _first_user_id(item, ("from_user_id",)) or from_bsuid or contacts.user_ids.get(from_phone)
    parent = _first_user_id(item, ("from_parent_user_id",)) or contacts.parent_user_ids.get(from_phone)
    label, ref = _kind_and_ref(item, kind)
    tapped = _tapped(item, kind)
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        direction=Direction.INBOUND,
        msg_kind=msg_kind(label, "type"),
        from_phone=from_phone,
        to_phone=business_phone,
        body=_message_body(item, kind),
        metadata={BUTTON_PAYLOAD: tapped} if tapped is not None else None,
        sent_at=_sent_at(item.get("timestamp"), received_at, unread, where),
        customer_user_id=bsuid,
        ref_bsp_msg_id=ref or replied_to(item.get("context")),
        customer_parent_user_id=parent,
        group_id=lenient(identifier, item.get("group_id"), "group_id"),
    )


def replied_to(context: Any) -> str | None:
    """The id of the message a customer's message replies to (`context.id`); None when it names none (a
    forwarded message's context) or an unusable one."""
    return lenient(identifier, context.get("id"), "context.id") if isinstance(context, dict) else None


def _tapped(item: dict[str, Any], kind: str) -> str | None:
    """What a tap sent: a quick-reply button's `payload` (else its text), an interactive button or list reply's
    `id`; None for any other message. Its title is the message's body."""
    content = item.get(kind)
    if not isinstance(content, dict):
        return None
    if kind == "button":
        return lenient(text, content.get("payload"), "button.payload") or lenient(text, content.get("text"), "text")
    if kind == "interactive":
        for reply_kind in ("button_reply", "list_reply"):
            reply = content.get(reply_kind)
            if isinstance(reply, dict):
                return lenient(text, reply.get("id"), "reply id") or lenient(text, reply.get("title"), "title")
    return None


def engagement(message: Message, item: Any) -> list[StatusEvent]:
    """What a customer's reply says about the message it answers (docs/design.md, Replies and clicks): `replied`
    at the reply's time, and `clicked` too when it is a button tap; unranked keys of that message's
    whatsapp_status. A reaction, edit or revoke, or a message that names no context, says nothing."""
    ref = replied_to(as_object(item).get("context"))
    if ref is None or message.sent_at is None or message.msg_kind in _EVENT_KINDS or ref == message.bsp_msg_id:
        return []
    stages = [REPLIED, CLICKED] if (message.metadata or {}).get(BUTTON_PAYLOAD) is not None else [REPLIED]
    return [StatusEvent(org_id=message.org_id, bsp_msg_id=ref, status=stage, ts=message.sent_at) for stage in stages]


def _sent_at(value: Any, received_at: datetime, unread: list[str], where: str) -> datetime:
    """A customer message's time; the time received (noted in `unread`) when it is missing or unreadable. A time
    too far in the future is still refused: it is readable, only not believable."""
    try:
        return event_time(value)
    except ItemError as exc:
        if lenient(read_time, value, "timestamp") is not None:
            raise
        unread.append(f"{where}: {exc}, so it takes the time received")
        return received_at


def identity_links(item: Any, message: Message, unread: list[str], where: str) -> list[IdentityLink]:
    """What a `user_changed_number` or `user_changed_user_id` system message links: the customer's old phone to the
    new one (`system.wa_id`), and their old BSUID (`system.previous_user_id`, else the sender's) to the new one."""
    system = as_object(as_object(item).get("system"))
    change = system.get("type")
    ts = message.sent_at
    if ts is None or change not in ("user_changed_number", "user_changed_user_id"):
        return []
    links = []
    new_phone = lenient(phone, system.get("wa_id"), "system.wa_id")
    if change == "user_changed_number" and message.from_phone and new_phone:
        links.append(IdentityLink(message.org_id, "phone", message.from_phone, new_phone, ts, message.bsp_msg_id))
    old_bsuid = lenient(user_id, system.get("previous_user_id"), "system.previous_user_id")
    if change == "user_changed_user_id":
        old_bsuid = old_bsuid or message.customer_user_id
    new_bsuid = lenient(user_id, system.get("user_id"), "system.user_id")
    if old_bsuid and new_bsuid:
        links.append(IdentityLink(message.org_id, "user_id", old_bsuid, new_bsuid, ts, message.bsp_msg_id))
    if not links:
        unread.append(f"{where}: system {change} names no old and new identifier to link")
    return links


def _kind_and_ref(item: dict[str, Any], kind: str) -> tuple[str, str | None]:
    """A message's msg_kind label, and the id of the message it is about for a reaction, edit or revoke."""
    if kind in _REFERRING:
        event, ref_field = _REFERRING[kind]
        content = item.get(kind)
        return event.value, identifier(content.get(ref_field) if isinstance(content, dict) else None,
                                       f"{kind}.{ref_field}")  # fmt: skip
    return (EventKind.SYSTEM.value if kind == "system" else kind.upper()[:64]), None


def echo_message(org_id: UUID, item: Any) -> Message:
    """One `message_echoes[]` item: `from` is the business, `to` (and `to_user_id`) the customer. An echoed edit or
    revoke names the message it is about, as a customer's does."""
    item = as_dict(item, "message_echo")
    kind = item.get("type") if isinstance(item.get("type"), str) else "unknown"
    label, ref = _kind_and_ref(item, kind)
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        direction=Direction.OUTBOUND,
        msg_kind=msg_kind(label, "type"),
        ref_bsp_msg_id=ref,
        to_phone=lenient(phone, item.get("to"), "to"),
        from_phone=lenient(phone, item.get("from"), "from"),
        body=_message_body(item, kind),
        sent_at=event_time(item.get("timestamp")),
        customer_user_id=lenient(user_id, item.get("to_user_id"), "to_user_id"),
    )
