"""The normalised events every BSP format is parsed into; nothing after the parsers sees raw JSON.

An event holds only text Postgres can store: its constructor passes every text field (and every key and text of
a message's metadata) through `storable`, so no parser can hand the database a NUL or a lone surrogate."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

MAX_JSON_DEPTH = 32  # arrays and objects a stored JSON value may nest, itself included


class UnstorableJson(ValueError):
    """A JSON value Postgres jsonb cannot hold (NaN or infinity) or bluetick will not store (nested too deep)."""


def storable(value: str) -> str:
    """`value` with what Postgres text cannot hold (NUL, lone surrogates) replaced; `value` itself when clean."""
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    cleaned = value.replace("\x00", "\ufffd")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        return cleaned.encode("utf-8", "replace").decode("utf-8")
    return cleaned


def storable_tree(value: Any, depth: int = 1) -> Any:
    """A JSON value with every key and text `storable`; UnstorableJson for NaN or infinity, or past MAX_JSON_DEPTH
    (a value nested a thousand deep would exhaust Python's recursion in every later reader and writer)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise UnstorableJson("must not hold NaN or infinite numbers")
    if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
        raise UnstorableJson(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        return {storable(str(k)): storable_tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_tree(v, depth + 1) for v in value]
    return value


def _clean(event: object, names: tuple[str, ...]) -> None:
    """Make each text field `names` of a frozen `event` storable, in place."""
    for name in names:
        value = getattr(event, name)
        if value is not None and (cleaned := storable(value)) is not value:
            object.__setattr__(event, name, cleaned)


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

    def __post_init__(self) -> None:
        _clean(self, ("model", "category", "type", "conversation_id", "conversation_origin"))

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
    parent_user_id: str | None = None  # the customer's parent BSUID (a business portfolio's), where named
    # The message's template and campaign where the webhook names them (Wati's templateName, Interakt's raw_template
    # and campaign_id): they fill the log's own only where it has none (docs/design.md, merge rule 11).
    template_name: str | None = None
    template_language: str | None = None
    campaign_id: str | None = None

    def __post_init__(self) -> None:
        _clean(self, ("bsp_msg_id", "status", "failed_reason", "receipt_id", "user_id", "parent_user_id",
                      "template_name", "template_language", "campaign_id"))  # fmt: skip

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
            "parent_user_id": self.parent_user_id,
            "template_name": self.template_name,
            "template_language": self.template_language,
            "campaign_id": self.campaign_id,
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
    customer_parent_user_id: str | None = None  # the customer's parent BSUID, where named
    group_id: str | None = None  # the WhatsApp group a message was sent in
    # The template an outbound message was sent from and the campaign it belongs to, as declared (issue 25).
    template_name: str | None = None
    template_language: str | None = None
    template_category: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None

    def __post_init__(self) -> None:
        _clean(
            self,
            ("bsp_msg_id", "msg_kind", "to_phone", "from_phone", "body", "receipt_id", "customer_user_id",
             "ref_bsp_msg_id", "customer_parent_user_id", "group_id", "template_name", "template_language",
             "template_category", "campaign_id", "campaign_name"),
        )  # fmt: skip
        if self.metadata is not None:
            object.__setattr__(self, "metadata", storable_tree(self.metadata))

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
            "customer_parent_user_id": self.customer_parent_user_id,
            "group_id": self.group_id,
            "template_name": self.template_name,
            "template_language": self.template_language,
            "template_category": self.template_category,
            "campaign_id": self.campaign_id,
            "campaign_name": self.campaign_name,
        }


# Facts: what a webhook says that is not a message or a receipt of one (docs/design.md, Platform facts). Each is
# stored in a table of its own by bluetick_apply_facts, in the batch's transaction; `kind` names it there.


class _FactJson:
    """A fact's JSON for bluetick_apply_facts: its `kind` and every field, a time as ISO 8601, the org as text."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            doc[f.name] = (
                value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, UUID) else value
            )
        return doc


@dataclass(frozen=True, slots=True)
class Preference(_FactJson):
    """A customer stopped or resumed a category of messages (Meta's `user_preferences`): the latest by `ts` wins."""

    kind: ClassVar[str] = "preference"
    org_id: UUID
    ts: datetime
    preference: str  # stop | resume, as Meta writes it, lower-cased
    category: str  # marketing_messages
    customer_phone: str | None = None
    customer_user_id: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        _clean(self, ("preference", "category", "customer_phone", "customer_user_id", "detail"))


@dataclass(frozen=True, slots=True)
class TemplateUpdate(_FactJson):
    """A message template's status, quality or category changed (Meta's template webhooks)."""

    kind: ClassVar[str] = "template"
    org_id: UUID
    template_id: str
    field: str  # status | quality | category
    value: str  # APPROVED, GREEN, MARKETING, ... as Meta writes it
    ts: datetime
    name: str | None = None
    language: str | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None  # the change's whole value, for what is not a column

    def __post_init__(self) -> None:
        _clean(self, ("template_id", "field", "value", "name", "language", "reason"))
        if self.detail is not None:
            object.__setattr__(self, "detail", storable_tree(self.detail))


@dataclass(frozen=True, slots=True)
class AccountUpdate(_FactJson):
    """Something about the business's account or phone number (Meta's `account_update`,
    `phone_number_quality_update`), kept whole for analysts."""

    kind: ClassVar[str] = "account"
    org_id: UUID
    field: str  # the webhook field it came in
    ts: datetime
    event: str | None = None  # the value's `event`, where it has one
    detail: dict[str, Any] | None = None  # the change's whole value

    def __post_init__(self) -> None:
        _clean(self, ("field", "event"))
        if self.detail is not None:
            object.__setattr__(self, "detail", storable_tree(self.detail))


@dataclass(frozen=True, slots=True)
class GroupReceipt(_FactJson):
    """One participant's receipt of a message sent to a WhatsApp group; the message's own row merges it too."""

    kind: ClassVar[str] = "group_receipt"
    org_id: UUID
    bsp_msg_id: str
    status: str
    ts: datetime
    group_id: str | None = None
    participant_phone: str | None = None
    participant_user_id: str | None = None
    participant_parent_user_id: str | None = None

    def __post_init__(self) -> None:
        _clean(self, ("bsp_msg_id", "status", "group_id", "participant_phone", "participant_user_id",
                      "participant_parent_user_id"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class IdentityLink(_FactJson):
    """A customer's identifier changed (`user_changed_number`, `user_changed_user_id`): `old_id` and `new_id` are
    one customer from then on, for analytics, export and erasure."""

    kind: ClassVar[str] = "identity_link"
    org_id: UUID
    link: str  # phone | user_id: which identifier changed
    old_id: str
    new_id: str
    ts: datetime
    bsp_msg_id: str | None = None  # the system message that said so

    def __post_init__(self) -> None:
        _clean(self, ("link", "old_id", "new_id", "bsp_msg_id"))


Fact = Preference | TemplateUpdate | AccountUpdate | GroupReceipt | IdentityLink
