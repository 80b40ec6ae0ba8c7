"""Where an apply batch's time goes inside Postgres: `python -m bench.apply_functions [--runs 3]`.

The apply section's events, applied in batches of 30 and 500 on one connection, against an embedded Postgres
with `track_functions = all`. Per batch: the wall time seen by the caller, and each SQL function's time per call
from `pg_stat_user_functions` (total, and self: without the functions it calls). A backend writes its function
statistics when it exits, so the set-up and the measured batches each run on a connection of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import asyncpg

from bench.harness import Bench
from bench.options import parse
from bench.sections.apply import events_per_s, rehome, status_events
from bluetick.store import embedded
from bluetick.store.migrations import migrate
from bluetick.store.postgres import PostgresStore

SIZES = (30, 500)


async def measure(work: Path, runs: int) -> None:
    dsn = await asyncio.to_thread(embedded.start, work / "db")
    await migrate(dsn)
    opts = parse(["--sections", "apply"])
    admin = await asyncpg.connect(dsn)
    await admin.execute("alter system set track_functions = 'all'")
    await admin.execute("select pg_reload_conf()")
    setup = await PostgresStore.connect(dsn, pool_size=1, timeout_s=60)
    b = Bench(opts=opts, dsn=dsn, pgdata=work / "db" / "pg", work=work, wrk=None, store=setup)
    the_plan = await b.new_plan(math.ceil(opts.apply_events / 2.5))
    await setup.close()
    try:
        for size in SIZES:
            for r in range(runs):
                copy = rehome(the_plan, f"{size}:{r}")
                b.store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=60)
                await b.prelog(copy)
                await b.store.close()
                events = status_events(copy)
                await asyncio.sleep(0.5)
                await admin.execute("select pg_stat_reset()")
                store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=60)
                rate = await events_per_s(dsn, store, f"bluetick batch {size}", events)  # the apply section's own
                await store.close()
                await asyncio.sleep(0.5)
                batches = math.ceil(len(events) / size)
                per_batch = 1000 * len(events) / rate / batches
                print(f"batch {size}, run {r + 1}: {rate:,.0f} events/s, {per_batch:.2f} ms a batch")
                for row in await admin.fetch(
                    "select funcname, calls, total_time / calls as total, self_time / calls as self"
                    " from pg_stat_user_functions where calls > 0 order by total_time desc limit 6"
                ):
                    print(f"  {row['funcname']:28} {row['calls']:>7} calls, {row['total']:7.3f} ms a call"
                          f" ({row['self']:.3f} ms its own), {row['calls'] / batches:.1f} calls a batch")  # fmt: skip
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apply_functions", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bluetick-functions-"))
    os.chmod(work, 0o755)  # the embedded server may run as another user (as root it does)
    atexit.register(shutil.rmtree, work, True)  # before the server's own exit hook, so it runs after it
    asyncio.run(measure(work, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
