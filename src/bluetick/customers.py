"""One customer named by a request, a phone or a BSUID, and what erasing or exporting them returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bluetick.logs import mask_phone
from bluetick.payloads.common import ItemError, lenient, phone, user_id

if TYPE_CHECKING:
    from bluetick.store import Store

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
    erasure_id: int  # the customer_erasures row (the latest one, for a repeat that erased nothing)
    customer_hash: str  # hex sha256 of the organisation's salt and the identifier
    erased_at: str  # the record's time
    recorded: bool  # whether this erasure added a record
    more: bool = False  # whether rows past this part's limit may be left

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Erasure:
        return cls(
            rows=int(doc["rows"]),
            parked=int(doc["parked"]),
            inbox=int(doc["inbox"]),
            erasure_id=int(doc["erasure_id"]),
            customer_hash=str(doc["customer_hash"]),
            erased_at=str(doc["erased_at"]),
            recorded=bool(doc["recorded"]),
            more=bool(doc["more"]),
        )

    def then(self, part: Erasure) -> Erasure:
        """This erasure followed by a later part of it."""
        return replace(
            self,
            rows=self.rows + part.rows,
            parked=self.parked + part.parked,
            inbox=self.inbox + part.inbox,
            more=part.more,
        )

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        del doc["more"]
        return doc


async def forget(store: Store, org_id: UUID, customer: Customer, part_rows: int) -> Erasure:
    """Erase one customer of `org_id`, `part_rows` rows per transaction (as many advisory locks as a batch takes),
    into one erasure record."""
    erasure = await store.forget_customer(org_id, customer, part_rows, None)
    while erasure.more:
        erasure = erasure.then(await store.forget_customer(org_id, customer, part_rows, erasure.erasure_id))
    return erasure


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
