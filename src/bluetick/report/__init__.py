"""The analyst's report: one organisation's delivery story as a self-contained HTML page of SVG charts.

`window` checks the request, `data` reads the sql/analytics views and functions, `svg` draws, `page` assembles.
"""

from __future__ import annotations

from bluetick.report.data import Report, fetch_report
from bluetick.report.page import render
from bluetick.report.window import BadInput, Window, window_of
from bluetick.store import Store

__all__ = ["BadInput", "Report", "Window", "build_page", "fetch_report", "render", "window_of"]


async def build_page(store: Store, window: Window) -> str:
    """The page of `window`, read through `store`."""
    return render(await fetch_report(store, window))
