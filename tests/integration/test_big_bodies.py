"""Bodies too big for the service (issue 22, item 6): a body holding more events than the queue could ever hold
is 413, not the 503 a sender retries for ever; a big body is parsed off the event loop."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from bluetick import app as bluetick_app
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, payload
from tests.served import serve


def statuses(count: int) -> dict[str, Any]:
    doc = payload("meta_status_delivered.json")
    value = doc["entry"][0]["changes"][0]["value"]
    value["statuses"] = [dict(value["statuses"][0], id=f"wamid.big{i}") for i in range(count)]
    return doc


async def test_a_body_with_more_events_than_the_queue_can_ever_hold_is_413_and_one_that_fits_is_stored(
    dsn: str, org: uuid.UUID
):
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await serve(make_settings(dsn, queue_max=50, batch_max=20), store)
    try:
        too_many = await client.post(f"/webhooks/{org}", json=statuses(51))
        assert too_many.status == 413
        assert (await too_many.json())["error"] == (
            "body holds 51 events, more than the queue can ever hold (50): split it"
        )
        fits = await client.post(f"/webhooks/{org}", json=statuses(50))
        assert fits.status == 200
        assert (await fits.json())["statuses"] == 50
    finally:
        await client.close()
        await store.close()


async def test_a_big_body_is_parsed_off_the_event_loop_and_a_small_one_on_it(
    dsn: str, org: uuid.UUID, monkeypatch: pytest.MonkeyPatch
):
    on_loop: list[bool] = []
    parse = bluetick_app.payloads.parse

    def watched(*args: Any, **kwargs: Any) -> Any:
        on_loop.append(threading.current_thread() is threading.main_thread())
        return parse(*args, **kwargs)

    monkeypatch.setattr(bluetick_app.payloads, "parse", watched)
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await serve(make_settings(dsn), store)
    try:
        big = statuses(2000)  # about 0.5 MB
        assert (await client.post(f"/webhooks/{org}", json=big)).status == 200
        assert (await client.post(f"/webhooks/{org}", json=statuses(1))).status == 200
    finally:
        await client.close()
        await store.close()
    assert on_loop == [False, True]
