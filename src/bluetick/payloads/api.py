"""The logging API's body (`POST /v1/orgs/{org_id}/messages`) as a Message."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bluetick.events import Direction, Message
from bluetick.payloads.common import (
    ItemError,
    event_time,
    identifier,
    label,
    msg_kind,
    phone,
    storable_json,
    text,
    user_id,
)

# Per direction: the customer's phone and user id fields, and the other direction's, which do not apply.
_CUSTOMER_FIELDS = {
    Direction.OUTBOUND: (("to_phone", "to_user_id"), "from_user_id"),
    Direction.INBOUND: (("from_phone", "from_user_id"), "to_user_id"),
}


def parse_message(org_id: UUID, doc: Any) -> Message:
    """The logging API's body as a Message; ItemError names the field that is wrong."""
    if not isinstance(doc, dict):
        raise ItemError("body must be a JSON object")
    raw_direction = doc.get("direction") or Direction.OUTBOUND.value
    if raw_direction not in (Direction.OUTBOUND.value, Direction.INBOUND.value):
        raise ItemError("direction must be OUTBOUND or INBOUND")
    direction = Direction(raw_direction)
    to_phone = phone(doc.get("to_phone"), "to_phone")
    from_phone = phone(doc.get("from_phone"), "from_phone")
    (phone_field, user_field), other_user_field = _CUSTOMER_FIELDS[direction]
    customer_user_id = user_id(doc.get(user_field), user_field)
    if doc.get(other_user_field) is not None:
        raise ItemError(f"{other_user_field} does not apply to an {direction.value} message; use {user_field}")
    if (to_phone if direction is Direction.OUTBOUND else from_phone) is None and customer_user_id is None:
        raise ItemError(f"{phone_field} or {user_field} is required for an {direction.value} message")
    ref = doc.get("ref_bsp_msg_id")
    metadata = doc.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ItemError("metadata must be a JSON object")
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(doc.get("bsp_msg_id"), "bsp_msg_id"),
        direction=direction,
        msg_kind=msg_kind(doc.get("msg_kind")),
        to_phone=to_phone,
        from_phone=from_phone,
        body=text(doc.get("body"), "body"),
        sent_at=event_time(doc["sent_at"], "sent_at") if doc.get("sent_at") is not None else None,
        metadata=storable_json(metadata) if metadata is not None else None,
        customer_user_id=customer_user_id,
        ref_bsp_msg_id=identifier(ref, "ref_bsp_msg_id") if ref is not None else None,
        **template_fields(doc.get("template")),
        **campaign_fields(doc.get("campaign")),
    )


def template_fields(value: Any) -> dict[str, str | None]:
    """`template`: {"name", "language", "category"} (name required), as Message's template_* fields."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ItemError('template must be a JSON object {"name", "language", "category"}')
    if value.get("name") is None:
        raise ItemError("template.name is required")
    return {f"template_{key}": label(value.get(key), f"template.{key}") for key in ("name", "language", "category")}


def campaign_fields(value: Any) -> dict[str, str | None]:
    """`campaign`: its id as text, or {"id", "name"} (id required), as Message's campaign_* fields."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {"campaign_id": label(value, "campaign")}
    if not isinstance(value, dict):
        raise ItemError('campaign must be an id (a string) or a JSON object {"id", "name"}')
    if value.get("id") is None:
        raise ItemError("campaign.id is required")
    return {
        "campaign_id": label(value.get("id"), "campaign.id"),
        "campaign_name": label(value.get("name"), "campaign.name"),
    }
