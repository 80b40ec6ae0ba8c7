"""Interakt's webhooks: `{"version", "timestamp", "type", "data": {"customer": {...}, "message": {...}}}`.

`message_api_*` and `message_campaign_*` with `sent`, `delivered`, `read`, `failed` or `clicked` are statuses of
`data.message.id` (the id Interakt's send API answered); each of `delivered_at_utc` and `seen_at_utc` (read) present
is a stage of its own, and the status without its own time takes the envelope `timestamp`, else the time bluetick
received the body. Interakt writes these times without a zone: they are UTC. A failure's reason is
`channel_error_code` with `channel_failure_reason`. A `clicked` (a button of the message tapped) is the unranked key
`clicked` at `meta_data.click_timestamp`, else the envelope time. A status's `data.message.campaign_id` (a message
sent in an Interakt campaign) and `raw_template` (a JSON text naming the template and its language) fill its
message's campaign and template where the log has none (docs/design.md, merge rule 11). `message_received` is a
customer's message (`data.customer.channel_phone_number`, `message`, `message_content_type`, `received_at_utc`);
other types are noted in `unread`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick import jsoncodec
from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    as_dict,
    as_object,
    customer,
    format_error,
    identifier,
    label,
    lenient,
    msg_kind,
    stamped,
    text,
)

INBOUND_TYPE = "message_received"
_STATUS_TYPE = re.compile(r"^message_(api|campaign)_(sent|delivered|read|failed|clicked)$")
CLICKED = "clicked"  # a button of the message was tapped: an unranked key (docs/design.md, Replies and clicks)
_STAGE_TIMES = {"delivered": "delivered_at_utc", "read": "seen_at_utc"}
_ZONED = re.compile(r"(Z|[+-]\d\d:?\d\d)$")


def looks_like(doc: dict[str, Any]) -> bool:
    kind = doc.get("type")
    return isinstance(kind, str) and kind.startswith("message_") and isinstance(doc.get("data"), dict)


def parse(org_id: UUID, doc: dict[str, Any], received_at: datetime) -> Parsed:
    parsed = Parsed(format="interakt")
    kind = doc["type"]
    status = _STATUS_TYPE.match(kind)
    if not status and kind != INBOUND_TYPE:
        parsed.unread.append(f"type {kind}")
        return parsed
    try:
        envelope_time = stamped(_utc(doc.get("timestamp")), received_at)
        message = as_dict(doc["data"].get("message"), "data.message")
        if status:
            parsed.statuses.extend(_statuses(org_id, message, status.group(2), envelope_time))
        else:
            parsed.messages.append(_inbound(org_id, doc["data"], message, envelope_time, parsed.unread))
    except ItemError as exc:
        parsed.errors.append(f"data.message: {exc}")
    return parsed


def _utc(value: Any) -> Any:
    """An Interakt time: ISO 8601 without a zone is UTC."""
    if isinstance(value, str) and "T" in value and not _ZONED.search(value.strip()):
        return value.strip() + "+00:00"
    return value


def _statuses(org_id: UUID, message: dict[str, Any], status: str, envelope_time: datetime) -> list[StatusEvent]:
    msg_id = identifier(message.get("id"))
    times = {
        stage: stamped(_utc(message.get(key)), envelope_time, key)
        for stage, key in _STAGE_TIMES.items()
        if message.get(key) not in (None, "")
    }
    if status == CLICKED:  # its own time is meta_data.click_timestamp, written "2024-06-10 08:38:08.635664"
        clicked_at = as_object(message.get("meta_data")).get("click_timestamp")
        if isinstance(clicked_at, str) and clicked_at.strip():
            times[CLICKED] = stamped(_utc(clicked_at.strip().replace(" ", "T", 1)), envelope_time, "click_timestamp")
    times.setdefault(status, envelope_time)
    reason = None
    if status == "failed":
        reason = format_error(message.get("channel_error_code"), message.get("channel_failure_reason"))
    campaign = message.get("campaign_id")
    campaign_id = lenient(label, str(campaign) if isinstance(campaign, int) else campaign, "campaign_id")
    template = _raw_template(message.get("raw_template"))
    return [
        StatusEvent(
            org_id=org_id,
            bsp_msg_id=msg_id,
            status=stage,
            ts=ts,
            failed_reason=reason if stage == "failed" else None,
            template_name=template[0],
            template_language=template[1],
            campaign_id=campaign_id,
        )
        for stage, ts in times.items()
    ]


def _raw_template(value: Any) -> tuple[str | None, str | None]:
    """`raw_template`, a JSON text `{"name", "language", "category"}`: the template's name and language (None, None
    when absent or unreadable; context only, so the status is read either way)."""
    if not isinstance(value, str):
        return None, None
    try:
        doc = jsoncodec.loads(value)
    except ValueError:
        return None, None
    if not isinstance(doc, dict) or (name := lenient(label, doc.get("name"), "raw_template.name")) is None:
        return None, None
    return name, lenient(label, doc.get("language"), "raw_template.language")


def _inbound(
    org_id: UUID, data: dict[str, Any], message: dict[str, Any], envelope_time: datetime, unread: list[str]
) -> Message:
    person = as_object(data.get("customer"))
    from_phone, bsuid = customer(person.get("channel_phone_number"), "data.customer.channel_phone_number", unread)
    kind = message.get("message_content_type")
    body = message.get("message")
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(message.get("id")),
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "message_content_type") if isinstance(kind, str) else None,
        from_phone=from_phone,
        body=text(body, "message") if isinstance(body, str) else None,
        sent_at=stamped(_utc(message.get("received_at_utc")), envelope_time, "received_at_utc"),
        customer_user_id=bsuid,
    )
