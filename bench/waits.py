"""What Postgres' backends wait on during a load run: pg_stat_activity sampled every few milliseconds.

Each sample counts the bench database's client backends that are in a transaction or running a statement
("active"), by what they wait on: `CPU` when wait_event is NULL (running), else `type:event` (for example
`IO:WalSync`, the commit's flush; `Lock:advisory`, a batch waiting for another's message keys; `LWLock:...`).
Idle connections waiting for the service's next call (`Client:ClientRead` while idle) are not counted: they are
the pool, not work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg

EVERY_S = 0.005
QUERY = """
select coalesce(wait_event_type || ':' || wait_event, 'CPU') as what, count(*) as n
from pg_stat_activity
where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
  and state in ('active', 'idle in transaction')
group by 1
"""


@contextlib.asynccontextmanager
async def sampled(dsn: str, counts: Counter[str]) -> AsyncIterator[None]:
    """Sample what the backends wait on into `counts` (and `counts["samples"]`) while the block runs."""
    conn = await asyncpg.connect(dsn)
    task = asyncio.create_task(_sample(conn, counts))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()


async def _sample(conn: asyncpg.Connection, counts: Counter[str]) -> None:
    while True:
        for row in await conn.fetch(QUERY):
            counts[row["what"]] += row["n"]
        counts["samples"] += 1
        await asyncio.sleep(EVERY_S)


def shares(counts: dict[str, int], top: int = 6) -> list[tuple[str, float]]:
    """The most frequent waits as a share of all busy-backend observations, most frequent first."""
    busy = {k: v for k, v in counts.items() if k != "samples"}
    total = sum(busy.values())
    if not total:
        return []
    return [(what, n / total) for what, n in sorted(busy.items(), key=lambda kv: -kv[1])[:top]]


def busy_backends(counts: dict[str, int]) -> float:
    """Mean number of busy backends per sample."""
    samples = counts.get("samples", 0)
    return sum(v for k, v in counts.items() if k != "samples") / samples if samples else 0.0
