"""The deterministic traffic plan: which replies the agent logs, which webhooks a BSP posts, and in what order.

The traffic is realistically out of order: `read` before `delivered`, BSP retries, failures with error
objects, statuses that arrive before the agent has logged the message, in Meta's envelope, the seeds' flat
form and AiSensy's project webhooks. The same configuration always gives the same plan, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from simulator.expected import Event, Expected, Key, expected_state, meta_reason

MAX_MESSAGES = 1_000_000
MAX_ORGS = 10_000

# Error objects as Meta sends them (code, title, message, details); a None detail is left out of failed_reason.
META_ERRORS: tuple[tuple[int, str, str, str | None], ...] = (
    (131026, "Message Undeliverable", "Message Undeliverable",
     "Message failed to send because the recipient's phone number is not on WhatsApp"),
    (131047, "Re-engagement message", "Re-engagement message",
     "Message failed to send because more than 24 hours have passed since the customer last replied"),
    (131049, "This message was not delivered to maintain healthy ecosystem engagement.",
     "This message was not delivered to maintain healthy ecosystem engagement.", None),
    (130472, "User's number is part of an experiment", "User's number is part of an experiment",
     "Failed to send message because this user's phone number is part of an experiment"),
    (131000, "Something went wrong", "Something went wrong", None),
)  # fmt: skip
AISENSY_ERRORS: tuple[tuple[int, str], ...] = (
    (131047, "Re-engagement message: more than 24 hours have passed since the customer last replied"),
    (131026, "Receiver is incapable of receiving this message"),
    (131053, "Media upload error"),
)
REPLIES = (
    "Your order has shipped", "Thanks, we received your payment", "Your appointment is confirmed for 10:30",
    "Here is the tracking link you asked for", "Sorry for the delay, an agent will call you today",
)  # fmt: skip
KINDS = ("AI_REPLY_FREEFORM", "AI_REPLY_FREEFORM", "AI_REPLY_FREEFORM", "TEMPLATE")

Shape = Literal["meta", "flat", "aisensy"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate; every share is a probability per message (or per post, for duplicates)."""

    messages: int = 1000
    orgs: int = 5
    seed: int = 1
    failed_share: float = 0.06
    batched_share: float = 0.15  # Meta posts that carry several statuses
    duplicate_share: float = 0.08  # posts the BSP sends again (a retry)
    early_share: float = 0.1  # messages the agent logs only after their first statuses arrived
    read_first_share: float = 0.25  # read messages whose `read` arrives before `delivered`
    aisensy_share: float = 0.3
    flat_share: float = 0.05
    base_time: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

    def __post_init__(self) -> None:
        if not 1 <= self.messages <= MAX_MESSAGES:
            raise ValueError(f"messages must be between 1 and {MAX_MESSAGES}")
        if not 1 <= self.orgs <= MAX_ORGS:
            raise ValueError(f"orgs must be between 1 and {MAX_ORGS}")

    @property
    def tag(self) -> str:
        """Short digest of this configuration: message ids of two different configurations never collide."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:8].upper()


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One outbound reply the agent logs."""

    index: int
    org_id: UUID
    bsp_msg_id: str
    to_phone: str
    sent_at: datetime
    msg_kind: str
    body: str

    @property
    def key(self) -> Key:
        return (self.org_id, self.bsp_msg_id)

    def log_body(self) -> dict[str, Any]:
        """The body of POST /v1/orgs/{org}/messages, as the agent helper sends it."""
        return {
            "bsp_msg_id": self.bsp_msg_id,
            "direction": "OUTBOUND",
            "to_phone": self.to_phone,
            "msg_kind": self.msg_kind,
            "body": self.body,
            "sent_at": int(self.sent_at.timestamp()),
        }


@dataclass(frozen=True, slots=True)
class SentEvent:
    """One status a post carries, for message number `message` of the plan."""

    message: int
    status: str
    ts: datetime
    failed_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """One webhook post; `events` is what the merge must see from it."""

    org_id: UUID
    shape: Shape
    body: bytes
    events: tuple[SentEvent, ...]
    retry_of: int | None = None

    @property
    def path(self) -> str:
        return f"/webhooks/{self.org_id}"


