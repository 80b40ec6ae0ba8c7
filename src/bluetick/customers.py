"""One customer named by a request, a phone or a BSUID, and what erasing or exporting them returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bluetick.logs import mask_phone
from bluetick.payloads.common import ItemError, lenient, phone, user_id

NOT_A_CUSTOMER = (
    "the customer must be a phone number (E.164, like +919876543210) "
    "or a WhatsApp user id (BSUID, like IN.2081978709342942)"
)


@dataclass(frozen=True, slots=True)
class Customer:
    """Exactly one of `phone` (E.164 with `+`) and `user_id` (BSUID) is set."""

    phone: str | None = None
    user_id: str | None = None

    @property
    def masked(self) -> str:
        """For logs: the last four characters only."""
        if self.phone is not None:
            return mask_phone(self.phone)
        shown = self.user_id or ""
        return "*" * max(len(shown) - 4, 0) + shown[-4:]


def parse_customer(raw: str) -> Customer:
    """A phone in any form the parsers accept, normalised to E.164, or a BSUID exactly; ItemError otherwise."""
    found_user = lenient(user_id, raw, "customer")
    if found_user is not None:
        return Customer(user_id=found_user)
    found_phone = lenient(phone, raw, "customer")
    if found_phone is not None:
        return Customer(phone=found_phone)
    raise ItemError(NOT_A_CUSTOMER)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What `bluetick_forget_customer` erased, and its record."""

    rows: int  # message_logs rows that lost text and identifiers
    parked: int  # parked events that lost the BSUID
    inbox: int  # kept webhook bodies deleted
    customer_hash: str  # hex sha256 of the organisation's salt and the identifier
    erased_at: str  # the record's time (the first record's, for a repeat that erased nothing)
    recorded: bool  # whether this call added an erasure record

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Erasure:
        return cls(
            rows=int(doc["rows"]),
            parked=int(doc["parked"]),
            inbox=int(doc["inbox"]),
            customer_hash=str(doc["customer_hash"]),
            erased_at=str(doc["erased_at"]),
            recorded=bool(doc["recorded"]),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """One retention batch: rows erased, inbox bodies deleted, parked events stripped of their BSUID."""

    rows: int = 0
    inbox: int = 0
    parked: int = 0

    @classmethod
    def of(cls, doc: dict[str, Any]) -> RetentionResult:
        return cls(rows=int(doc["rows"]), inbox=int(doc["inbox"]), parked=int(doc["parked"]))

    def full(self, limit: int) -> bool:
        """Whether the batch hit its limit anywhere, so more may be left."""
        return max(self.rows, self.inbox, self.parked) >= limit

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(self.rows + other.rows, self.inbox + other.inbox, self.parked + other.parked)
