"""Meta's Cloud API envelope (also forwarded as-is by 360dialog and AiSensy), and the seeds' flat form."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bluetick.events import Direction, Message, StatusEvent
from bluetick.payloads.common import (
    ItemError,
    Parsed,
    as_dict,
    as_list,
    event_time,
    format_error,
    identifier,
    msg_kind,
    phone,
    status_name,
    text,
)


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
    for i, item in enumerate(items):
        try:
            parsed.messages.append(inbound_message(org_id, item, business))
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
    )


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
    return text(content.get("caption"), "caption") if isinstance(content.get("caption"), str) else None


def inbound_message(org_id: UUID, item: Any, business_phone: str | None) -> Message:
    item = as_dict(item, "message")
    kind = item.get("type") if isinstance(item.get("type"), str) else "unknown"
    return Message(
        org_id=org_id,
        bsp_msg_id=identifier(item.get("id")),
        direction=Direction.INBOUND,
        msg_kind=msg_kind(kind.upper()[:64], "type"),
        from_phone=phone(item.get("from"), "from"),
        to_phone=business_phone,
        body=_message_body(item, kind),
        sent_at=event_time(item.get("timestamp")),
    )
