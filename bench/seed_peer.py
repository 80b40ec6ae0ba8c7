"""The seed design as a running peer: answer 200 at once, then apply each status in a task of its own.

    python -m bench.seed_peer PORT [POOL_SIZE]     (the database in SEED_PEER_DSN)

Each status event of a webhook (parsed by bluetick's own parsers) becomes an asyncio task that reads its row,
merges in Python and writes the row back over an asyncpg pool (`bench/seed.py`): no batching, no locks, no
bound on the tasks waiting, as the seed did. `GET /stats` says how many events were received, applied and are
still pending, their apply latency (from the webhook's arrival to its row written) and the peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from array import array
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from bench import seed
from bench.loadgen import percentile
from bluetick.events import StatusEvent
from bluetick.payloads import parse

POOL_SIZE = 10  # asyncpg's default pool size; the seed's REST calls had no bound of their own
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class Peer:
    """The peer's pool and its counters."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.tasks: set[asyncio.Task[None]] = set()  # held, so a pending task is not collected
        self.received = self.applied = self.missing = self.errors = 0
        self.latencies = array("d")  # seconds from the webhook's arrival to its row written, per applied event

    def submit(self, event: StatusEvent, arrived: float) -> None:
        self.received += 1
        task = asyncio.create_task(self._apply(event, arrived))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _apply(self, event: StatusEvent, arrived: float) -> None:
        try:
            found = await seed.apply_one(self.pool, event)
        except DB_ERRORS:
            self.errors += 1
            return
        if found:
            self.applied += 1
            self.latencies.append(time.perf_counter() - arrived)
        else:
            self.missing += 1

    async def cancel(self) -> None:
        """Drop what is still pending (at shutdown, before the pool closes)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "received": self.received, "applied": self.applied, "missing": self.missing, "errors": self.errors,
            "pending": len(self.tasks),
            "apply_ms": {f"p{q}": percentile(ordered, q) * 1000 for q in (50, 99)}
            | {"max": ordered[-1] * 1000 if ordered else 0.0},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }  # fmt: skip


PEER = web.AppKey("peer", Peer)


async def receive_webhook(request: web.Request) -> web.Response:
    arrived = time.perf_counter()
    body = await request.read()
    parsed = parse(UUID(request.match_info["org_id"]), json.loads(body))
    for event in parsed.statuses:
        request.app[PEER].submit(event, arrived)
    return web.Response()


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[PEER].stats())


async def healthz(request: web.Request) -> web.Response:
    return web.Response()


def create_app(dsn: str, pool_size: int) -> web.Application:
    app = web.Application(client_max_size=1_048_576)

    async def pool(app: web.Application) -> AsyncIterator[None]:
        async with asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size) as opened:
            app[PEER] = Peer(opened)
            yield
            await app[PEER].cancel()

    app.cleanup_ctx.append(pool)
    app.router.add_post("/webhooks/{org_id}", receive_webhook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str]) -> int:
    pool_size = int(argv[1]) if len(argv) > 1 else POOL_SIZE
    app = create_app(os.environ["SEED_PEER_DSN"], pool_size)
    web.run_app(app, host="127.0.0.1", port=int(argv[0]), access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