@dataclass(frozen=True, slots=True)
class Step:
    """Log message `index` (kind "log") or send post `index` (kind "post")."""

    kind: Literal["log", "post"]
    index: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one simulation sends, in order, and what the database must hold afterwards."""

    config: SimConfig
    orgs: tuple[UUID, ...]
    messages: tuple[SimMessage, ...]
    posts: tuple[Post, ...]
    steps: tuple[Step, ...]

    def expected(self, posts: Iterable[int] | None = None) -> dict[Key, Expected]:
        """Each message's final state once it is logged and `posts` (default: all) have been applied."""
        events: list[list[Event]] = [[] for _ in self.messages]
        chosen = range(len(self.posts)) if posts is None else posts
        for p in chosen:
            for e in self.posts[p].events:
                events[e.message].append((e.status, e.ts, e.failed_reason))
        return {m.key: expected_state(events[m.index], m.sent_at) for m in self.messages}

    def early(self) -> list[int]:
        """Messages that have a post ordered before their log step."""
        seen_posts: set[int] = set()
        found = []
        for step in self.steps:
            if step.kind == "post":
                seen_posts.update(e.message for e in self.posts[step.index].events)
            elif step.index in seen_posts:
                found.append(step.index)
        return found


# Planning


@dataclass(slots=True)
class _Item:
    """A post in the making, with its arrival time at the service (which orders the run)."""

    arrival: float
    seq: int
    org: UUID
    shape: Shape
    statuses: list[dict[str, Any]]  # Meta status objects, or one AiSensy message object
    events: list[SentEvent]
    created: float = 0.0  # AiSensy's created_at
    receipt: str | None = None
    entries_split: bool = False
    attempt: int = 1
    retry_of: int | None = None


@dataclass(slots=True)
class _Planner:
    config: SimConfig
    rng: random.Random
    seq: int = 0
    items: list[_Item] = field(default_factory=list)
    log_arrivals: list[tuple[float, int, int]] = field(default_factory=list)  # (arrival, seq, message)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def make_orgs(seed: int, count: int) -> tuple[UUID, ...]:
    """The organisations of a seed: the same seed always gives the same org ids."""
    rng = random.Random(f"orgs:{seed}")
    return tuple(UUID(int=rng.getrandbits(128), version=4) for _ in range(count))


def make_plan(config: SimConfig) -> Plan:
    """The whole simulation for `config`: the same config always gives the same plan, byte for byte."""
    rng = random.Random(f"plan:{config.seed}:{config.tag}")
    orgs = make_orgs(config.seed, config.orgs)
    weights = [1 / (k + 1) ** 0.5 for k in range(config.orgs)]  # a few busy organisations, a long tail
    planner = _Planner(config, rng)
    messages = []
    clock = config.base_time
    for i in range(config.messages):
        clock += timedelta(seconds=rng.randint(0, 3))
        message = SimMessage(
            index=i,
            org_id=rng.choices(orgs, weights)[0],
            bsp_msg_id=f"wamid.SIM{config.tag}.{i:07d}",
            to_phone="+91" + str(rng.randint(6_000_000_000, 9_999_999_999)),
            sent_at=clock,
            msg_kind=rng.choice(KINDS),
            body=rng.choice(REPLIES),
        )
        messages.append(message)
        _plan_message(planner, message)
    _add_duplicates(planner)
    posts, post_arrivals = _build_posts(planner)
    order = sorted(
        [(arrival, seq, "post", p) for p, (arrival, seq) in enumerate(post_arrivals)]
        + [(arrival, seq, "log", m) for arrival, seq, m in planner.log_arrivals]
    )
    steps = tuple(Step("log" if kind == "log" else "post", index) for _, _, kind, index in order)
    return Plan(config=config, orgs=orgs, messages=tuple(messages), posts=tuple(posts), steps=steps)


