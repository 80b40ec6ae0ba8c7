"""Sending a plan to a bluetick on 127.0.0.1: the agent's log calls and the BSP's webhook posts, signed, retried."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from simulator.plan import Plan, Shape, Step

LOOPBACK = "127.0.0.1"
DEFAULT_MAX_SECONDS = 300.0
RETRY_LIMIT = 6  # a BSP retries a post that got no 2xx; so does the simulated agent for its log call
RETRY_BACKOFF_S = 0.05
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class NotLoopback(ValueError):
    """The target is not http://127.0.0.1: the simulator refuses to send anywhere else."""


@dataclass(frozen=True, slots=True)
class Secrets:
    """How to authenticate: the agent's bearer token, and the webhook signing secrets or URL token."""

    api_token: str | None = None
    meta_app_secret: str | None = None
    aisensy_secret: str | None = None
    url_token: str | None = None

    def webhook_headers(self, shape: Shape, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if shape == "aisensy" and self.aisensy_secret:
            headers["X-AiSensy-Signature"] = hmac.new(self.aisensy_secret.encode(), body, hashlib.sha256).hexdigest()
        elif shape != "aisensy" and self.meta_app_secret:
            digest = hmac.new(self.meta_app_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        return headers


@dataclass(slots=True)
class RunResult:
    """What happened on the wire."""

    answers: Counter[int] = field(default_factory=Counter)  # HTTP status -> count, retries included
    retries: int = 0
    failed_posts: list[int] = field(default_factory=list)  # never acknowledged with a 2xx
    failed_logs: list[int] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not (self.failed_posts or self.failed_logs or self.timed_out)


def loopback_url(url: str) -> str:
    """`url` without a trailing slash, if it is plain http on 127.0.0.1; else NotLoopback."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK or parts.path not in ("", "/"):
        raise NotLoopback(f"refusing to send to {url!r}: the simulator only targets http://{LOOPBACK}:<port>")
    return url.rstrip("/")


async def run(
    the_plan: Plan,
    base_url: str,
    *,
    concurrency: int = 16,
    secrets: Secrets | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    steps: Sequence[Step] | None = None,
) -> RunResult:
    """Send `steps` (default: the plan's) in order, `concurrency` at a time; stop after `max_seconds`."""
    base = loopback_url(base_url)
    secrets = secrets or Secrets()
    todo = iter(the_plan.steps if steps is None else steps)
    result = RunResult()
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for step in todo:
                if step.kind == "log":
                    m = the_plan.messages[step.index]
                    headers = {"Authorization": f"Bearer {secrets.api_token}"} if secrets.api_token else {}
                    url = f"{base}/v1/orgs/{m.org_id}/messages"
                    body = json.dumps(m.log_body()).encode()
                    headers["Content-Type"] = "application/json"
                    if not await _send(session, url, body, headers, result):
                        result.failed_logs.append(step.index)
                else:
                    post = the_plan.posts[step.index]
                    url = f"{base}{post.path}"
                    if secrets.url_token:
                        url += f"?token={secrets.url_token}"
                    if not await _send(session, url, post.body, secrets.webhook_headers(post.shape, post.body), result):
                        result.failed_posts.append(step.index)

        try:
            async with asyncio.timeout(max_seconds):
                await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        except TimeoutError:
            result.timed_out = True
    result.seconds = time.perf_counter() - started
    return result


async def _send(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], result: RunResult
) -> bool:
    """POST until a 2xx, retrying what a BSP retries (5xx, 429, no answer) with backoff; False if it never came."""
    delay = RETRY_BACKOFF_S
    for attempt in range(RETRY_LIMIT):
        if attempt:
            result.retries += 1
            await asyncio.sleep(delay)
            delay *= 2
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                result.answers[resp.status] += 1
                if 200 <= resp.status < 300:
                    return True
                if resp.status not in RETRY_STATUSES:
                    return False
        except (aiohttp.ClientError, TimeoutError):
            result.answers[0] += 1
    return False
