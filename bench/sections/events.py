"""Events out: durable ingest with a webhook subscription per organisation against none, and what is delivered.

Each repeat runs three variants, each repeat in another order, on fresh plans (fresh organisations): bluetick
durable for organisations with no subscription and no feed (they write no event); for organisations that each have
one subscription to every event type, pointing at a receiver the bench runs on 127.0.0.1 (an aiohttp process that
answers 200 at once and keeps each delivery's `webhook-id` with its arrival time); and for organisations whose feed
is on and that have no subscription (the outbox written, nothing delivered), which splits the subscription's cost
between writing events and delivering them. After the load, the bench waits
(bounded) until the receiver has every event the database holds for those organisations and reads each event's
`created_at` by its id (`webhook-id`) to time the lag. The subscriptions and the outbox are emptied after each run.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from standardwebhooks import Webhook

from bench import host, procs
from bench.harness import DURABLE, Bench, Target, Traffic, free_port, log, median
from bench.measure import empty_tables, load_run, replica_metrics, resend
from simulator.check import check

ALLOW_PRIVATE = (("SUBSCRIPTIONS_ALLOW_PRIVATE", "true"),)  # both variants: only the subscriptions differ
UNSUBSCRIBED = Target("bluetick durable, no subscription", "durable", env=ALLOW_PRIVATE)
SUBSCRIBED = Target("bluetick durable, a subscription per organisation", "durable", env=ALLOW_PRIVATE)
# the measure: one subscription, of the busiest organisation (the plan's first: about 31 % of the traffic
# with its default 5 organisations); the others write no event
ONE = Target("bluetick durable, one subscription (the busiest organisation)", "durable", env=ALLOW_PRIVATE)
# the outbox alone: events written (the feed on), none delivered; splits the subscription's cost in two
FEED = Target("bluetick durable, feed on, no subscription", "durable", env=ALLOW_PRIVATE)
VARIANTS = (UNSUBSCRIBED, ONE, SUBSCRIBED, FEED)
DELIVERING = (ONE, SUBSCRIBED)
EVENT_TYPES = ("message.status", "message.received", "customer.preferences", "template.status")
TARGET_RATIO = 0.9
DRAIN_TIMEOUT_S = 180.0  # after the load, the deliveries get this long to reach the receiver
STALL_S = 30.0  # ... but the wait ends sooner when nothing new has arrived for this long
SETTLE_TIMEOUT_S = 60.0
SAMPLES = 20  # deliveries whose headers and body the receiver keeps, for the signatures checked after the run
SIGNED = ("webhook-id", "webhook-timestamp", "webhook-signature")


async def run(b: Bench) -> dict[str, Any]:
    port = free_port()
    argv = [sys.executable, "-c", "import sys; from bench.sections.events import receive; receive(int(sys.argv[1]))"]
    receiver = procs.Server("webhook receiver", [*argv, str(port)], port, b.work / f"server-{next(b.runs)}.log")
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in VARIANTS}
    async with b.serve(receiver, "/healthz"):
        for r in range(b.opts.repeat):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]  # each repeat starts elsewhere
            for target in order:
                log(f"events {r + 1}/{b.opts.repeat}: {target.name}")
                guess = max([x["rate"] for xs in runs.values() for x in xs], default=b.expected_rate(DURABLE))
                runs[target.name].append(await _one_run(b, target, receiver, guess))
    return summarize(b, runs)


async def _one_run(b: Bench, target: Target, receiver: procs.Server, guess: float) -> dict[str, Any]:
    """One durable load run of `target` on a fresh plan; for ONE and SUBSCRIBED, its deliveries waited for and timed."""
    traffic = await b.traffic(target, guess * b.opts.seconds * 1.3)
    orgs = list(traffic.plan.orgs)
    await _post(receiver.url + "/reset")
    # other work on this shared machine skews an A/B: wait (up to host.QUIET_WAIT_S) for it to calm down
    busy_before = await asyncio.to_thread(host.wait_until_quiet, os.cpu_count() or 1)
    marks: dict[str, float] = {}
    async with b.server(target) as server:
        subscribed = {SUBSCRIBED: orgs, ONE: orgs[:1]}.get(target, [])
        secrets = await _subscribe(b, server.url, subscribed, receiver.url + "/hook") if subscribed else {}
        if target == FEED:
            await _feed(b.dsn, orgs, True)
        receiver_cpu = procs.cpu_seconds(receiver.pid)

        async def settle(server: procs.Server, issued: set[int], unacked: set[int]) -> dict[str, Any]:
            marks["load_end"] = time.time()
            marks["receiver_cpu_s"] = procs.cpu_seconds(receiver.pid) - receiver_cpu
            return await _check_rows(b, target, server, traffic, issued, unacked)

        record = await load_run(b, target, [server], traffic, b.opts.seconds, settle=settle)
        record["server_metrics"] = await replica_metrics([server])
        record["busy_cores_before"] = round(busy_before, 2)
        events = await _events(b.dsn, orgs)  # final: every batch has committed (the rows were checked)
        record["events_written"] = len(events)
        load_end = marks["load_end"]
        load_start = load_end - record["seconds"]
        cpu = record["cpu_cores"]
        cpu["receiver"] = round(marks["receiver_cpu_s"] / max(record["seconds"], 1e-9), 2)
        cpu["other"] = round(max(0.0, cpu["other"] - cpu["receiver"]), 2)  # the bench and anything else running
        record["events_written_per_s_load"] = sum(load_start <= e[1] <= load_end for e in events) / record["seconds"]
        if target in DELIVERING:
            received = await _drain(receiver.url, {e[0] for e in events}, load_end + DRAIN_TIMEOUT_S)
            record["deliveries"] = deliveries(b, events, received, secrets, load_start, load_end)
            record["deliveries"]["cpu_cores_receiver_load"] = record["cpu_cores"]["receiver"]
            record["deliveries"]["outcomes"] = await _delivery_outcomes(server.url)  # the server's count, by outcome
    await _clean(b.dsn, orgs)
    return record


async def _subscribe(b: Bench, url: str, orgs: Sequence[UUID], hook: str) -> dict[str, str]:
    """One subscription to every event type per organisation, through the API; each organisation's secret."""
    found: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {b.api_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for org in orgs:
            body = {"url": hook, "events": list(EVENT_TYPES)}
            async with session.post(f"{url}/v1/orgs/{org}/subscriptions", json=body) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"POST subscriptions answered {resp.status}: {(await resp.text())[:300]}")
                doc = await resp.json()
            found[str(org)] = str(doc["secret"])
    return found


