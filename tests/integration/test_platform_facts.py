"""Platform facts through the store, on every backend: each kind lands in its table in the batch's transaction,
the same facts again change nothing, and the merge does not depend on the order of arrival."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bluetick.events import AccountUpdate, Fact, GroupReceipt, IdentityLink, Message, Preference, StatusEvent
from bluetick.store import Store
from tests.conftest import fetch_row

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0.replace(minute=minutes)


async def table(db: asyncpg.Connection, name: str, org: uuid.UUID) -> list[dict[str, Any]]:
    """Every row of `name` for `org`, without the columns the database fills (recorded_at, id)."""
    rows = await db.fetch(f"select * from {name} where org_id = $1", org)
    found = [{k: v for k, v in dict(r).items() if k not in ("recorded_at", "id", "detail_md5")} for r in rows]
    return sorted(found, key=repr)


def facts(org: uuid.UUID) -> list[Fact]:
    return [
        Preference(org, at(1), "stop", "marketing_messages", customer_phone="+919800000001", detail="Stopped"),
        Preference(org, at(5), "resume", "marketing_messages", customer_phone="+919800000001"),
        Preference(org, at(2), "stop", "marketing_messages", customer_user_id="IN.2081978709342942"),
        AccountUpdate(org, "phone_number_quality_update", at(3), "FLAGGED", {"event": "FLAGGED", "current_limit": 2}),
        GroupReceipt(org, "wamid.g1", "delivered", at(4), "120363@g.us", participant_phone="+919800000002"),
        GroupReceipt(org, "wamid.g1", "read", at(6), "120363@g.us", participant_phone="+919800000002"),
        GroupReceipt(org, "wamid.g1", "delivered", at(7), "120363@g.us", participant_user_id="IN.55"),
        IdentityLink(org, "phone", "+919800000001", "+919800000009", at(8), "wamid.sys1"),
    ]


async def snapshot(db: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    names = ("customer_preferences", "template_events", "account_events", "group_receipts", "customer_links")
    return {name: await table(db, name, org) for name in names}


async def test_each_fact_lands_in_its_table_once(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    result = await store.apply_batch([], [], [], facts(org))
    assert result.facts == 8
    first = await snapshot(db, org)
    assert [r["preference"] for r in first["customer_preferences"]] == ["resume", "stop", "stop"]
    assert first["account_events"] == [
        {"org_id": org, "field": "phone_number_quality_update", "event": "FLAGGED", "changed_at": at(3),
         "detail": {"event": "FLAGGED", "current_limit": 2}}
    ]  # fmt: skip
    assert {(r["participant"], r["status"], r["ts"]) for r in first["group_receipts"]} == {
        ("+919800000002", "delivered", at(4)),
        ("+919800000002", "read", at(6)),
        ("IN.55", "delivered", at(7)),
    }
    assert first["customer_links"] == [
        {"org_id": org, "link": "phone", "old_id": "+919800000001", "new_id": "+919800000009", "changed_at": at(8),
         "bsp_msg_id": "wamid.sys1"}
    ]  # fmt: skip

    again = await store.apply_batch([], [], [], facts(org))
    assert again.facts == 0
    assert await snapshot(db, org) == first


async def test_group_receipts_and_links_keep_the_earliest_whatever_the_order(store: Store, db: asyncpg.Connection):
    def receipts(org: uuid.UUID) -> list[Fact]:
        return [
            GroupReceipt(org, "wamid.g2", "read", at(9), "g", participant_phone="+919800000003"),
            GroupReceipt(org, "wamid.g2", "read", at(4), "g", participant_phone="+919800000003",
                         participant_user_id="IN.77"),
            GroupReceipt(org, "wamid.g2", "read", at(6), "g", participant_phone="+919800000003"),
            IdentityLink(org, "user_id", "IN.1", "IN.2", at(9), "wamid.late"),
            IdentityLink(org, "user_id", "IN.1", "IN.2", at(3), "wamid.early"),
        ]  # fmt: skip

    seen = []
    for order in itertools.islice(itertools.permutations(range(5)), 0, 120, 23):
        org = uuid.uuid4()
        items = receipts(org)
        for i in order:  # one batch per fact: the table merges across batches, not only within one
            await store.apply_batch([], [], [], [items[i]])
        state = await snapshot(db, org)
        for rows in state.values():
            for row in rows:
                row.pop("org_id")
        seen.append(state)
    assert all(s == seen[0] for s in seen)
    assert [(r["ts"], r["participant_user_id"]) for r in seen[0]["group_receipts"]] == [(at(4), "IN.77")]
    assert [(r["changed_at"], r["bsp_msg_id"]) for r in seen[0]["customer_links"]] == [(at(3), "wamid.early")]


async def test_facts_travel_with_messages_and_statuses_in_one_batch(
    store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    message = Message(org, "wamid.p1", to_phone="+919800000004", sent_at=at(1), customer_parent_user_id="IN.ENT.9",
                      group_id="120363@g.us")  # fmt: skip
    status = StatusEvent(org, "wamid.p1", "delivered", at(2), parent_user_id="IN.ENT.8")
    parked = StatusEvent(org, "wamid.p2", "read", at(3), parent_user_id="IN.ENT.7")
    result = await store.apply_batch([message], [status, parked], [], facts(org)[:1])
    assert (result.facts, result.updated, result.parked) == (1, 1, 1)
    row = await fetch_row(db, org, "wamid.p1")
    assert row is not None
    assert (row["group_id"], row["customer_parent_user_id"], row["status"]) == ("120363@g.us", "IN.ENT.8", "DELIVERED")
    assert (
        await db.fetchval(
            "select parent_user_id from message_status_parked where org_id = $1 and bsp_msg_id = 'wamid.p2'", org
        )
        == "IN.ENT.7"
    )
