"""Run the service: one process, or N processes sharing the port with SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import signal
import sys
import tempfile
from types import FrameType

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bluetick.config import Settings
from bluetick.metrics import MULTIPROC_ENV
from bluetick.refusals import Protocol

log = logging.getLogger("bluetick.server")

EXIT_LOST = 3  # the process stopped with acknowledged events it could not store (logged as `shutdown lost=N`)


def run(settings: Settings, workers: int = 1) -> int:
    """Serve until SIGTERM or SIGINT; with `workers` > 1, supervise that many serving processes. Returns the exit
    code: 0, or EXIT_LOST when a process stopped with acknowledged events it could not store."""
    if workers <= 1:
        return _serve(settings, reuse_port=False)
    if settings.embedded:
        from bluetick.store import embedded

        embedded.start(settings.data_dir)  # one server, started before the workers attach to it
    # every worker writes its metrics here, and any worker's /metrics adds them all up
    os.environ.setdefault(MULTIPROC_ENV, tempfile.mkdtemp(prefix="bluetick-metrics-"))
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker, args=(settings,), name=f"worker-{i}") for i in range(workers)]
    for proc in procs:
        proc.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    return max((proc.exitcode or 0) for proc in procs)


def _worker(settings: Settings) -> None:
    """One serving process of several: its exit code is `_serve`'s."""
    sys.exit(_serve(settings, reuse_port=True))


def _serve(settings: Settings, reuse_port: bool) -> int:
    """Serve until SIGTERM or SIGINT; the exit code says whether the drain lost acknowledged events."""
    from bluetick import logs
    from bluetick.app import SERVICE, create_app

    logs.setup(settings.log_level)
    raise_descriptor_limit()
    app = create_app(settings)
    with asyncio.Runner(loop_factory=lambda: new_event_loop(settings.event_loop)) as runner:
        runner.run(_run(app, settings.host, settings.port, reuse_port))
    return EXIT_LOST if app[SERVICE].lost else 0


async def _run(app: web.Application, host: str, port: int, reuse_port: bool) -> None:
    """Serve `app` until SIGTERM or SIGINT, then close it (its cleanup drains the queue)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = Runner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        await stop.wait()
    finally:
        await runner.cleanup()


class _Server(web.Server):
    """aiohttp's low-level server, serving each connection with bluetick's `Protocol`."""

    def __call__(self) -> RequestHandler:
        return Protocol(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """aiohttp's application runner, its connections served by `Protocol` (bluetick's answers to malformed HTTP)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # the application builds its server itself and has no hook for the protocol
        return server


def raise_descriptor_limit() -> None:
    """Raise the soft limit on open descriptors to the hard limit, so slow clients exhaust it later; log both."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("descriptor limit not raised soft=%d hard=%d error=%s", soft, hard, type(exc).__name__)
    log.info("descriptor limit soft=%d hard=%d", soft, hard)


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The loop the service runs on: uvloop's (libuv, in C) or the standard library's."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()