async def _check_rows(
    b: Bench, target: Target, server: procs.Server, traffic: Traffic, issued: set[int], unacked: set[int]
) -> dict[str, Any]:
    """As measure.settle_and_check: resend what got no 2xx, log the late messages, then compare every row."""
    the_plan = traffic.plan
    retry = await resend(b, server, traffic, unacked)
    expected = the_plan.expected(issued)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        mismatches = await check(b.dsn, the_plan, expected)
        if not mismatches or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    wrong = len({m.key for m in mismatches})
    ok = not mismatches and retry.ok
    if not ok:
        b.failures.append(
            f"events, {target.name}: {wrong} of {len(expected)} rows differ from the merge rules"
            f"{'' if retry.ok else ', and some posts were never acknowledged'}"
        )
    return {
        "ok": ok, "messages": len(expected), "posts_issued": len(issued),
        "events_issued": sum(len(the_plan.posts[p].events) for p in issued),
        "resent_after_run": len(unacked), "logged_after_run": len(traffic.early), "rows_wrong": wrong,
        "examples": [str(m) for m in mismatches[:3]], "resend_ok": retry.ok,
    }  # fmt: skip


async def _events(dsn: str, orgs: Sequence[UUID]) -> list[tuple[str, float, str]]:
    """(id, created_at as epoch seconds, message key) of every event the database holds for `orgs`."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select id::text as id, extract(epoch from created_at)::float8 as created,"
            " org_id::text || '/' || coalesce(bsp_msg_id, type || '/' || id::text) as key"
            " from bluetick_events where org_id = any($1::uuid[])",
            list(orgs),
        )
    finally:
        await conn.close()
    return [(r["id"], r["created"], r["key"]) for r in rows]


async def _drain(url: str, expected: set[str], deadline: float) -> dict[str, Any]:
    """The receiver's deliveries once it has every id of `expected`, at `deadline` (wall clock), or once nothing
    new has arrived for STALL_S."""
    last_count, last_change = -1, time.monotonic()
    while True:
        stats = await _get(url + "/stats")
        if stats["received"] != last_count:
            last_count, last_change = stats["received"], time.monotonic()
        stalled = time.monotonic() - last_change > STALL_S
        if stats["distinct"] >= len(expected) or time.time() > deadline or stalled:
            received = await _get(url + "/received")
            if expected <= set(received["ids"]) or time.time() > deadline or stalled:
                received["stalled"] = stalled and not expected <= set(received["ids"])
                return received
        await asyncio.sleep(0.2)


def deliveries(
    b: Bench,
    events: list[tuple[str, float, str]],
    received: dict[str, Any],
    secrets: dict[str, str],
    load_start: float,
    load_end: float,
) -> dict[str, Any]:
    """What reached the receiver: rates, lag from each event's created_at to its first arrival, duplicates,
    missing, order per message, and the signatures of the sampled deliveries."""
    created = {e[0]: e[1] for e in events}
    key_of = {e[0]: e[2] for e in events}
    first: dict[str, float] = {}
    arrivals = 0
    unexpected = 0
    for event_id, at in zip(received["ids"], received["at"], strict=True):
        if event_id not in created:
            unexpected += 1
            continue
        arrivals += 1
        first.setdefault(event_id, at)
    missing = len(created) - len(first)
    if missing:
        b.failures.append(
            f"events: {missing} of {len(created)} events never reached the receiver "
            f"({'nothing arrived for ' + str(STALL_S) + ' s' if received.get('stalled') else 'by the deadline'})"
        )
    lags = sorted((at - created[i]) * 1000 for i, at in first.items())
    in_order = sorted(first.items(), key=lambda item: item[1])
    newest: dict[str, int] = {}
    out_of_order = 0
    for event_id, _ in in_order:
        key, number = key_of[event_id], int(event_id)
        if number < newest.get(key, 0):
            out_of_order += 1
        newest[key] = max(number, newest.get(key, 0))
    last = max(first.values(), default=load_end)
    seconds = load_end - load_start
    delivered_in_load = sum(at <= load_end for at in first.values())
    written_in_load = sum(c <= load_end for c in created.values())
    verified, bad = verify(received["samples"], secrets)
    if bad:
        b.failures.append(f"events: {bad} of {verified + bad} sampled deliveries failed signature verification")
    return {
        "events_written": len(created), "delivered": len(first), "duplicates": arrivals - len(first),
        "missing": missing, "unexpected": unexpected, "stalled": bool(received.get("stalled")),
        "delivered_per_s_load": delivered_in_load / seconds if seconds > 0 else math.nan,
        "delivered_per_s_total": len(first) / (last - load_start) if last > load_start else math.nan,
        "backlog_at_load_end": written_in_load - delivered_in_load,
        "drain_s": max(0.0, last - load_end),
        "lag_ms": {"p50": _pct(lags, 0.50), "p99": _pct(lags, 0.99), "max": lags[-1] if lags else math.nan},
        "out_of_order": out_of_order, "signatures_verified": verified, "signatures_bad": bad,
    }  # fmt: skip


def verify(samples: list[dict[str, Any]], secrets: dict[str, str]) -> tuple[int, int]:
    """(verified, failed) signatures of the sampled deliveries, with the standardwebhooks package and the secret
    of the organisation the event names."""
    verified = bad = 0
    for sample in samples:
        try:
            org = str(json.loads(sample["body"])["data"]["org_id"])
            Webhook(secrets[org]).verify(sample["body"], sample["headers"])
            verified += 1
        except Exception:  # noqa: BLE001 - any failure to verify is counted
            bad += 1
    return verified, bad


def summarize(b: Bench, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the repeats; the ratio is taken within each repeat, then the median of those."""
    none, one, subscribed, feed = (runs[t.name] for t in (UNSUBSCRIBED, ONE, SUBSCRIBED, FEED))

    def over_none(records: list[dict[str, Any]]) -> list[float]:
        return [x["rate"] / n["rate"] for x, n in zip(records, none, strict=False) if n["rate"]]

    ratios, one_ratios, feed_ratios = over_none(subscribed), over_none(one), over_none(feed)
    variants = {}
    for name, records in runs.items():
        cpu_keys = records[0]["cpu_cores"].keys() if records else []
        variants[name] = {
            "rate": median([r["rate"] for r in records]),
            "events_per_s": median([r["events_per_s"] for r in records]),
            "p50_ms": median([r["latency_ms"]["p50"] for r in records]),
            "p99_ms": median([r["latency_ms"]["p99"] for r in records]),
            "non_2xx": sum(r["non_2xx"] + r["errors"] for r in records),
            "requests": sum(r["requests"] for r in records),
            "cpu_cores": {k: median([r["cpu_cores"][k] for r in records]) for k in cpu_keys},
            "flush_ms_mean": median([r["server_metrics"].get("flush_ms_mean", math.nan) for r in records]),
            "events_written": sum(r["events_written"] for r in records),
            "events_written_per_s_load": median([r["events_written_per_s_load"] for r in records]),
            "rows_wrong": sum(r["check"]["rows_wrong"] for r in records),
            "pg_waits": dict(sum((Counter(r.get("pg_waits", {})) for r in records), Counter[str]())),
            "rates": [r["rate"] for r in records],
        }  # fmt: skip
    d = [r["deliveries"] for r in subscribed]
    both = d + [r["deliveries"] for r in one]  # every delivery of both, for the totals
    summary = {
        "one_ratio": median(one_ratios), "one_ratios": one_ratios, "target": TARGET_RATIO,
        "met": bool(one_ratios) and median(one_ratios) >= TARGET_RATIO,
        "ratio": median(ratios), "ratios": ratios, "every_met": bool(ratios) and median(ratios) >= TARGET_RATIO,
        "feed_ratio": median(feed_ratios), "feed_ratios": feed_ratios,
        "delivered_per_s_load": median([x["delivered_per_s_load"] for x in d]),
        "delivered_per_s_total": median([x["delivered_per_s_total"] for x in d]),
        "backlog_at_load_end": median([x["backlog_at_load_end"] for x in d]),
        "drain_s": median([x["drain_s"] for x in d]),
        "lag_p50_ms": median([x["lag_ms"]["p50"] for x in d]), "lag_p99_ms": median([x["lag_ms"]["p99"] for x in d]),
        "lag_max_ms": max([x["lag_ms"]["max"] for x in d], default=math.nan),
        "outcomes_not_delivered": sum(n for x in both for k, n in x["outcomes"].items() if k != "delivered"),
        **{k: sum(x[k] for x in both) for k in ("events_written", "delivered", "duplicates", "missing", "unexpected",
                                             "out_of_order", "signatures_verified", "signatures_bad")},
    }  # fmt: skip
    return {
        "seconds": b.opts.seconds, "repeat": b.opts.repeat, "drain_timeout_s": DRAIN_TIMEOUT_S,
        "variants": variants, "summary": summary, "runs": runs,
    }  # fmt: skip


