"""bluetick_billable and bluetick_spend return the hand-computed numbers of two organisations whose rows
interleave (same days, categories, customers and message ids) and whose rate cards differ, so any leak of
the other organisation's rows or rates changes the numbers.

Rows are written through `bluetick_apply_batch`, the service's one write path, with fresh org ids.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path
from typing import Any

import asyncpg
import pytest

ANALYTICS_README = Path(__file__).resolve().parents[2] / "src" / "bluetick" / "sql" / "analytics" / "README.md"
README_ORG = "'0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10'"
IN_PHONE = "+919800000011"
US_PHONE = "+12025550123"
IN_USERNAME = "IN.2081978709342942"
D1, D2, D3 = date(2024, 11, 5), date(2024, 11, 6), date(2024, 11, 7)
PAID = {"billable": True, "pricing_model": "PMP", "pricing_type": "regular"}
FREE_SERVICE = {
    "billable": False,
    "pricing_model": "PMP",
    "pricing_category": "service",
    "pricing_type": "free_customer_service",
}


def d(value: str) -> Decimal:
    return Decimal(value)


def sent(
    org: uuid.UUID,
    msg_id: str,
    ts: str,
    pricing: dict[str, Any] | None,
    *,
    phone: str | None,
    user_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An outbound message and its `sent` receipt, carrying Meta's pricing when given."""
    message = {
        "org_id": str(org),
        "bsp_msg_id": msg_id,
        "direction": "OUTBOUND",
        "msg_kind": "TEMPLATE",
        "to_phone": phone,
        "sent_at": f"{ts}Z",
        "customer_user_id": user_id,
    }
    receipt = {"org_id": str(org), "bsp_msg_id": msg_id, "status": "sent", "ts": f"{ts}Z", "pricing": pricing}
    return message, receipt


def paid(category: str) -> dict[str, Any]:
    return {**PAID, "pricing_category": category}


def rows_of_a(a: uuid.UUID) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        sent(a, "wamid.p1", "2024-11-05 09:00:00", paid("marketing"), phone=IN_PHONE),
        sent(a, "wamid.p2", "2024-11-05 09:30:00", paid("marketing"), phone=None, user_id=IN_USERNAME),
        sent(a, "wamid.p3", "2024-11-05 10:00:00", paid("utility"), phone=US_PHONE),
        sent(a, "wamid.p4", "2024-11-05 11:00:00", FREE_SERVICE, phone=IN_PHONE),
        sent(a, "wamid.p5", "2024-11-05 12:00:00", paid("authentication"), phone=IN_PHONE),
        sent(a, "wamid.p6", "2024-11-05 13:00:00", paid("marketing"), phone=US_PHONE),
        sent(a, "wamid.p7", "2024-11-06 09:00:00", paid("marketing"), phone=IN_PHONE),
        sent(a, "wamid.p8", "2024-11-06 10:00:00", paid("utility"), phone=IN_PHONE),
        sent(a, "wamid.p9", "2024-11-06 11:00:00", None, phone=IN_PHONE),
        sent(a, "wamid.p10", "2024-11-07 09:00:00", paid("marketing"), phone=IN_PHONE),
    ]


def rows_of_b(b: uuid.UUID) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        sent(b, "wamid.p1", "2024-11-05 09:00:00", paid("marketing"), phone=IN_PHONE),
        sent(b, "wamid.q2", "2024-11-05 10:00:00", paid("utility"), phone=IN_PHONE),
        sent(b, "wamid.q3", "2024-11-05 12:00:00", paid("authentication"), phone=IN_PHONE),
        sent(b, "wamid.q4", "2024-11-06 09:00:00", paid("marketing"), phone=US_PHONE),
        sent(b, "wamid.q5", "2024-11-06 09:30:00", paid("marketing"), phone=None, user_id="IN.777"),
    ]


