"""AiSensy's project webhooks: `{"id", "topic", "created_at", "data": {"message": {...}}}`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    as_dict,
    event_time,
    format_error,
    identifier,
    msg_kind,
    phone,
    status_name,
    text,
)

STATUS_TOPIC = "message.status.updated"
INBOUND_TOPIC = "message.sender.user"
# Stage times AiSensy may carry beside the status itself; each one present is a real event.
_STAGE_TIMES = ("sent", "delivered", "read", "failed")


def looks_like(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("topic"), str) and "data" in doc


def parse(org_id: UUID, doc: dict[str, Any]) -> Parsed:
    parsed = Parsed(format="aisensy")
    topic = doc["topic"]
    if topic not in (STATUS_TOPIC, INBOUND_TOPIC):
        return parsed
    try:
        receipt = identifier(doc.get("id"), "id") if doc.get("id") is not None else None
        data = as_dict(doc.get("data"), "data")
        message = as_dict(data.get("message"), "data.message")
        msg_id = identifier(message.get("messageId") or message.get("id"), "messageId")
        if topic == STATUS_TOPIC:
            parsed.statuses.extend(_statuses(org_id, msg_id, message, doc.get("created_at"), receipt))
        else:
            parsed.messages.append(_inbound(org_id, msg_id, message, doc.get("created_at"), receipt))
    except ItemError as exc:
        parsed.errors.append(f"data.message: {exc}")
    return parsed


def _statuses(
    org_id: UUID, msg_id: str, message: dict[str, Any], created_at: Any, receipt: str | None
) -> list[StatusEvent]:
    status = status_name(message.get("status"))
    failure = message.get("failureResponse")
    reason = None
    if isinstance(failure, dict):
        reason = format_error(failure.get("code"), failure.get("reason") or failure.get("message"))
    times = {stage: message.get(f"{stage}_at") for stage in _STAGE_TIMES}
    times = {stage: value for stage, value in times.items() if value is not None}
    if status not in times:
        times[status] = created_at
    return [
        StatusEvent(
            org_id=org_id,
            bsp_msg_id=msg_id,
            status=stage,
            ts=event_time(value),
            failed_reason=reason if stage == "failed" else None,
            receipt_id=receipt,
        )
        for stage, value in times.items()
    ]


def _inbound(org_id: UUID, msg_id: str, message: dict[str, Any], created_at: Any, receipt: str | None) -> Message:
    content = message.get("message_content")
    body = None
    if isinstance(content, dict):
        body = text(content.get("text") or content.get("caption"), "message_content.text")
    kind = message.get("message_type")
    return Message(
        org_id=org_id,
        bsp_msg_id=msg_id,
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "message_type") if isinstance(kind, str) else None,
        from_phone=phone(message.get("phone_number"), "phone_number"),
        body=body,
        sent_at=event_time(message.get("sent_at") or created_at, "sent_at"),
        receipt_id=receipt,
    )
