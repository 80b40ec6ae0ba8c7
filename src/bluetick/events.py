"""The normalised events every BSP format is parsed into; nothing after the parsers sees raw JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class Direction(StrEnum):
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"


class EventKind(StrEnum):
    """msg_kind of a row that is an event about another message, not a message of its own: never a
    customer message awaiting a reply, never a conversation turn (docs/design.md, Message kinds)."""

    REACTION = "REACTION"
    EDIT = "EDIT"
    REVOKE = "REVOKE"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True, slots=True)
class Pricing:
    """What Meta's status webhook says a message costs: its `pricing` and `conversation` objects."""

    billable: bool | None = None
    model: str | None = None
    category: str | None = None
    type: str | None = None
    conversation_id: str | None = None
    conversation_origin: str | None = None
    conversation_expires_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "billable": self.billable,
            "pricing_model": self.model,
            "pricing_category": self.category,
            "pricing_type": self.type,
            "conversation_id": self.conversation_id,
            "conversation_origin": self.conversation_origin,
            "conversation_expires_at": (
                self.conversation_expires_at.isoformat() if self.conversation_expires_at else None
            ),
        }


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One delivery receipt: message `bsp_msg_id` reached `status` at `ts` (UTC)."""

    org_id: UUID
    bsp_msg_id: str
    status: str
    ts: datetime
    failed_reason: str | None = None
    receipt_id: str | None = None
    user_id: str | None = None  # the customer's BSUID, where the webhook names one
    pricing: Pricing | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "org_id": str(self.org_id),
            "bsp_msg_id": self.bsp_msg_id,
            "status": self.status,
            "ts": self.ts.isoformat(),
            "failed_reason": self.failed_reason,
            "receipt_id": self.receipt_id,
            "user_id": self.user_id,
            "pricing": self.pricing.to_json() if self.pricing else None,
        }


@dataclass(frozen=True, slots=True)
class Message:
    """One message to log: an agent's reply (OUTBOUND) or a customer's message (INBOUND)."""

    org_id: UUID
    bsp_msg_id: str
    direction: Direction = Direction.OUTBOUND
    msg_kind: str | None = None
    to_phone: str | None = None
    from_phone: str | None = None
    body: str | None = None
    sent_at: datetime | None = None
    metadata: dict[str, Any] | None = None
    receipt_id: str | None = None
    customer_user_id: str | None = None  # the customer's BSUID (to_user_id / from_user_id)
    ref_bsp_msg_id: str | None = None  # the message a reaction, edit or revoke is about

    @property
    def key(self) -> tuple[UUID, str]:
        return (self.org_id, self.bsp_msg_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "org_id": str(self.org_id),
            "bsp_msg_id": self.bsp_msg_id,
            "direction": self.direction.value,
            "msg_kind": self.msg_kind,
            "to_phone": self.to_phone,
            "from_phone": self.from_phone,
            "body": self.body,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "metadata": self.metadata,
            "receipt_id": self.receipt_id,
            "customer_user_id": self.customer_user_id,
            "ref_bsp_msg_id": self.ref_bsp_msg_id,
        }