def rate_cards(a: uuid.UUID, b: uuid.UUID) -> list[tuple[uuid.UUID, str, str, str, Decimal, date]]:
    return [
        (a, "marketing", "IN", "INR", d("0.7846"), date(2024, 1, 1)),
        (a, "marketing", "IN", "INR", d("0.8631"), D2),
        (a, "marketing", "IN", "INR", d("0.9000"), date(2024, 12, 1)),  # not yet valid
        (a, "utility", "*", "INR", d("0.1150"), date(2024, 1, 1)),
        (b, "marketing", "IN", "USD", d("0.0107"), date(2024, 1, 1)),
        (b, "marketing", "US", "USD", d("0.0250"), date(2024, 1, 1)),
        (b, "marketing", "*", "USD", d("0.0300"), date(2024, 1, 1)),  # the market's own rate wins
        (b, "utility", "IN", "USD", d("0.0014"), D2),
        (b, "authentication", "*", "USD", d("0.0014"), date(2024, 1, 1)),
    ]


async def load(dsn: str, a: uuid.UUID, b: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        mixed = [row for rows in zip_longest(rows_of_a(a), rows_of_b(b)) for row in rows if row]
        await conn.execute(
            "select bluetick_apply_batch($1::jsonb, $2::jsonb)",
            json.dumps([m for m, _ in mixed]),
            json.dumps([r for _, r in mixed if r["pricing"]]),
        )
        await conn.executemany(
            "insert into pricing_rates (org_id, category, market, currency, price_per_message, valid_from)"
            " values ($1, $2, $3, $4, $5, $6)",
            rate_cards(a, b),
        )
    finally:
        await conn.close()


@dataclass(frozen=True)
class Orgs:
    a: uuid.UUID
    b: uuid.UUID


@pytest.fixture(scope="module")
def orgs(dsn: str) -> Orgs:
    loaded = Orgs(uuid.uuid4(), uuid.uuid4())
    asyncio.run(load(dsn, loaded.a, loaded.b))
    return loaded


BILLABLE = ("day", "pricing_category", "pricing_type", "billable", "messages")
SPEND = ("day", "pricing_category", "currency", "messages", "spend")


def tuples(records: list[asyncpg.Record], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in records]


async def test_billable_counts_priced_messages_per_day_category_and_type(conn: asyncpg.Connection, orgs: Orgs):
    a = await conn.fetch("select * from bluetick_billable($1, $2, $3)", orgs.a, D1, D3)
    assert tuples(a, BILLABLE) == [  # p9 has no pricing; p10 is on D3, outside the window
        (D1, "authentication", "regular", True, 1),
        (D1, "marketing", "regular", True, 3),
        (D1, "service", "free_customer_service", False, 1),
        (D1, "utility", "regular", True, 1),
        (D2, "marketing", "regular", True, 1),
        (D2, "utility", "regular", True, 1),
    ]
    b = await conn.fetch("select * from bluetick_billable($1, $2, $3)", orgs.b, D1, D3)
    assert tuples(b, BILLABLE) == [
        (D1, "authentication", "regular", True, 1),
        (D1, "marketing", "regular", True, 1),
        (D1, "utility", "regular", True, 1),
        (D2, "marketing", "regular", True, 2),
    ]


async def test_spend_prices_each_message_at_its_days_rate_for_its_market(conn: asyncpg.Connection, orgs: Orgs):
    a = await conn.fetch("select * from bluetick_spend($1, $2, $3)", orgs.a, D1, D3)
    assert tuples(a, SPEND) == [
        (D1, "authentication", None, 1, None),  # A has no authentication rate (B's '*' one is B's)
        (D1, "marketing", "INR", 2, d("1.5692")),  # p1 by phone, p2 by BSUID prefix: 2 x 0.7846
        (D1, "marketing", None, 1, None),  # p6 to a US phone: A prices marketing in IN only
        (D1, "utility", "INR", 1, d("0.1150")),  # p3 to a US phone, at A's '*' rate
        (D2, "marketing", "INR", 1, d("0.8631")),  # the rate valid from D2
        (D2, "utility", "INR", 1, d("0.1150")),
    ]
    b = await conn.fetch("select * from bluetick_spend($1, $2, $3)", orgs.b, D1, D3)
    assert tuples(b, SPEND) == [
        (D1, "authentication", "USD", 1, d("0.0014")),
        (D1, "marketing", "USD", 1, d("0.0107")),  # IN's own rate, not B's '*' 0.0300
        (D1, "utility", None, 1, None),  # B's utility rate holds from D2 only (A's '*' one is A's)
        (D2, "marketing", "USD", 2, d("0.0357")),  # 0.0250 (US phone) + 0.0107 (IN BSUID)
    ]
    later = await conn.fetch("select * from bluetick_spend($1, $2, $3)", orgs.a, D3, D3 + timedelta(days=1))
    assert tuples(later, SPEND) == [(D3, "marketing", "INR", 1, d("0.8631"))]  # 0.9000 holds from December


async def test_pricing_of_an_org_without_rows_is_empty(conn: asyncpg.Connection):
    nobody = uuid.uuid4()
    assert await conn.fetch("select * from bluetick_billable($1, '-infinity', 'infinity')", nobody) == []
    assert await conn.fetch("select * from bluetick_spend($1, '-infinity', 'infinity')", nobody) == []


async def test_market_comes_from_the_calling_code_else_the_bsuid(conn: asyncpg.Connection):
    got = await conn.fetchrow(
        "select bluetick_market('+919876543210', null) as india, bluetick_market('+12025550123', null) as us,"
        " bluetick_market(null, 'US.ENT.11815799212886844830') as parent,"
        " bluetick_market('+6591234567', 'SG.123') as unlisted_code, bluetick_market('+6591234567', null) as unknown,"
        " bluetick_market('+9715012345', null) as uae"
    )
    assert tuple(got) == ("IN", "US", "US", "SG", None, "AE")


async def test_the_rate_card_refuses_malformed_rows(conn: asyncpg.Connection):
    bad = [
        ("Marketing", "IN", "INR", d("1")),
        ("marketing", "India", "INR", d("1")),
        ("marketing", "IN", "inr", d("1")),
        ("marketing", "IN", "INR", d("-1")),
    ]
    for category, market, currency, price in bad:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "insert into pricing_rates (org_id, category, market, currency, price_per_message, valid_from)"
                " values ($1, $2, $3, $4, $5, current_date)",
                uuid.uuid4(),
                category,
                market,
                currency,
                price,
            )