def _pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def _delivery_outcomes(url: str) -> dict[str, float]:
    """bluetick_webhook_deliveries_total by outcome, from the server's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("bluetick_webhook_deliveries_total{"):
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[-1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0.0) + float(value)
    return found


async def _feed(dsn: str, orgs: Sequence[UUID], on: bool) -> None:
    """Each organisation's event feed turned on or off."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("select bluetick_events_feed(o, $2) from unnest($1::uuid[]) o", list(orgs), on)
    finally:
        await conn.close()


async def _clean(dsn: str, orgs: Sequence[UUID]) -> None:
    """The run's subscriptions gone, feeds off, the outbox and the tables emptied, for the next run."""
    await _feed(dsn, orgs, False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("delete from webhook_subscriptions where org_id = any($1::uuid[])", list(orgs))
        await conn.execute("truncate bluetick_events")
    finally:
        await conn.close()
    await empty_tables(dsn)


async def _get(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        doc: dict[str, Any] = await resp.json()
        return doc


async def _post(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        resp.raise_for_status()


def receive(port: int) -> None:
    """The receiver (its own process, 127.0.0.1:`port`): POST /hook answers 200 at once and keeps the delivery's
    webhook-id and arrival time (and the headers and body of the first SAMPLES); GET /stats, GET /received,
    POST /reset."""
    from aiohttp import web

    ids: list[str] = []
    at: list[float] = []
    distinct: set[str] = set()
    samples: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        event_id = request.headers.get("webhook-id", "")
        ids.append(event_id)
        at.append(arrived)
        distinct.add(event_id)
        if len(samples) < SAMPLES:
            samples.append({"headers": {k: request.headers.get(k, "") for k in SIGNED}, "body": body.decode()})
        return web.Response()

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"received": len(ids), "distinct": len(distinct)})

    async def dump(request: web.Request) -> web.Response:
        return web.json_response({"ids": ids, "at": at, "samples": samples})

    async def reset(request: web.Request) -> web.Response:
        ids.clear()
        at.clear()
        distinct.clear()
        samples.clear()
        return web.Response()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/received", dump)
    app.router.add_post("/reset", reset)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
