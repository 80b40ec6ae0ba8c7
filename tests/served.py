"""The service in-process as production serves it: bluetick's `Runner` (its HTTP protocol), no access log, and
handlers not cancelled when a client leaves (aiohttp's test server would cancel them)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from bluetick.app import SERVICE, create_app
from bluetick.config import Settings
from bluetick.server import Runner
from bluetick.store import Store


class ServedAsInProduction(TestServer):
    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        kwargs.update(handler_cancellation=False, access_log=None)
        return Runner(self.app, **kwargs)


async def serve(settings: Settings, store: Store) -> TestClient[web.Request, web.Application]:
    """A running service on 127.0.0.1; returns once its bootstrap has made it ready."""
    app = create_app(settings, store)
    client = TestClient(ServedAsInProduction(app, host="127.0.0.1"))
    await client.start_server()
    await asyncio.wait_for(app[SERVICE].ready.wait(), 30)
    return client


async def raw_exchange(port: int, data: bytes, read: bool = True) -> bytes:
    """Send `data` on a fresh connection; return what the server answers until it closes (or, not `read`, close at
    once: a client that leaves)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if not read:
            return b""
        async with asyncio.timeout(30):  # a bound on a hang, not a timing assertion
            return await reader.read()
    finally:
        writer.close()
