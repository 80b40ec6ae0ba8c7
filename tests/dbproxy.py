"""A TCP relay in front of the real test Postgres, which a test cuts and restores to stage an outage.

Not a mock: every byte goes to and from the real database; only the network path is interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
from urllib.parse import parse_qs, urlparse


def socket_path(dsn: str) -> str:
    """The Unix socket of the embedded server behind a `postgresql://...?host=/dir` DSN."""
    directory = parse_qs(urlparse(dsn).query)["host"][0]
    return glob.glob(f"{directory}/.s.PGSQL.*")[0]


class DbProxy:
    def __init__(self, dsn: str) -> None:
        self._target = socket_path(dsn)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._frozen = asyncio.Event()  # set = flowing
        self._frozen.set()
        self.port = 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a database host going away does."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    def freeze(self) -> None:
        """Stop forwarding bytes but keep every connection open: a path that silently drops packets."""
        self._frozen.clear()

    def thaw(self) -> None:
        self._frozen.set()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            db_reader, db_writer = await asyncio.open_unix_connection(self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, db_writer}
        await asyncio.gather(self._pipe(client_reader, db_writer), self._pipe(db_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                await self._frozen.wait()
                writer.write(chunk)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)
