"""A campaign's recipients as CSV (issue 25), streamed from the database page by page:

    GET /v1/orgs/{org_id}/campaigns/{campaign}/recipients.csv?page_size=1000

One line per outbound message of the campaign (bluetick_campaign_recipients, sql/analytics/0112_campaigns.sql), in
(created_at, bsp_msg_id) order, under a header line that is always there: an unknown campaign answers 200 with the
header alone. Each page is read with a keyset cursor (the last line's created_at and bsp_msg_id) and written to the
response before the next one is read, so the memory a download takes is one page's, however long the campaign.
`python main.py campaign-recipients` writes the same lines (`recipients_csv`).

A campaign id over 512 characters or holding a NUL, or a page_size that is not a whole number from 1 to 10,000, is
refused with 400 naming it. A read the database cannot answer before the first byte is 503 to retry; one that fails
midway closes the connection without the end of the chunked body, so the client sees an incomplete download rather
than a short CSV.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from aiohttp import web

from bluetick.handlers import SERVICE, api_org, not_ready
from bluetick.refusals import Refusal
from bluetick.store import Store

log = logging.getLogger("bluetick.campaigns")

COLUMNS = (
    "customer",
    "bsp_msg_id",
    "status",
    "sent",
    "delivered",
    "read",
    "failed",
    "replied",
    "clicked",
    "failed_reason",
)
MAX_CAMPAIGN_CHARS = 512
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000


class BadInput(ValueError):
    """A campaign id or a page size that cannot be asked for; the message names it."""


def campaign_of(text: str) -> str:
    """The campaign id as given; BadInput when it is empty, over 512 characters or holds a NUL."""
    if not text:
        raise BadInput("campaign must not be empty")
    if len(text) > MAX_CAMPAIGN_CHARS:
        raise BadInput(f"campaign must be at most {MAX_CAMPAIGN_CHARS} characters")
    if "\x00" in text:
        raise BadInput("campaign must not contain a NUL character")
    return text


def page_size_of(text: str | None) -> int:
    """The page size asked for (default 1000); BadInput unless a whole number from 1 to 10,000."""
    if text is None:
        return DEFAULT_PAGE_SIZE
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise BadInput(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(text)


def csv_text(rows: Sequence[Sequence[Any]]) -> str:
    """`rows` as CSV lines (RFC 4180: quoted where needed, CRLF), None as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return buffer.getvalue()


def header_line() -> str:
    return csv_text([COLUMNS])


def recipient_lines(page: Sequence[Mapping[str, Any]]) -> str:
    """One page of bluetick_campaign_recipients as CSV lines, in COLUMNS' order."""
    return csv_text([[row.get(column) for column in COLUMNS] for row in page])


async def recipient_pages(
    store: Store, org_id: UUID, campaign: str, page_size: int, first: list[dict[str, Any]] | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The campaign's recipients page after page (`first` when already read), each read after the one before was
    consumed; no empty page."""
    page = first if first is not None else await store.campaign_recipients(org_id, campaign, None, page_size)
    while page:
        yield page
        if len(page) < page_size:
            return
        last = page[-1]
        page = await store.campaign_recipients(org_id, campaign, (last["created_at"], last["bsp_msg_id"]), page_size)


async def recipients_csv(store: Store, org_id: UUID, campaign: str, page_size: int) -> AsyncIterator[str]:
    """The CSV: the header line, then one chunk of lines per page."""
    yield header_line()
    async for page in recipient_pages(store, org_id, campaign, page_size):
        yield recipient_lines(page)


def setup(app: web.Application) -> None:
    """Add the recipients route to the application: any campaign id, a newline in it too (`(?s:.+)`), reaches the
    handler, which names what is wrong with it."""
    app.router.add_get(
        "/v1/orgs/{org_id}/campaigns/{campaign:(?s:.+)}/recipients.csv", get_recipients, name="campaign_recipients"
    )


async def get_recipients(request: web.Request) -> web.StreamResponse:
    """The campaign's recipients as CSV, streamed page by page."""
    org_id = api_org(request)
    try:
        campaign = campaign_of(request.match_info["campaign"])
        page_size = page_size_of(request.query.get("page_size"))
    except BadInput as exc:
        raise Refusal(400, str(exc), "bad_campaign_request") from None
    service = request.app[SERVICE]
    if not service.ready.is_set():
        raise not_ready()
    try:  # the first page before the first byte: a database that cannot answer is still a 503
        first = await service.store.campaign_recipients(org_id, campaign, None, page_size)
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the answer is the same: retry later
        log.warning("campaign recipients read failed error=%s", type(exc).__name__)
        raise Refusal(503, "cannot read now, retry later", "unavailable") from None
    response = web.StreamResponse(headers={"Content-Disposition": 'attachment; filename="recipients.csv"'})
    response.content_type = "text/csv"
    response.charset = "utf-8"
    await response.prepare(request)
    lines = 0
    try:
        await response.write(header_line().encode())
        async for page in recipient_pages(service.store, org_id, campaign, page_size, first):
            await response.write(recipient_lines(page).encode())
            lines += len(page)
    except Exception as exc:  # noqa: BLE001 - an answer is on its way: only cutting it short is left
        transport = request.transport
        if transport is None or transport.is_closing():  # the client left: nobody to answer
            log.debug("campaign recipients client gone lines=%d", lines)
            return response
        log.warning("campaign recipients read failed midway lines=%d error=%s", lines, type(exc).__name__)
        transport.close()  # no end of the chunked body: the client sees the download incomplete
        return response
    await response.write_eof()
    return response
