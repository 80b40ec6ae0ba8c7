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


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One delivery receipt: message `bsp_msg_id` reached `status` at `ts` (UTC)."""

    org_id: UUID
    bsp_msg_id: str
    status: str
    ts: datetime
    failed_reason: str | None = None
    receipt_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "org_id": str(self.org_id),
            "bsp_msg_id": self.bsp_msg_id,
            "status": self.status,
            "ts": self.ts.isoformat(),
            "failed_reason": self.failed_reason,
            "receipt_id": self.receipt_id,
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
        }
