"""Apply: bluetick's batched merge against the seed algorithm, on the same events and the same database.

The variant `bluetick batch 64 + group receipts` sends each status with a GroupReceipt fact beside it (as if every
message went to a WhatsApp group): the cost of platform facts on the merge, against `bluetick batch 64`. The variant
`bluetick batch 64, events on` applies the same batches for organisations whose event feed is on, so each status
change also writes its event to the outbox (issue 24)."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import asyncpg

from bench import seed
from bench.harness import Bench, log, median
from bluetick.events import GroupReceipt, StatusEvent
from bluetick.store.postgres import PostgresStore
from simulator.check import check
from simulator.plan import Plan


async def run(b: Bench) -> dict[str, Any]:
    """bluetick's batched merge against the seed algorithm: same events, same database, one connection each."""
    observed = round(median(b.batch_sizes)) if b.batch_sizes else None
    sizes = sorted({s for s in (observed, 64, 500) if s})
    the_plan = await b.new_plan(max(100, math.ceil(b.opts.apply_events / 2.5)))
    per_variant: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    events_count = 0
    store = await PostgresStore.connect(b.dsn, pool_size=1, timeout_s=60)
    try:
        for r in range(b.opts.repeat):
            rates: dict[str, float] = {}
            for variant in ["seed", *[f"bluetick batch {size}" for size in sizes], WITH_FACTS, WITH_EVENTS]:
                log(f"apply {r + 1}/{b.opts.repeat}: {variant}")
                copy = rehome(the_plan, f"{variant}:{r}")
                if variant == WITH_EVENTS:
                    await events_on(b.dsn, copy)
                await b.prelog(copy)
                events = status_events(copy)
                events_count = len(events)
                rates[variant] = await events_per_s(b.dsn, store, variant, events)
                mismatches = await check(b.dsn, copy)
                if mismatches:
                    b.failures.append(f"apply {variant}: {len({m.key for m in mismatches})} rows differ")
            for variant, value in rates.items():
                per_variant.setdefault(variant, []).append(value)
                ratios.setdefault(variant, []).append(value / rates["seed"])
    finally:
        await store.close()
    return {
        "events": events_count, "observed_batch_size": observed,
        "events_per_s": {v: median(x) for v, x in per_variant.items()},
        "vs_seed": {v: median(x) for v, x in ratios.items()}, "runs": per_variant,
    }  # fmt: skip


async def events_per_s(dsn: str, store: PostgresStore, variant: str, events: list[StatusEvent]) -> float:
    """Apply `events` the way `variant` does ("seed", or "bluetick batch N") and time it."""
    started = time.perf_counter()
    if variant == "seed":
        conn = await asyncpg.connect(dsn)
        try:
            await seed.apply(conn, events)
        finally:
            await conn.close()
    elif variant == WITH_EVENTS:
        for start in range(0, len(events), 64):
            await store.apply_batch([], events[start : start + 64])
    elif variant == WITH_FACTS:
        for start in range(0, len(events), 64):
            part = events[start : start + 64]
            await store.apply_batch([], part, (), [group_receipt(e) for e in part])
    else:
        size = int(variant.rsplit(" ", 1)[1])
        for start in range(0, len(events), size):
            await store.apply_batch([], events[start : start + size])
    return len(events) / (time.perf_counter() - started)


WITH_FACTS = "bluetick batch 64 + group receipts"
WITH_EVENTS = "bluetick batch 64, events on"


async def events_on(dsn: str, the_plan: Plan) -> None:
    """Turn the event feed on for the plan's organisations, so their batches write events."""
    conn = await asyncpg.connect(dsn)
    try:
        for org in the_plan.orgs:
            await conn.fetchval("select bluetick_events_feed($1, true)", org)
    finally:
        await conn.close()


def group_receipt(event: StatusEvent) -> GroupReceipt:
    """The receipt a group participant's status adds beside the status itself (issue 23, Groups)."""
    return GroupReceipt(event.org_id, event.bsp_msg_id, event.status, event.ts, "120363000000000000@g.us",
                        participant_phone="+919800000001")  # fmt: skip


def rehome(the_plan: Plan, tag: str) -> Plan:
    """The same plan for other organisations (so two algorithms can start from the same rows)."""
    org_map = {org: uuid5(NAMESPACE_URL, f"bluetick-bench:{tag}:{org}") for org in the_plan.orgs}
    return dataclasses.replace(
        the_plan,
        orgs=tuple(org_map.values()),
        messages=tuple(dataclasses.replace(m, org_id=org_map[m.org_id]) for m in the_plan.messages),
        posts=tuple(dataclasses.replace(p, org_id=org_map[p.org_id]) for p in the_plan.posts),
    )


def status_events(the_plan: Plan) -> list[StatusEvent]:
    """Every status of the plan's posts, in arrival order, duplicates included (as the service receives them)."""
    return [
        StatusEvent(org_id=the_plan.messages[e.message].org_id, bsp_msg_id=the_plan.messages[e.message].bsp_msg_id,
                    status=e.status, ts=e.ts, failed_reason=e.failed_reason)
        for p in the_plan.posts for e in p.events
    ]  # fmt: skip
