"""One customer named by a request, a phone or a BSUID, and their erasure in parts."""

from __future__ import annotations

from uuid import UUID

from bluetick.payloads.common import ItemError, lenient, phone, user_id
from bluetick.store import Store
from bluetick.store.records import Customer, Erasure

__all__ = ["NOT_A_CUSTOMER", "Customer", "Erasure", "forget", "parse_customer"]

NOT_A_CUSTOMER = (
    "the customer must be a phone number (E.164, like +919876543210) "
    "or a WhatsApp user id (BSUID, like IN.2081978709342942)"
)


def parse_customer(raw: str) -> Customer:
    """A phone in any form the parsers accept, normalised to E.164, or a BSUID exactly; ItemError otherwise."""
    found_user = lenient(user_id, raw, "customer")
    if found_user is not None:
        return Customer(user_id=found_user)
    found_phone = lenient(phone, raw, "customer")
    if found_phone is not None:
        return Customer(phone=found_phone)
    raise ItemError(NOT_A_CUSTOMER)


async def forget(store: Store, org_id: UUID, customer: Customer, part_rows: int) -> Erasure:
    """Erase one customer of `org_id`, `part_rows` rows per transaction (as many advisory locks as a batch takes),
    into one erasure record."""
    erasure = await store.forget_customer(org_id, customer, part_rows, None)
    while erasure.more:
        erasure = erasure.then(await store.forget_customer(org_id, customer, part_rows, erasure.erasure_id))
    return erasure
