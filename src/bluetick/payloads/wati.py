"""Wati's webhooks: one flat event a body, named by `eventType` (`_v2` and `_bsuid` suffixes alike).

Statuses: `templateMessageSent` and `sessionMessageSent` (sent), `sentMessageDELIVERED`, `sentMessageREAD`,
`sentMessageREPLIED` (an unranked key) and `templateMessageFailed` (`failedCode`, `failedDetail`). Each is emitted
under `localMessageId` (what Wati's send API answers) and `whatsappMessageId`; the copy under the id the agent did not
log stays parked until purged. Its time is `timestamp`, else `created`, else the time bluetick received the body.
`message` is a customer's message (`waId`, `whatsappMessageId`, `text`, `type`); other events are noted in `unread`.
A status's `templateName` (templateMessageSent's, and any other's that carries one) is its message's template name,
which fills the log's where it has none (docs/design.md, merge rule 11); one that is not a label is noted in `unread`.

BSUIDs: a `_bsuid` event (and any other that carries them) names the customer by `bsuid` (always present there;
`waId`, the phone, may be omitted) and `parentBsuid`. A status's are its `user_id` and `parent_user_id`; a customer
message's (`message_bsuid`, the BSUID-first "message received") its `customer_user_id` and
`customer_parent_user_id`, beside `waId`'s phone when given. A `waId` that is a BSUID is the customer's BSUID when
`bsuid` is absent. A `bsuid` or `parentBsuid` that is not a BSUID is noted in `unread`, and the event is still read.
`newContactMessageReceived` (and its `_bsuid` form) names a contact, not a message (no message id; the message itself
comes as `message`): it is noted in `unread`, so the body is kept. `username` and `senderName` are not read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import (
    MAX_LABEL_CHARS,
    ItemError,
    Parsed,
    customer,
    format_error,
    identifier,
    label,
    lenient,
    msg_kind,
    stamped,
    text,
    user_id,
)

INBOUND_EVENT = "message"
_STAGE_BY_EVENT = {
    "templateMessageSent": "sent",
    "sessionMessageSent": "sent",
    "sentMessageSENT": "sent",
    "sentMessageDELIVERED": "delivered",
    "sentMessageREAD": "read",
    "sentMessageREPLIED": "replied",
    "templateMessageFailed": "failed",
    "sentMessageFAILED": "failed",
}


def looks_like(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("eventType"), str)


def parse(org_id: UUID, doc: dict[str, Any], received_at: datetime) -> Parsed:
    parsed = Parsed(format="wati")
    event = doc["eventType"]
    base = event.split("_")[0]
    try:
        ts = stamped(doc.get("timestamp") or doc.get("created"), received_at)
        if base in _STAGE_BY_EVENT:
            parsed.statuses.extend(_statuses(org_id, doc, _STAGE_BY_EVENT[base], ts, parsed.unread))
        elif base == INBOUND_EVENT:
            parsed.messages.append(_inbound(org_id, doc, ts, parsed.unread))
        else:
            parsed.unread.append(f"eventType {event}")
    except ItemError as exc:
        parsed.errors.append(f"{event}: {exc}")
    return parsed


def _statuses(org_id: UUID, doc: dict[str, Any], stage: str, ts: datetime, unread: list[str]) -> list[StatusEvent]:
    ids = [i for key in ("localMessageId", "whatsappMessageId") if (i := lenient(identifier, doc.get(key), key))]
    if not ids:
        raise ItemError("localMessageId and whatsappMessageId are missing")
    reason = format_error(doc.get("failedCode"), doc.get("failedDetail")) if stage == "failed" else None
    bsuid, parent = _bsuids(doc, unread)
    template = lenient(label, doc.get("templateName"), "templateName")
    if template is None and doc.get("templateName") not in (None, ""):
        unread.append(f"templateName: not a string of 1 to {MAX_LABEL_CHARS} characters")
    return [
        StatusEvent(
            org_id=org_id,
            bsp_msg_id=i,
            status=stage,
            ts=ts,
            failed_reason=reason,
            user_id=bsuid,
            parent_user_id=parent,
            template_name=template,
        )
        for i in dict.fromkeys(ids)
    ]


def _inbound(org_id: UUID, doc: dict[str, Any], ts: datetime, unread: list[str]) -> Message:
    from_phone, wa_bsuid = customer(doc.get("waId"), "waId", unread)
    bsuid, parent = _bsuids(doc, unread)
    kind = doc.get("type")
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(doc.get("whatsappMessageId") or doc.get("id"), "whatsappMessageId"),
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "type") if isinstance(kind, str) else None,
        from_phone=from_phone,
        body=text(doc.get("text")) if isinstance(doc.get("text"), str) else None,
        sent_at=ts,
        customer_user_id=bsuid or wa_bsuid,
        customer_parent_user_id=parent,
    )


def _bsuids(doc: dict[str, Any], unread: list[str]) -> tuple[str | None, str | None]:
    """The customer's `bsuid` and `parentBsuid`; one present but not a BSUID is noted in `unread` and left out."""
    found: list[str | None] = []
    for key in ("bsuid", "parentBsuid"):
        value = lenient(user_id, doc.get(key), key)
        if value is None and doc.get(key) not in (None, ""):
            unread.append(f"{key}: not a WhatsApp user id")
        found.append(value)
    return found[0], found[1]
