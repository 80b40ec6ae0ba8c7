"""AiSensy's project webhooks: `{"id" | "event_id", "topic", "created_at", "data": {"message": {...}}}`.

What is read:
- topics `message.status.updated`, `message.status.update` and `message.status` as statuses; `message.sender.user`
  and `message.created` as the customer's message; any other topic is noted in `unread`;
- the delivery id (applied once) is the envelope `id`, else `event_id`;
- the message is `data.message`, else `data` itself; its id is `messageId`, else `message_id`, else `id`;
- `status` in any case (`READ` is `read`); each of `sent_at`, `delivered_at`, `read_at`, `failed_at` present is a
  stage of its own; the status without its own time takes `created_at`, else the time bluetick received the body;
- a failure's reason is `failureResponse.code` with `reason` (else `message`);
- a customer message's `phone_number` (else `contact.mobile`, where a `message.created` body keeps it),
  `message_type`, `message_content.text` (else `caption`, else the message's own `text`), and `sent_at`, else
  `created_at`, else the time received.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    as_dict,
    customer,
    format_error,
    identifier,
    msg_kind,
    stamped,
    status_name,
    text,
)

STATUS_TOPICS = frozenset({"message.status.updated", "message.status.update", "message.status"})
INBOUND_TOPICS = frozenset({"message.sender.user", "message.created"})
# Stage times AiSensy may carry beside the status itself; each one present is a real event.
_STAGE_TIMES = ("sent", "delivered", "read", "failed")


def looks_like(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("topic"), str) and "data" in doc


def parse(org_id: UUID, doc: dict[str, Any], received_at: datetime) -> Parsed:
    parsed = Parsed(format="aisensy")
    topic = doc["topic"]
    if topic not in STATUS_TOPICS | INBOUND_TOPICS:
        parsed.unread.append(f"topic {topic}")
        return parsed
    try:
        delivery = doc.get("id") if doc.get("id") is not None else doc.get("event_id")
        receipt = identifier(delivery, "id") if delivery is not None else None
        data = as_dict(doc.get("data"), "data")
        message = as_dict(data["message"] if isinstance(data.get("message"), dict) else data, "data.message")
        msg_id = identifier(_first(message, "messageId", "message_id", "id"), "messageId")
        envelope_time = stamped(doc.get("created_at"), received_at, "created_at")
        if topic in STATUS_TOPICS:
            parsed.statuses.extend(_statuses(org_id, msg_id, message, envelope_time, receipt))
        else:
            parsed.messages.append(_inbound(org_id, msg_id, message, envelope_time, receipt, parsed.unread))
    except ItemError as exc:
        parsed.errors.append(f"data.message: {exc}")
    return parsed


def _first(message: dict[str, Any], *keys: str) -> Any:
    return next((message[k] for k in keys if message.get(k) not in (None, "")), None)


def _statuses(
    org_id: UUID, msg_id: str, message: dict[str, Any], envelope_time: datetime, receipt: str | None
) -> list[StatusEvent]:
    status = status_name(message.get("status"))
    failure = message.get("failureResponse")
    reason = None
    if isinstance(failure, dict):
        reason = format_error(failure.get("code"), failure.get("reason") or failure.get("message"))
    times: dict[str, datetime] = {}
    for stage in _STAGE_TIMES:
        if message.get(f"{stage}_at") is not None:
            times[stage] = stamped(message.get(f"{stage}_at"), envelope_time, f"{stage}_at")
    times.setdefault(status, envelope_time)
    return [
        StatusEvent(
            org_id=org_id,
            bsp_msg_id=msg_id,
            status=stage,
            ts=ts,
            failed_reason=reason if stage == "failed" else None,
            receipt_id=receipt,
        )
        for stage, ts in times.items()
    ]


def _inbound(
    org_id: UUID,
    msg_id: str,
    message: dict[str, Any],
    envelope_time: datetime,
    receipt: str | None,
    unread: list[str],
) -> Message:
    content = message.get("message_content")
    body = None
    if isinstance(content, dict):
        body = text(content.get("text") or content.get("caption"), "message_content.text")
    if body is None and isinstance(message.get("text"), str):
        body = text(message.get("text"), "data.message.text")
    kind = message.get("message_type")
    sender, where = message.get("phone_number"), "data.message.phone_number"
    contact = message.get("contact")
    if sender in (None, "") and isinstance(contact, dict):
        sender, where = contact.get("mobile"), "data.message.contact.mobile"
    from_phone, bsuid = customer(sender, where, unread)
    return Message(
        org_id=org_id,
        bsp_msg_id=msg_id,
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "message_type") if isinstance(kind, str) else None,
        from_phone=from_phone,
        body=body,
        sent_at=stamped(message.get("sent_at"), envelope_time, "sent_at"),
        receipt_id=receipt,
        customer_user_id=bsuid,
    )
