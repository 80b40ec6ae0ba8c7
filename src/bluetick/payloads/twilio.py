"""Twilio's form-encoded WhatsApp webhooks: message status callbacks and incoming customer messages.

Twilio's callbacks carry no event time: a status takes the time bluetick received it, and so does an
incoming message's `sent_at`.

A form is Twilio's when it names a message (`MessageSid`, else `SmsMessageSid`) and either an `AccountSid` starting
with `AC` or a status (`MessageStatus`, else `SmsStatus`): a Twilio-compatible sender posts the same fields without
Twilio's account id, and is read the same way.

The customer is named by a phone (`whatsapp:+14155550123`) or, since Twilio's business-scoped user ids (BSUIDs), by
a BSUID in the same place (`whatsapp:US.13491208655302741918`) and in `ExternalUserId` (`ExternalUserIdentifier`,
the name Twilio's changelog uses). An incoming message's customer is `From` (else `WaId`); its BSUID is
`ExternalUserId`, else `ExternalUserIdentifier`, else `From` when `From` is a BSUID; a message from a BSUID is stored
under that BSUID with no phone (or `WaId`'s phone, when given). A status's customer BSUID is `ExternalUserId` (or
`ExternalUserIdentifier`), else `To` when `To` is a BSUID. A customer field that is neither a phone nor a BSUID,
or two BSUIDs that disagree, is noted in `unread` (the body is kept); the message is still stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    format_error,
    identifier,
    lenient,
    msg_kind,
    phone,
    status_name,
    text,
    user_id,
)

_CHANNEL = "whatsapp:"
# Twilio's name for a message it could not deliver; bluetick's is `failed`. Other names (queued, accepted,
# sending, canceled, ...) are kept as they are: unranked stages (merge rule 5).
_RENAMED = {"undelivered": "failed"}
# What a customer's incoming message is marked with instead of a status callback's MessageStatus.
_RECEIVED = "received"
# Where a form names the customer's BSUID outright: the field in Programmable Messaging's webhooks, then the name
# Twilio's changelog gives it.
_USER_ID_FIELDS = ("ExternalUserId", "ExternalUserIdentifier")


def looks_like(fields: dict[str, str]) -> bool:
    if not (fields.get("MessageSid") or fields.get("SmsMessageSid")):
        return False
    return fields.get("AccountSid", "").startswith("AC") or bool(fields.get("MessageStatus") or fields.get("SmsStatus"))


def parse(org_id: UUID, fields: dict[str, str], received_at: datetime) -> Parsed:
    """One callback: a status when it names a `MessageStatus` other than `received`, else an incoming message."""
    parsed = Parsed(format="twilio")
    try:
        msg_id = identifier(fields.get("MessageSid") or fields.get("SmsMessageSid"), "MessageSid")
        status = fields.get("MessageStatus") or fields.get("SmsStatus")
        if status and status.strip().lower() != _RECEIVED:
            parsed.statuses.append(_status(org_id, msg_id, status, fields, received_at, parsed.unread))
        else:
            parsed.messages.append(_inbound(org_id, msg_id, fields, received_at, parsed.unread))
    except ItemError as exc:
        parsed.errors.append(f"MessageSid {fields.get('MessageSid', '')[:64]!r}: {exc}")
    return parsed


def fields_of(form: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The form's fields by name; a repeated name keeps its first value."""
    found: dict[str, str] = {}
    for name, value in form:
        found.setdefault(name, value)
    return found


def _status(
    org_id: UUID, msg_id: str, raw: str, fields: dict[str, str], received_at: datetime, unread: list[str]
) -> StatusEvent:
    status = status_name(raw)
    status = _RENAMED.get(status, status)
    code, message = fields.get("ErrorCode") or None, fields.get("ErrorMessage") or None
    reason = format_error(code, message) if status == "failed" and (code or message) else None
    to_bsuid = lenient(user_id, _address(fields.get("To")), "To")
    return StatusEvent(
        org_id=org_id,
        bsp_msg_id=msg_id,
        status=status,
        ts=received_at,
        failed_reason=reason,
        user_id=_customer_user_id(fields, to_bsuid, "To", unread),
    )


def _inbound(org_id: UUID, msg_id: str, fields: dict[str, str], received_at: datetime, unread: list[str]) -> Message:
    kind = fields.get("MessageType", "").strip()
    sender = _address(fields.get("From"))
    from_phone, from_bsuid = lenient(phone, sender, "From"), None
    if from_phone is None and sender:
        from_bsuid = lenient(user_id, sender, "From")
        if from_bsuid is None:
            unread.append("From: neither a phone number nor a WhatsApp user id")
    wa_id = fields.get("WaId")
    if from_phone is None and wa_id:
        from_phone = lenient(phone, wa_id, "WaId")
        if from_phone is None:
            unread.append("WaId: not a phone number")
    return Message(
        org_id=org_id,
        bsp_msg_id=msg_id,
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "MessageType") if kind else None,
        from_phone=from_phone,
        to_phone=whatsapp_phone(fields.get("To"), "To"),
        body=text(fields.get("Body") or None, "Body"),
        sent_at=received_at,
        customer_user_id=_customer_user_id(fields, from_bsuid, "From", unread),
    )


def _customer_user_id(fields: dict[str, str], addressed: str | None, where: str, unread: list[str]) -> str | None:
    """The customer's BSUID: `ExternalUserId` (or `ExternalUserIdentifier`), else the one the address `where`
    holds (`addressed`). An unreadable one, or a named one the address contradicts, is noted in `unread`."""
    named, named_in = None, ""
    for name in _USER_ID_FIELDS:
        if raw := fields.get(name):
            named, named_in = lenient(user_id, _address(raw), name), name  # courier's tests send whatsapp:US.1
            if named is None:
                unread.append(f"{name}: not a WhatsApp user id")
            break
    if named is not None and addressed is not None and named != addressed:
        unread.append(f"{where}: a WhatsApp user id other than {named_in}'s")
    return named or addressed


def _address(value: str | None) -> str | None:
    """A form's `whatsapp:<phone or BSUID>` address without its channel prefix."""
    return value.strip().removeprefix(_CHANNEL) if value is not None else None


def whatsapp_phone(value: str | None, what: str) -> str | None:
    """`whatsapp:+14155238886` (or a bare number) as E.164."""
    return phone(_address(value), what)
