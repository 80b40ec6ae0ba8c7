"""The service's lifecycle: what it opens and closes, and how a dead background task shows in /readyz."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from uuid import UUID

import pytest

from bluetick.app import SERVICE
from bluetick.service import Service
from bluetick.store.postgres import PostgresStore
from bluetick.store.records import ReportRefresh
from tests.conftest import make_settings, start_client


async def die() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("deliberate failure")


async def test_a_background_task_that_dies_turns_readyz_to_503_and_is_logged(
    dsn: str, caplog: pytest.LogCaptureFixture
):
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await start_client(make_settings(dsn), store)
    try:
        assert (await client.get("/readyz")).status == 200
        service = client.server.app[SERVICE]
        doomed = service.spawn("doomed", die())
        await asyncio.wait([doomed], timeout=30)  # its done-callback, added first, has run by now
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert await ready.json() == {"ready": False, "database": True, "queue_depth": 0, "failed_tasks": ["doomed"]}
        assert "background task died task=doomed" in caplog.text
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()
        await store.close()


async def test_closing_cancels_the_background_tasks_without_counting_them_as_failed(dsn: str):
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    try:
        async with Service(make_settings(dsn), store) as service:
            await asyncio.wait_for(service.ready.wait(), 30)
            tasks = {task.get_name(): task for task in asyncio.all_tasks() if task.get_name() in {"bootstrap", "purge"}}
            assert set(tasks) == {"bootstrap", "purge"}
        assert all(task.cancelled() for task in tasks.values())
        assert service.failed_tasks == []
    finally:
        await store.close()


async def test_a_given_store_is_left_open_and_an_own_store_is_closed(dsn: str):
    given = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    try:
        async with Service(make_settings(dsn), given) as service:
            assert service.store is given
        assert await given.ping()
    finally:
        await given.close()
    async with Service(make_settings(dsn)) as service:
        own = service.store
        assert own is not given and await own.ping()
    assert not await own.ping()


class LosesOneCancellation(PostgresStore):
    """The real store, but its report refresh loses the cancellation that arrives during it, as asyncio.wait_for
    can in Python 3.11 when the call it waits for completes at that moment (asyncpg waits with it); it then answers
    that it found nothing to refresh, as the call would have."""

    entered: asyncio.Event

    async def refresh_reports(self, orgs: int, hours: int, skip: Sequence[UUID] = ()) -> ReportRefresh:
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):  # lost: still asked to stop (cancelling()), not stopped
            await asyncio.sleep(30)
        return ReportRefresh(orgs=0, hours=0, done=[])  # the call "completed": the round ends, the loop goes on


async def test_closing_ends_a_background_loop_whose_round_lost_the_cancellation(dsn: str):
    store = await LosesOneCancellation.connect(dsn, pool_size=2, timeout_s=10)
    store.entered = asyncio.Event()
    try:
        service = Service(make_settings(dsn, report_refresh_s=3600), store)
        await service.__aenter__()
        await asyncio.wait_for(store.entered.wait(), 30)
        # before next_round, the loop slept its hour and closing waited for it (and for every hour after)
        await asyncio.wait_for(service.__aexit__(None, None, None), 20)
        assert service.failed_tasks == []
    finally:
        await store.close()
