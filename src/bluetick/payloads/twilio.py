"""Twilio's form-encoded WhatsApp webhooks: message status callbacks and incoming customer messages.

Twilio's callbacks carry no event time: a status takes the time bluetick received it, and so does an
incoming message's `sent_at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import ItemError, Parsed, format_error, identifier, msg_kind, phone, status_name, text

_CHANNEL = "whatsapp:"
# Twilio's name for a message it could not deliver; bluetick's is `failed`. Other names (queued, accepted,
# sending, canceled, ...) are kept as they are: unranked stages (merge rule 5).
_RENAMED = {"undelivered": "failed"}
# What a customer's incoming message is marked with instead of a status callback's MessageStatus.
_RECEIVED = "received"


def looks_like(fields: dict[str, str]) -> bool:
    return fields.get("AccountSid", "").startswith("AC") and bool(
        fields.get("MessageSid") or fields.get("SmsMessageSid")
    )


def parse(org_id: UUID, fields: dict[str, str], received_at: datetime) -> Parsed:
    """One callback: a status when it names a `MessageStatus` other than `received`, else an incoming message."""
    parsed = Parsed(format="twilio")
    try:
        msg_id = identifier(fields.get("MessageSid") or fields.get("SmsMessageSid"), "MessageSid")
        status = fields.get("MessageStatus") or fields.get("SmsStatus")
        if status and status.strip().lower() != _RECEIVED:
            parsed.statuses.append(_status(org_id, msg_id, status, fields, received_at))
        else:
            parsed.messages.append(_inbound(org_id, msg_id, fields, received_at))
    except ItemError as exc:
        parsed.errors.append(f"MessageSid {fields.get('MessageSid', '')[:64]!r}: {exc}")
    return parsed


def fields_of(form: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The form's fields by name; a repeated name keeps its first value."""
    found: dict[str, str] = {}
    for name, value in form:
        found.setdefault(name, value)
    return found


def _status(org_id: UUID, msg_id: str, raw: str, fields: dict[str, str], received_at: datetime) -> StatusEvent:
    status = status_name(raw)
    status = _RENAMED.get(status, status)
    code, message = fields.get("ErrorCode") or None, fields.get("ErrorMessage") or None
    reason = format_error(code, message) if status == "failed" and (code or message) else None
    return StatusEvent(org_id=org_id, bsp_msg_id=msg_id, status=status, ts=received_at, failed_reason=reason)


def _inbound(org_id: UUID, msg_id: str, fields: dict[str, str], received_at: datetime) -> Message:
    kind = fields.get("MessageType", "").strip()
    return Message(
        org_id=org_id,
        bsp_msg_id=msg_id,
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "MessageType") if kind else None,
        from_phone=whatsapp_phone(fields.get("From") or fields.get("WaId"), "From"),
        to_phone=whatsapp_phone(fields.get("To"), "To"),
        body=text(fields.get("Body") or None, "Body"),
        sent_at=received_at,
    )


def whatsapp_phone(value: str | None, what: str) -> str | None:
    """`whatsapp:+14155238886` (or a bare number) as E.164."""
    return phone(value.strip().removeprefix(_CHANNEL) if value is not None else None, what)