async def test_pricing_obeys_the_callers_row_level_security(supabase_dsn: str):
    """On Supabase, an authenticated user of A reads A's rates and spend only; anon reads no rate at all."""
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(supabase_dsn, a, b)
    connection = await asyncpg.connect(supabase_dsn)
    try:
        async with connection.transaction():
            await connection.execute("set local role authenticated")
            await connection.execute(
                "select set_config('request.jwt.claims', $1, true)",
                json.dumps({"role": "authenticated", "org_id": str(a)}),
            )
            rates = await connection.fetch("select distinct org_id from pricing_rates where org_id = any($1)", [a, b])
            own = await connection.fetchval("select sum(spend) from bluetick_spend($1, '-infinity', 'infinity')", a)
            other_spend = await connection.fetch("select * from bluetick_spend($1, '-infinity', 'infinity')", b)
            other_billable = await connection.fetch("select * from bluetick_billable($1, '-infinity', 'infinity')", b)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("set local role authenticated")
                await connection.execute(
                    "insert into pricing_rates values ($1, 'marketing', 'IN', 'INR', 0, current_date)", a
                )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("set local role anon")
                await connection.fetch("select * from pricing_rates")
    finally:
        await connection.close()
    # A's priced messages: 2 x 0.7846 + 0.1150 (D1), 0.8631 + 0.1150 (D2), 0.8631 (D3)
    assert ([r["org_id"] for r in rates], own, other_spend, other_billable) == ([a], d("3.5254"), [], [])


async def test_readme_pricing_examples_fill_a_rate_card_and_price_with_it(conn: asyncpg.Connection):
    section = ANALYTICS_README.read_text().split("\n## Pricing\n", 1)[1].split("\n## ", 1)[0]
    fill, spend = re.findall(r"^```sql\n(.*?)^```", section, re.M | re.S)
    org = uuid.uuid4()
    message, receipt = sent(org, "wamid.m", "2025-07-02 09:00:00", paid("marketing"), phone=IN_PHONE)
    await conn.execute(
        "select bluetick_apply_batch($1::jsonb, $2::jsonb)", json.dumps([message]), json.dumps([receipt])
    )
    await conn.execute(fill.replace(README_ORG, f"'{org}'"))
    got = await conn.fetch(
        spend.replace(README_ORG, "$1::uuid").replace("current_date - 7, current_date", "'2025-07-01', '2025-07-08'"),
        org,
    )
    assert tuples(got, ("day", "currency", "messages", "spend")) == [(date(2025, 7, 2), "INR", 1, d("0.7846"))]
