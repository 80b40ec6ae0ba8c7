"""Checking a database against the plan: every message's row as the merge rules say, nothing left parked."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from simulator.expected import Expected, Key
from simulator.plan import Plan


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One message whose stored state differs from the merge rules' answer (or is missing, or still parked)."""

    key: Key
    what: str
    expected: Any
    found: Any

    def __str__(self) -> str:
        where = f"org={self.key[0]} bsp_msg_id={self.key[1]}"
        return f"{where} {self.what}: expected {self.expected!r}, found {self.found!r}"


async def fetch_state(dsn: str, keys: Sequence[Key]) -> dict[Key, Expected]:
    """The stored state of `keys` (those that have a row)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select m.org_id, m.bsp_msg_id, m.status, m.whatsapp_status::text as ws, m.failed_reason"
            " from message_logs m join unnest($1::uuid[], $2::text[]) as k(org_id, bsp_msg_id)"
            " on m.org_id = k.org_id and m.bsp_msg_id = k.bsp_msg_id",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
    finally:
        await conn.close()
    return {
        (r["org_id"], r["bsp_msg_id"]): Expected(json.loads(r["ws"]), r["status"], r["failed_reason"]) for r in rows
    }


async def parked_count(dsn: str, keys: Sequence[Key]) -> int:
    """How many parked status events remain for `keys`."""
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "select count(*) from message_status_parked p join unnest($1::uuid[], $2::text[]) as k(org_id, bsp_msg_id)"
            " on p.org_id = k.org_id and p.bsp_msg_id = k.bsp_msg_id",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
    finally:
        await conn.close()
    return count


def compare(expected: dict[Key, Expected], found: dict[Key, Expected]) -> list[Mismatch]:
    """Every difference between the expected and the stored state, field by field."""
    mismatches = []
    for key, want in expected.items():
        got = found.get(key)
        if got is None:
            mismatches.append(Mismatch(key, "row", "present", None))
            continue
        for name in ("whatsapp_status", "status", "failed_reason"):
            if getattr(want, name) != getattr(got, name):
                mismatches.append(Mismatch(key, name, getattr(want, name), getattr(got, name)))
    return mismatches


async def check(dsn: str, the_plan: Plan, expected: dict[Key, Expected] | None = None) -> list[Mismatch]:
    """Compare the database with the plan's expected final state; also nothing may be left parked."""
    expected = the_plan.expected() if expected is None else expected
    keys = list(expected)
    mismatches = compare(expected, await fetch_state(dsn, keys))
    parked = await parked_count(dsn, keys)
    if parked:
        mismatches.append(Mismatch((the_plan.orgs[0], "*"), "parked events left", 0, parked))
    return mismatches


async def settled_check(dsn: str, the_plan: Plan, settle_s: float) -> list[Mismatch]:
    """Check, retrying for up to `settle_s` while rows differ (immediate mode commits after the answer)."""
    deadline = time.monotonic() + settle_s
    while True:
        mismatches = await check(dsn, the_plan)
        if not mismatches or time.monotonic() >= deadline:
            return mismatches
        await asyncio.sleep(0.5)
