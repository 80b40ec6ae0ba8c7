"""The analyst's report: one organisation's delivery story as a self-contained HTML page of SVG charts.

`window` checks the request, `data` reads the sql/analytics views and functions, `svg` draws, `page` assembles.
"""

from __future__ import annotations

import asyncpg

from bluetick.report.data import Report, fetch_report
from bluetick.report.page import render
from bluetick.report.window import BadInput, Window, window_of
from bluetick.store.pooler import pooler_options

__all__ = ["BadInput", "Report", "Window", "build_page", "fetch_report", "render", "report_page", "window_of"]


async def build_page(conn: asyncpg.Connection, window: Window, timeout_s: float | None = None) -> str:
    """The page of `window`, read over the asyncpg connection `conn`."""
    return render(await fetch_report(conn, window, timeout_s))


async def report_page(dsn: str, window: Window, pooled: bool | None = None, timeout_s: float | None = None) -> str:
    """The page of `window`, over a connection of its own to `dsn` (a pooler's DSN included)."""
    url, cache = pooler_options(dsn, pooled)
    conn = await asyncpg.connect(url, statement_cache_size=cache, timeout=timeout_s or 60)
    try:
        return await build_page(conn, window, timeout_s)
    finally:
        await conn.close()
