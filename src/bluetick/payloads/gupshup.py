"""Gupshup's v2 callbacks: `{"app", "timestamp", "version": 2, "type", "payload": {...}}` (v3 is Meta's envelope).

A `message-event` is a status of an outbound message. For `enqueued` and `failed`, `payload.id` is Gupshup's message
id (what its send API answered); for `sent`, `delivered` and `read` it is WhatsApp's id and `gsId` is Gupshup's.
Each status is emitted under every id it names (`id`, `gsId`, and an enqueued event's `whatsappMessageId`), so it
finds the message whichever id the agent logged; the copy under the other id stays parked until purged.
`enqueued` is kept as an unranked key (merge rule 5). A status's time is `payload.payload.ts`, else the envelope
`timestamp`, else the time bluetick received the body. A `message` is a customer's message; other types are noted
in `unread`. A customer's message whose `context` names the message it answers marks that message `replied` (a
`button_reply`, `list_reply` or `quick_reply` `clicked` too, its `postbackText`, else `id`, as `button_payload`).

A `message-event` of type `deleted` is no status of an outbound message: the customer deleted, for everyone, a
message they had sent (`payload.id`, WhatsApp's id, the id their message was stored under). It is stored as the Cloud
API's `revoke` is (`common.deletion`): an INBOUND REVOKE row `<id>#deleted` about the message, from `destination`
(the customer's phone, or BSUID) and `userId`, at `payload.payload.ts`, else the envelope time.
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
    as_object,
    customer,
    deletion,
    event_time,
    format_error,
    identifier,
    lenient,
    msg_kind,
    stamped,
    status_name,
    text,
    user_id,
)
from bluetick.payloads.meta import BUTTON_PAYLOAD, CLICKED, REPLIED, pricing, replied_to

STATUS_TYPE = "message-event"
DELETED = "deleted"  # a message-event that is the customer deleting their message, not a status
INBOUND_TYPE = "message"
# Where each inbound type keeps its text.
_BODY_KEYS = ("text", "caption", "title")
# Inbound types that are a tap (docs/design.md, Replies and clicks), and where each keeps what the tap sent.
_TAP_TYPES = frozenset({"button_reply", "list_reply", "quick_reply"})
_TAP_KEYS = ("postbackText", "id", "text", "title")


def looks_like(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("app"), str) and isinstance(doc.get("type"), str) and "payload" in doc


def looks_like_v3(doc: dict[str, Any]) -> bool:
    return "gs_app_id" in doc


def parse(org_id: UUID, doc: dict[str, Any], received_at: datetime) -> Parsed:
    parsed = Parsed(format="gupshup")
    kind = doc["type"]
    if kind not in (STATUS_TYPE, INBOUND_TYPE):
        parsed.unread.append(f"type {kind}")
        return parsed
    envelope_time = lenient(event_time, doc.get("timestamp"), "timestamp") or received_at
    try:
        payload = as_dict(doc.get("payload"), "payload")
        if kind == STATUS_TYPE and _is_deletion(payload):
            parsed.messages.append(_deletion(org_id, payload, envelope_time, parsed.unread))
        elif kind == STATUS_TYPE:
            parsed.statuses.extend(_statuses(org_id, payload, envelope_time))
        else:
            message = _inbound(org_id, payload, envelope_time, parsed.unread)
            parsed.messages.append(message)
            parsed.statuses.extend(_engagement(message, payload))
    except ItemError as exc:
        parsed.errors.append(f"payload: {exc}")
    return parsed


def _statuses(org_id: UUID, payload: dict[str, Any], envelope_time: datetime) -> list[StatusEvent]:
    status = status_name(payload.get("type"))
    inner = as_object(payload.get("payload"))
    ids = [identifier(payload.get("id"))]
    for key in ("gsId", "whatsappMessageId"):
        other = lenient(identifier, payload.get(key, inner.get(key)), key)
        if other is not None and other not in ids:
            ids.append(other)
    ts = stamped(inner.get("ts"), envelope_time, "payload.ts")
    reason = format_error(inner.get("code"), inner.get("reason")) if status == "failed" else None
    bsuid = lenient(user_id, payload.get("userId"), "userId")
    price = pricing(payload.get("pricing"), payload.get("conversation"))
    return [
        StatusEvent(
            org_id=org_id, bsp_msg_id=i, status=status, ts=ts, failed_reason=reason, user_id=bsuid, pricing=price
        )
        for i in ids
    ]


def _is_deletion(payload: dict[str, Any]) -> bool:
    event = payload.get("type")
    return isinstance(event, str) and event.strip().lower() == DELETED


def _deletion(org_id: UUID, payload: dict[str, Any], envelope_time: datetime, unread: list[str]) -> Message:
    inner = as_object(payload.get("payload"))
    ts = stamped(inner.get("ts"), envelope_time, "payload.ts")
    customer_phone, customer_bsuid = customer(payload.get("destination"), "payload.destination", unread)
    bsuid = lenient(user_id, payload.get("userId"), "userId") or customer_bsuid
    return deletion(org_id, identifier(payload.get("id")), ts, customer_phone, bsuid)


def _inbound(org_id: UUID, payload: dict[str, Any], envelope_time: datetime, unread: list[str]) -> Message:
    sender = as_object(payload.get("sender"))
    from_phone, from_bsuid = customer(sender.get("phone", payload.get("source")), "payload.sender.phone", unread)
    inner = as_object(payload.get("payload"))
    body = next((inner[k] for k in _BODY_KEYS if isinstance(inner.get(k), str)), None)
    kind = payload.get("type") if isinstance(payload.get("type"), str) else None  # a hostile type is no kind
    tapped = None
    if kind in _TAP_TYPES:
        tapped = next((inner[k] for k in _TAP_KEYS if isinstance(inner.get(k), str) and inner[k].strip()), None)
    context = as_object(payload.get("context"))
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(payload.get("id")),
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "type") if isinstance(kind, str) else None,
        from_phone=from_phone,
        body=text(body, "payload.payload.text"),
        sent_at=envelope_time,
        metadata={BUTTON_PAYLOAD: text(tapped)} if tapped is not None else None,
        customer_user_id=lenient(user_id, sender.get("userId"), "sender.userId") or from_bsuid,
        ref_bsp_msg_id=replied_to(context),
    )


def _engagement(message: Message, payload: dict[str, Any]) -> list[StatusEvent]:
    """A reply's `context` names the message it answers by WhatsApp's `id` and Gupshup's `gsId`: `replied` (and
    `clicked` for a tap) under each, as a status is, at the reply's time."""
    context = as_object(payload.get("context"))
    ids = [i for key in ("id", "gsId") if (i := lenient(identifier, context.get(key), f"context.{key}"))]
    if not ids or message.sent_at is None:
        return []
    stages = [REPLIED, CLICKED] if (message.metadata or {}).get(BUTTON_PAYLOAD) is not None else [REPLIED]
    return [
        StatusEvent(org_id=message.org_id, bsp_msg_id=i, status=stage, ts=message.sent_at)
        for i in dict.fromkeys(ids)
        for stage in stages
    ]