def _stages(rng: random.Random, cfg: SimConfig, shape: Shape, bsp_sent: float) -> list[tuple[str, float, str | None]]:
    """What the BSP reports for one message: (status, unix time, failed_reason), in the order it happened."""
    stages: list[tuple[str, float, str | None]] = []
    if rng.random() < cfg.failed_share:
        if rng.random() < 0.7:
            stages.append(("sent", bsp_sent, None))
        failed_at = bsp_sent + rng.randint(1, 60)
        if shape == "aisensy":
            code, text = rng.choice(AISENSY_ERRORS)
            stages.append(("failed", failed_at, f"Error {code}: {text}"))
            return stages
        stages.append(("failed", failed_at, meta_reason(*rng.choice(META_ERRORS))))
        if rng.random() < 0.2:  # reported again later with another error: the earliest one counts
            stages.append(("failed", failed_at + rng.randint(1, 600), meta_reason(*rng.choice(META_ERRORS))))
        return stages
    if rng.random() > 0.05:  # now and then the BSP never reports `sent`
        stages.append(("sent", bsp_sent, None))
    if rng.random() < 0.93:
        delivered = bsp_sent + rng.randint(1, 30)
        stages.append(("delivered", delivered, None))
        if rng.random() < 0.65:
            read = delivered + rng.randint(2, 3600)
            stages.append(("read", read, None))
            if rng.random() < 0.02:
                stages.append(("warning", read + rng.randint(60, 86_400), None))
    return stages


def _plan_message(planner: _Planner, m: SimMessage) -> None:
    """The posts the BSP sends for `m`, each with its arrival time, and when the agent logs `m`."""
    rng, cfg = planner.rng, planner.config
    shape: Shape = (
        "aisensy" if rng.random() < cfg.aisensy_share else ("flat" if rng.random() < cfg.flat_share else "meta")
    )
    t0 = m.sent_at.timestamp()
    bsp_sent = t0 + rng.randint(-1, 2)  # the BSP's clock and the agent's disagree by a second or two
    stages = _stages(rng, cfg, shape, bsp_sent)
    arrivals = [ts + rng.uniform(0, 2) for _, ts, _ in stages]
    names = [s for s, _, _ in stages]
    if "read" in names and "delivered" in names and rng.random() < cfg.read_first_share:
        arrivals[names.index("delivered")] = arrivals[names.index("read")] + rng.uniform(0.1, 120)
    seen: dict[str, tuple[float, str | None]] = {}
    for (status, ts, reason), arrival in zip(stages, arrivals, strict=True):
        seen.setdefault(status, (ts, reason))
        if shape == "aisensy":
            item = _aisensy_item(planner, m, status, ts, seen)
        else:
            event = SentEvent(m.index, status, _at(ts), reason)
            item = _Item(0.0, planner.next_seq(), m.org_id, shape, [_meta_status(m, status, ts, reason)], [event])
        item.arrival = arrival
        planner.items.append(item)
    log_at = t0
    if arrivals and rng.random() < cfg.early_share:
        log_at = min(arrivals) + rng.uniform(1, 90)  # the agent was slow to log: its statuses came first
    planner.log_arrivals.append((log_at, planner.next_seq(), m.index))


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def _meta_status(m: SimMessage, status: str, ts: float, reason: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": m.bsp_msg_id,
        "status": status,
        "timestamp": str(int(ts)),
        "recipient_id": m.to_phone.removeprefix("+"),
    }
    if status in ("sent", "delivered"):
        item["conversation"] = {
            "id": hashlib.sha256(m.bsp_msg_id.encode()).hexdigest()[:32],
            "origin": {"type": "service"},
        }
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"}
    if status == "failed" and reason is not None:
        code, title, message, details = next(e for e in META_ERRORS if meta_reason(*e) == reason)
        error: dict[str, Any] = {"code": code, "title": title, "message": message}
        if details:
            error["error_data"] = {"details": details}
        item["errors"] = [error]
    return item


def _aisensy_item(
    planner: _Planner, m: SimMessage, status: str, ts: float, seen: dict[str, tuple[float, str | None]]
) -> _Item:
    """AiSensy reports the times of the stages seen so far beside the status itself (see the read sample)."""
    rng = planner.rng
    message: dict[str, Any] = {
        "messageId": m.bsp_msg_id,
        "phone_number": m.to_phone.removeprefix("+"),
        "status": status,
    }
    stamps = {stage: v for stage, v in seen.items() if stage in ("sent", "delivered", "read", "failed")}
    if status not in stamps:  # an unranked status (warning) carries only created_at
        stamps = {}
    elif rng.random() < 0.2:  # the status's own time only in created_at
        del stamps[status]
    for stage, (at, _) in stamps.items():
        message[f"{stage}_at"] = int(at)
    failure = seen.get("failed")
    if status == "failed" and failure is not None and failure[1] is not None:
        code, _, text = failure[1].removeprefix("Error ").partition(": ")
        message["failureResponse"] = {"code": int(code), "reason": text}
    events = [SentEvent(m.index, stage, _at(at), reason) for stage, (at, reason) in stamps.items()]
    if status not in stamps:
        events.append(SentEvent(m.index, status, _at(ts), seen[status][1]))
    seq = planner.next_seq()
    receipt = hashlib.sha256(f"{planner.config.tag}:{seq}".encode()).hexdigest()[:24]
    return _Item(0.0, seq, m.org_id, "aisensy", [message], events, created=ts, receipt=receipt)


