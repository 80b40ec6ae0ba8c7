"""Customer data covers the platform facts (issue 23, item 6): erasure, export and retention reach the customer's
marketing preferences, group receipts and identity links, and follow the customer across a change of number
(user_changed_number) or of BSUID (user_changed_user_id)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bluetick.customers import forget
from bluetick.events import GroupReceipt, IdentityLink, Preference
from bluetick.inbox import KeptBody
from bluetick.retention import run_retention
from bluetick.store import Store
from bluetick.store.records import Customer
from tests.integration.test_customer_data import inbound, numbers, out, status, traces

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=60)
OLD_PHONE, NEW_PHONE = "+919876500001", "+919812300002"  # one customer, before and after user_changed_number
OLD_USER, NEW_USER = "IN.20583917746102958371", "IN.48210573390128846127"  # idem, user_changed_user_id
PARENT = "IN.ENT.57730184926610093352"
OTHER_PHONE, OTHER_USER = "+919811111111", "IN.9999999999"  # someone else


def tables_of(found: list[str]) -> set[str]:
    return {hit.split(":")[0] for hit in found}


async def count(db: asyncpg.Connection, table: str, org: uuid.UUID) -> int:
    value: int = await db.fetchval(f"select count(*) from {table} where org_id = $1", org)
    return value


async def seed_changed_number(store: Store, org: uuid.UUID) -> None:
    """The customer wrote from OLD_PHONE, changed number, and goes on from NEW_PHONE: every table names only one of
    the two numbers, and only the link joins them. Someone else (OTHER_PHONE) is beside them."""
    await store.apply_batch(
        [
            inbound(org, "a1", OLD_PHONE, "text from the old number", OLD),
            out(org, "a2", OLD_PHONE, "reply to the old number", OLD + timedelta(minutes=1)),
            inbound(org, "b1", NEW_PHONE, "text from the new number", OLD + timedelta(days=2)),
            out(org, "b2", NEW_PHONE, "reply to the new number", OLD + timedelta(days=2, minutes=1)),
            out(org, "o1", OTHER_PHONE, "for someone else", OLD),
        ],
        [status(org, "b2", "read", OLD + timedelta(days=2, minutes=2))],
        [KeptBody(org, OLD, "application/json", "unknown", "unknown", None,
                  b'{"wa_id": "' + NEW_PHONE.removeprefix("+").encode() + b'", "text": "a kept body text"}')],
        facts=[
            IdentityLink(org, "phone", OLD_PHONE, NEW_PHONE, OLD + timedelta(days=1), bsp_msg_id="sys-number"),
            Preference(org, OLD + timedelta(days=3), "stop", "marketing_messages", customer_phone=NEW_PHONE,
                       detail="User requested to stop marketing messages"),
            GroupReceipt(org, "grp-msg", "read", OLD + timedelta(days=3), group_id="grp1", participant_phone=NEW_PHONE),
            GroupReceipt(org, "grp-msg", "read", OLD + timedelta(days=3), group_id="grp1",
                         participant_phone=OTHER_PHONE),
            Preference(org, OLD, "stop", "marketing_messages", customer_phone=OTHER_PHONE),
        ],
    )  # fmt: skip


async def seed_changed_user_id(store: Store, org: uuid.UUID) -> None:
    """A customer known by BSUID only: OLD_USER, then NEW_USER after user_changed_user_id; the parent BSUID is seen
    beside NEW_USER only. Someone else (OTHER_USER) is beside them."""
    await store.apply_batch(
        [
            inbound(org, "u1", None, "text as the old BSUID", OLD, customer_user_id=OLD_USER),
            inbound(org, "u2", None, "text as the new BSUID", OLD + timedelta(days=2), customer_user_id=NEW_USER,
                    customer_parent_user_id=PARENT),
            inbound(org, "o1", None, "someone else's text", OLD, customer_user_id=OTHER_USER),
        ],
        [status(org, "not-yet-logged", "delivered", OLD + timedelta(days=2), NEW_USER, parent_user_id=PARENT)],
        facts=[
            IdentityLink(org, "user_id", OLD_USER, NEW_USER, OLD + timedelta(days=1), bsp_msg_id="sys-user"),
            Preference(org, OLD + timedelta(days=3), "stop", "marketing_messages", customer_user_id=NEW_USER),
            GroupReceipt(org, "grp-msg", "delivered", OLD + timedelta(days=3), group_id="grp1",
                         participant_user_id=NEW_USER, participant_parent_user_id=PARENT),
            GroupReceipt(org, "grp-msg", "delivered", OLD + timedelta(days=3), group_id="grp1",
                         participant_user_id=OTHER_USER),
        ],
    )  # fmt: skip


NUMBER_NEEDLES = [
    OLD_PHONE.removeprefix("+"),
    NEW_PHONE.removeprefix("+"),
    "old number",
    "new number",
    "kept body text",
]
USER_NEEDLES = [OLD_USER, NEW_USER, PARENT, "old BSUID", "new BSUID"]


@pytest.mark.parametrize("given", [OLD_PHONE, NEW_PHONE], ids=["by-old-phone", "by-new-phone"])
async def test_erasure_follows_the_customer_across_a_changed_number(
    store: Store, db: asyncpg.Connection, org: uuid.UUID, given: str
):
    await seed_changed_number(store, org)
    before = await numbers(db, org)
    assert {"message_logs", "customer_preferences", "group_receipts", "customer_links", "webhook_inbox"} <= tables_of(
        await traces(db, org, NUMBER_NEEDLES)
    )

    erasure = await forget(store, org, Customer(phone=given), part_rows=2)  # three parts

    assert (erasure.rows, erasure.inbox, erasure.preferences, erasure.group_receipts, erasure.links) == (4, 1, 1, 1, 1)
    assert await traces(db, org, NUMBER_NEEDLES) == []
    assert await numbers(db, org) == before
    assert await db.fetchval("select body from message_logs where org_id = $1 and bsp_msg_id = 'o1'", org)
    assert await count(db, "customer_preferences", org) == 1 and await count(db, "group_receipts", org) == 1
    assert await db.fetchval("select rows from customer_erasures where id = $1", erasure.erasure_id) == 4


@pytest.mark.parametrize("given", [OLD_USER, NEW_USER], ids=["by-old-bsuid", "by-new-bsuid"])
async def test_erasure_follows_the_customer_across_a_changed_bsuid(
    store: Store, db: asyncpg.Connection, org: uuid.UUID, given: str
):
    await seed_changed_user_id(store, org)
    assert {"message_logs", "message_status_parked", "customer_preferences", "group_receipts",
            "customer_links"} <= tables_of(await traces(db, org, USER_NEEDLES))  # fmt: skip

    erasure = await forget(store, org, Customer(user_id=given), part_rows=500)

    assert (erasure.rows, erasure.parked, erasure.preferences, erasure.group_receipts, erasure.links) == (
        2, 1, 1, 1, 1
    )  # fmt: skip
    assert await traces(db, org, USER_NEEDLES) == []
    parked = await db.fetchrow(
        "select status, user_id, parent_user_id from message_status_parked where org_id = $1", org
    )
    assert dict(parked) == {"status": "delivered", "user_id": None, "parent_user_id": None}
    kept = await db.fetchrow(
        "select body, customer_user_id from message_logs where org_id = $1 and bsp_msg_id = 'o1'", org
    )
    assert dict(kept) == {"body": "someone else's text", "customer_user_id": OTHER_USER}
    assert await count(db, "group_receipts", org) == 1


async def test_identifiers_follow_chains_of_links_both_ways_and_a_cycle_ends(db: asyncpg.Connection, store: Store):
    org = uuid.uuid4()
    phones = [f"+91980000000{i}" for i in range(5)]
    links = [(phones[i], phones[i + 1]) for i in range(4)] + [(phones[4], phones[0])]  # a chain closed into a cycle
    await store.apply_batch(
        [out(org, "m", phones[3], "hello", OLD, customer_user_id=OLD_USER)],
        [],
        facts=[IdentityLink(org, "phone", a, b, OLD + timedelta(hours=i)) for i, (a, b) in enumerate(links)]
        + [IdentityLink(org, "user_id", NEW_USER, OLD_USER, OLD)]
        + [IdentityLink(org, "phone", OTHER_PHONE, "+919811111112", OLD)],
    )

    for given in (phones[0], phones[2], phones[4]):
        found = await db.fetchrow("select * from bluetick_customer_identifiers($1, $2, null)", org, given)
        assert sorted(found["phones"]) == phones
        assert sorted(found["user_ids"]) == sorted([OLD_USER, NEW_USER]), "beside phones[3], then linked"
    by_user = await db.fetchrow("select * from bluetick_customer_identifiers($1, null, $2)", org, NEW_USER)
    assert sorted(by_user["phones"]) == phones
    assert sorted(by_user["user_ids"]) == sorted([OLD_USER, NEW_USER])


async def test_export_lists_the_customers_preferences_group_receipts_and_links(store: Store, org: uuid.UUID):
    await seed_changed_number(store, org)

    for given in (OLD_PHONE, NEW_PHONE):
        doc = await store.export_customer(org, Customer(phone=given))
        assert [m["bsp_msg_id"] for m in doc["messages"]] == ["a1", "a2", "b1", "b2"]
        assert [(c["customer"], c["preference"], c["detail"]) for c in doc["preferences"]] == [
            (NEW_PHONE, "stop", "User requested to stop marketing messages")
        ]
        assert [(g["bsp_msg_id"], g["participant"], g["status"]) for g in doc["group_receipts"]] == [
            ("grp-msg", NEW_PHONE, "read")
        ]
        assert [(x["link"], x["old_id"], x["new_id"], x["bsp_msg_id"]) for x in doc["links"]] == [
            ("phone", OLD_PHONE, NEW_PHONE, "sys-number")
        ]
        assert len(doc["inbox"]) == 1

    other_org = uuid.uuid4()
    await seed_changed_user_id(store, other_org)
    doc = await store.export_customer(other_org, Customer(user_id=OLD_USER))
    assert [m["bsp_msg_id"] for m in doc["messages"]] == ["u1", "u2"]
    assert [p["parent_user_id"] for p in doc["parked"]] == [PARENT]
    assert [c["customer_user_id"] for c in doc["preferences"]] == [NEW_USER]
    assert [g["participant_parent_user_id"] for g in doc["group_receipts"]] == [PARENT]
    assert [(x["old_id"], x["new_id"]) for x in doc["links"]] == [(OLD_USER, NEW_USER)]


async def test_retention_deletes_old_facts_and_strips_parent_bsuids_and_keeps_fresh_ones(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    keeping_org = uuid.uuid4()  # no retention: keeps everything
    recent = NOW - timedelta(days=1)

    def facts(o: uuid.UUID) -> list[Any]:
        return [
            Preference(o, OLD, "stop", "marketing_messages", customer_phone=OLD_PHONE, customer_user_id=OLD_USER),
            Preference(o, recent, "resume", "marketing_messages", customer_phone=NEW_PHONE),
            GroupReceipt(o, "g-old", "read", OLD, participant_phone=OLD_PHONE, participant_parent_user_id=PARENT),
            GroupReceipt(o, "g-new", "read", recent, participant_phone=NEW_PHONE),
            IdentityLink(o, "phone", OLD_PHONE, "+919876500009", OLD),
            IdentityLink(o, "phone", NEW_PHONE, "+919812300009", recent),
        ]

    for o in (org, keeping_org):
        await store.apply_batch(
            [out(o, "m-old", OLD_PHONE, "old text", OLD, customer_user_id=OLD_USER, customer_parent_user_id=PARENT),
             out(o, "m-new", NEW_PHONE, "new text", recent, customer_user_id=NEW_USER, customer_parent_user_id=PARENT)],
            [status(o, "p-old", "sent", OLD, OLD_USER, parent_user_id=PARENT),
             status(o, "p-new", "sent", recent, NEW_USER, parent_user_id=PARENT)],
            facts=facts(o),
        )  # fmt: skip
    await db.execute("update message_status_parked set parked_at = $2 where bsp_msg_id = 'p-old' and org_id = any($1)",
                     [org, keeping_org], OLD)  # fmt: skip
    await db.execute("insert into org_settings (org_id, retention_days) values ($1, 30)", org)
    kept_before = {
        t: await count(db, t, keeping_org) for t in ("customer_preferences", "group_receipts", "customer_links")
    }

    total, _ = await run_retention(store, None, batch=500, pause_s=0)

    assert (total.preferences, total.group_receipts, total.links) == (1, 1, 1)
    assert [
        r["changed_at"] for r in await db.fetch("select changed_at from customer_preferences where org_id = $1", org)
    ] == [recent]
    assert [
        r["bsp_msg_id"] for r in await db.fetch("select bsp_msg_id from group_receipts where org_id = $1", org)
    ] == ["g-new"]
    assert [r["old_id"] for r in await db.fetch("select old_id from customer_links where org_id = $1", org)] == [
        NEW_PHONE
    ]
    rows = {
        r["bsp_msg_id"]: dict(r)
        for r in await db.fetch(
            "select bsp_msg_id, customer_user_id, customer_parent_user_id, body from message_logs where org_id = $1",
            org,
        )
    }
    assert rows["m-old"] == {
        "bsp_msg_id": "m-old",
        "customer_user_id": None,
        "customer_parent_user_id": None,
        "body": None,
    }
    assert rows["m-new"]["customer_parent_user_id"] == PARENT and rows["m-new"]["body"] == "new text"
    parked = {
        r["bsp_msg_id"]: (r["user_id"], r["parent_user_id"])
        for r in await db.fetch(
            "select bsp_msg_id, user_id, parent_user_id from message_status_parked where org_id = $1", org
        )
    }
    assert parked == {"p-old": (None, None), "p-new": (NEW_USER, PARENT)}
    assert (
        {t: await count(db, t, keeping_org) for t in kept_before}
        == kept_before
        == {"customer_preferences": 2, "group_receipts": 2, "customer_links": 2}
    )
    again, _ = await run_retention(store, None, batch=500, pause_s=0)
    assert (again.preferences, again.group_receipts, again.links) == (0, 0, 0)  # fmt: skip


async def test_retention_of_facts_goes_in_batches(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    await store.apply_batch(
        [], [],
        facts=[GroupReceipt(org, f"g{i}", "delivered", OLD + timedelta(minutes=i), participant_phone=OLD_PHONE)
               for i in range(5)],
    )  # fmt: skip
    await db.execute("insert into org_settings (org_id, retention_days) values ($1, 30)", org)

    total, batches = await run_retention(store, None, batch=2, pause_s=0)

    assert total.group_receipts == 5 and batches >= 3
    assert await count(db, "group_receipts", org) == 0


async def test_a_status_for_an_erased_message_does_not_bring_the_parent_bsuid_back(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await store.apply_batch([out(org, "m1", NEW_PHONE, "hello", OLD, customer_user_id=NEW_USER)], [])
    await forget(store, org, Customer(phone=NEW_PHONE), part_rows=500)
    await store.apply_batch(
        [], [status(org, "m1", "read", OLD + timedelta(minutes=2), NEW_USER, parent_user_id=PARENT)]
    )
    row = await db.fetchrow("select * from message_logs where org_id = $1 and bsp_msg_id = 'm1'", org)
    assert row["status"] == "READ"
    assert (row["customer_user_id"], row["customer_parent_user_id"]) == (None, None)


async def test_a_status_naming_only_the_parent_bsuid_does_not_bring_it_back_to_an_erased_row(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    await store.apply_batch([out(org, "m2", NEW_PHONE, "hello", OLD)], [])
    await forget(store, org, Customer(phone=NEW_PHONE), part_rows=500)
    await store.apply_batch([], [status(org, "m2", "read", OLD + timedelta(minutes=2), None, parent_user_id=PARENT)])
    row = await db.fetchrow("select * from message_logs where org_id = $1 and bsp_msg_id = 'm2'", org)
    assert row["status"] == "READ" and row["customer_parent_user_id"] is None
