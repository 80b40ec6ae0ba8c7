"""Tracked links (docs/formats.md, "Tracked links"): the clicks WhatsApp never reports.

    POST /v1/orgs/{org_id}/links   {"bsp_msg_id", "url"} -> 201 {"url": "<PUBLIC_URL>/l/<token>", "token"}
    GET  /l/{token}                302 to the link's url; counts a click and marks the message `clicked`

The token is 16 random bytes (urlsafe base64, 22 characters): unguessable, and it carries nothing. The target is
the one stored when the link was made, so /l/ redirects only where an organisation's API token said (no open
redirect); an unknown token is 404. A click counts in tracked_links (one SQL call: clicks + 1, the first and last
click's times) and goes to the merge as a status `clicked` of the message, through the service's pipeline like a
webhook's status: the earliest time wins whatever the order, and a click on a message not logged yet is parked
until it is. `HEAD` and a link-preview fetcher's GET (WhatsApp's own `WhatsApp/...`, facebookexternalhit and the
other preview bots in PREVIEW_AGENTS) get the redirect but count nothing.

/l/ needs no token, so it is rate-limited per client address: a token bucket per process (RATE_PER_MINUTE, as a
burst of as many), 429 beyond. The address is the connection's peer; `X-Forwarded-For` is not trusted (anyone
can send it), so behind a proxy every client shares the proxy's bucket.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web

from bluetick.events import StatusEvent
from bluetick.handlers import SERVICE, api_org, not_ready, parse_json, read_body
from bluetick.payloads.common import ItemError, identifier
from bluetick.pipeline import Rejected, Unavailable
from bluetick.refusals import Refusal
from bluetick.store import PermanentError

log = logging.getLogger("bluetick.links")

CLICKED = "clicked"
TOKEN_BYTES = 16
MAX_URL_CHARS = 2048
RATE_PER_MINUTE = 30
MAX_TRACKED_CLIENTS = 10_000  # buckets kept per process; full ones are dropped first beyond this
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,64}")
_URL_TEXT = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: what a Location header carries as is
# Link-preview fetchers: they fetch the link to draw its card, no person clicked.
PREVIEW_AGENTS = re.compile(
    r"WhatsApp/|facebookexternalhit|facebookcatalog|Facebot|meta-externalagent|Twitterbot|Slackbot|Slack-ImgProxy|"
    r"TelegramBot|Discordbot|LinkedInBot|SkypeUriPreview|Pinterestbot|redditbot|Embedly|Iframely|vkShare|"
    r"Google-PageRenderer|Applebot|bitlybot",
    re.IGNORECASE,
)


class RateLimiter:
    """A token bucket per key: `per_minute` requests a minute, in bursts of as many. `clock` is monotonic seconds."""

    def __init__(self, per_minute: int = RATE_PER_MINUTE, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate_s = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def allow(self, key: str) -> bool:
        """Whether one more request of `key` is allowed now (and if so, it is taken from its bucket)."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if key not in self._buckets and len(self._buckets) >= MAX_TRACKED_CLIENTS:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _prune(self, now: float) -> None:
        """Drop the buckets full again (they allow as much as a new one); then, if still too many, the oldest."""
        full = [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate_s >= self.capacity]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_CLIENTS:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k][1])[: len(self._buckets) // 2]
            for key in oldest:
                del self._buckets[key]


@dataclass
class Links:
    """The app's tracked-link state: the rate limiter of /l/."""

    limiter: RateLimiter = field(default_factory=RateLimiter)


LINKS = web.AppKey("links", Links)


def setup(app: web.Application) -> None:
    """Add the tracked-link routes to the application."""
    app[LINKS] = Links()
    app.router.add_post("/v1/orgs/{org_id}/links", create_link, name="create_link")
    app.router.add_get("/l/{token}", follow_link, name="follow_link")  # HEAD too (aiohttp's allow_head)


def _bad(field_name: str, message: str) -> Refusal:
    return Refusal(400, message, "bad_link", field=field_name)


def check_url(value: Any) -> str:
    """The link's target, or a 400 naming `url`: an absolute http(s) URL with a host, at most MAX_URL_CHARS."""
    if not isinstance(value, str) or not value:
        raise _bad("url", "url is missing: an absolute http or https URL")
    if len(value) > MAX_URL_CHARS:
        raise _bad("url", f"url is longer than {MAX_URL_CHARS} characters")
    if not _URL_TEXT.fullmatch(value):
        raise _bad("url", "url must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise _bad("url", "url is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise _bad("url", "url must be an absolute http or https URL with a host")
    return value


def link_base(request: web.Request) -> str:
    """What a link's URL starts with: PUBLIC_URL, else the scheme and host this request was sent to."""
    public = request.app[SERVICE].settings.public_url
    if public:
        return public.rstrip("/")
    return f"{request.scheme}://{request.host}"


async def create_link(request: web.Request) -> web.Response:
    """Make a tracked link of the organisation to `url`, in message `bsp_msg_id`: 201 {"url", "token"}."""
    org_id = api_org(request)
    doc = parse_json(await read_body(request, 16 * 1024))
    if not isinstance(doc, dict):
        raise _bad("body", 'body must be an object {"bsp_msg_id": "...", "url": "https://..."}')
    try:
        bsp_msg_id = identifier(doc.get("bsp_msg_id"), "bsp_msg_id")
    except ItemError as exc:
        raise _bad("bsp_msg_id", str(exc)) from None
    url = check_url(doc.get("url"))
    service = request.app[SERVICE]
    if not service.ready.is_set():
        raise not_ready()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        await service.store.link_create(org_id, token, bsp_msg_id, url)
    except PermanentError as exc:
        raise _bad("url", f"the database refused this link: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the answer is the same: retry later
        log.warning("link not stored error=%s", type(exc).__name__)
        raise Refusal(503, "cannot store now, retry later", "unavailable") from None
    return web.json_response({"url": f"{link_base(request)}/l/{token}", "token": token}, status=201)


def is_preview(request: web.Request) -> bool:
    """Whether this request fetches the link without a person clicking it: HEAD, or a link-preview fetcher."""
    return request.method == "HEAD" or bool(PREVIEW_AGENTS.search(request.headers.get("User-Agent", "")))


async def follow_link(request: web.Request) -> web.Response:
    """302 to the link's url; a person's click is counted and marks the message `clicked`."""
    if not request.app[LINKS].limiter.allow(request.remote or "unknown"):
        raise Refusal(429, "too many requests, slow down", "rate_limited")
    token = request.match_info["token"]
    if not _TOKEN.fullmatch(token):  # not a token this service makes: no database call
        raise Refusal(404, "unknown link", "unknown_link")
    service = request.app[SERVICE]
    if not service.ready.is_set():
        raise not_ready()
    count = not is_preview(request)
    clicked_at = datetime.now(UTC)
    try:
        link = await service.store.link_follow(token, count)
    except PermanentError:
        raise Refusal(404, "unknown link", "unknown_link") from None
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the answer is the same: retry later
        log.warning("link not read error=%s", type(exc).__name__)
        raise Refusal(503, "cannot read now, retry later", "unavailable") from None
    if link is None:
        raise Refusal(404, "unknown link", "unknown_link")
    if count:
        await _mark_clicked(request, UUID(link["org_id"]), link["bsp_msg_id"], clicked_at)
    # no-store: every click comes back here
    headers = {"Location": link["url"], "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return web.Response(status=302, headers=headers)


async def _mark_clicked(request: web.Request, org_id: UUID, bsp_msg_id: str, at: datetime) -> None:
    """Submit the message's `clicked` status to the merge and wait for its commit (up to ACK_TIMEOUT_MS). The
    person is redirected either way: a click the database cannot take now is counted in tracked_links, and
    logged."""
    service = request.app[SERVICE]
    event = StatusEvent(org_id=org_id, bsp_msg_id=bsp_msg_id, status=CLICKED, ts=at)
    try:
        pending = service.pipeline.submit([], [event], wait=True)
        if pending is not None:
            async with asyncio.timeout(service.settings.ack_timeout_ms / 1000):
                await pending
    except (Unavailable, Rejected, TimeoutError) as exc:
        log.warning("click status not stored org=%s error=%s", org_id, type(exc).__name__)