def _add_duplicates(planner: _Planner) -> None:
    rng = planner.rng
    for item in list(planner.items):
        if rng.random() < planner.config.duplicate_share:
            copy = _Item(
                item.arrival + rng.uniform(1, 600),
                planner.next_seq(),
                item.org,
                item.shape,
                [dict(s) for s in item.statuses],
                list(item.events),
                created=item.created,
                receipt=item.receipt,
                attempt=item.attempt + 1,
                retry_of=item.seq,
            )
            planner.items.append(copy)


def _build_posts(planner: _Planner) -> tuple[list[Post], list[tuple[float, int]]]:
    """Turn items into posts in arrival order, batching some Meta statuses of one org into one post."""
    rng, cfg = planner.rng, planner.config
    items = sorted(planner.items, key=lambda it: (it.arrival, it.seq))
    merged: list[_Item] = []
    home: dict[int, int] = {}  # item seq -> seq of the post that carries it
    open_batches: dict[UUID, tuple[_Item, int]] = {}  # org -> (batch, target size)
    for item in items:
        home[item.seq] = item.seq
        if item.shape != "meta" or item.retry_of is not None:
            merged.append(item)
            continue
        batch = open_batches.get(item.org)
        if batch is not None:
            target, size = batch
            target.statuses.extend(item.statuses)
            target.events.extend(item.events)
            target.arrival = item.arrival  # the BSP posts the batch when its last status is in
            home[item.seq] = target.seq
            if len(target.statuses) >= size:
                del open_batches[item.org]
            continue
        merged.append(item)
        if rng.random() < cfg.batched_share:
            item.entries_split = rng.random() < 0.3
            open_batches[item.org] = (item, rng.randint(2, 5))
    merged.sort(key=lambda it: (it.arrival, it.seq))
    post_of = {item.seq: p for p, item in enumerate(merged)}
    posts = [
        Post(
            item.org,
            item.shape,
            _body(item),
            tuple(item.events),
            post_of[home[item.retry_of]] if item.retry_of is not None else None,
        )
        for item in merged
    ]
    return posts, [(item.arrival, item.seq) for item in merged]


def _body(item: _Item) -> bytes:
    doc: dict[str, Any]
    if item.shape == "aisensy":
        doc = {
            "id": item.receipt, "topic": "message.status.updated",
            "created_at": datetime.fromtimestamp(int(item.created), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "delivery_attempt": item.attempt, "project_id": "66f0aa11bb22cc33dd44ee55",
            "data": {"message": item.statuses[0]},
        }  # fmt: skip
    elif item.shape == "flat":
        doc = {"statuses": item.statuses}
    else:
        metadata = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
        groups = [[s] for s in item.statuses] if item.entries_split else [item.statuses]
        doc = {"object": "whatsapp_business_account", "entry": [
            {"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": metadata, "statuses": group}}]}
            for group in groups]}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


def describe(the_plan: Plan) -> str:
    """One line on what the plan holds."""
    shapes = Counter(p.shape for p in the_plan.posts)
    statuses = Counter(e.status for p in the_plan.posts if p.retry_of is None for e in p.events)
    batched = sum(1 for p in the_plan.posts if len({e.message for e in p.events}) > 1)
    retries = sum(1 for p in the_plan.posts if p.retry_of is not None)
    return (
        f"plan seed={the_plan.config.seed} tag={the_plan.config.tag}: {len(the_plan.messages)} messages in "
        f"{len(the_plan.orgs)} orgs, {len(the_plan.posts)} posts ("
        + ", ".join(f"{k} {v}" for k, v in sorted(shapes.items()))
        + f"; {batched} batched, {retries} BSP retries), statuses "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; {len(the_plan.early())} messages logged after their first status"
    )
