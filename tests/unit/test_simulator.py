"""The BSP traffic simulator without a service: deterministic plans, the disorder it promises, a correct oracle."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simulator
from bluetick import payloads
from simulator.expected import Event, expected_state
from simulator.plan import MAX_MESSAGES, Plan, SimConfig, make_plan
from simulator.send import NotLoopback, loopback_url

SMALL = SimConfig(messages=400, orgs=4, seed=11)


@pytest.fixture(scope="module")
def small_plan() -> Plan:
    return make_plan(SMALL)


def test_same_seed_gives_the_same_plan_byte_for_byte(small_plan: Plan) -> None:
    again = make_plan(SMALL)
    assert again.orgs == small_plan.orgs
    assert [p.body for p in again.posts] == [p.body for p in small_plan.posts]
    assert again.steps == small_plan.steps
    assert again.expected() == small_plan.expected()


def test_another_seed_gives_other_organisations_and_message_ids(small_plan: Plan) -> None:
    other = make_plan(dataclasses.replace(SMALL, seed=12))
    assert set(other.orgs).isdisjoint(small_plan.orgs)
    assert {m.bsp_msg_id for m in other.messages}.isdisjoint(m.bsp_msg_id for m in small_plan.messages)


def test_plan_holds_the_disorder_a_bsp_produces(small_plan: Plan) -> None:
    plan = small_plan
    shapes = Counter(p.shape for p in plan.posts)
    assert shapes["meta"] > 0 and shapes["aisensy"] > 0 and shapes["flat"] > 0
    assert any(len(p.events) > 1 and p.shape == "meta" for p in plan.posts), "no batched Meta post"
    assert any(p.retry_of is not None for p in plan.posts), "no BSP retry"
    assert plan.early(), "no status arrives before its message is logged"
    failed = [e for p in plan.posts for e in p.events if e.status == "failed"]
    assert failed and all(e.failed_reason and e.failed_reason.startswith("Error ") for e in failed)
    position = {}
    for n, step in enumerate(plan.steps):
        if step.kind == "post":
            for e in plan.posts[step.index].events:
                position.setdefault((e.message, e.status), n)
    read_first = [m for (m, s), n in position.items() if s == "read" and n < position.get((m, "delivered"), -1)]
    assert read_first, "no read arrives before delivered"
    assert sorted(s.index for s in plan.steps if s.kind == "log") == list(range(len(plan.messages)))
    assert sorted(s.index for s in plan.steps if s.kind == "post") == list(range(len(plan.posts)))


def test_every_post_parses_to_the_events_the_plan_expects(small_plan: Plan) -> None:
    for post in small_plan.posts:
        parsed = payloads.parse(post.org_id, json.loads(post.body))
        assert not parsed.errors and not parsed.messages
        got = sorted((s.bsp_msg_id, s.status, s.ts, s.failed_reason or "") for s in parsed.statuses)
        want = sorted(
            (small_plan.messages[e.message].bsp_msg_id, e.status, e.ts, e.failed_reason or "") for e in post.events
        )
        assert got == want


def test_plan_expects_of_each_message_the_merge_of_every_event_its_posts_carry(small_plan: Plan) -> None:
    events: dict[int, list[Event]] = {m.index: [] for m in small_plan.messages}
    for post in small_plan.posts:
        for e in post.events:
            events[e.message].append((e.status, e.ts, e.failed_reason))
    expected = small_plan.expected()
    for m in small_plan.messages:
        assert expected[m.key] == expected_state(events[m.index], m.sent_at)


BASE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
RANKED = ("sent", "delivered", "read")
event_lists = st.lists(
    st.tuples(
        st.sampled_from(("sent", "delivered", "read", "failed", "warning")),
        st.integers(0, 5).map(lambda m: BASE + timedelta(minutes=m)),
        st.sampled_from((None, "Error 131026: Message Undeliverable", "Error 131047: Re-engagement message")),
    ).map(lambda e: (e[0], e[1], e[2] if e[0] == "failed" else None)),
    max_size=8,
)


@given(events=event_lists, sent_minute=st.integers(0, 5), data=st.data())
def test_expected_state_is_a_function_of_the_set_of_events(
    events: list[Event], sent_minute: int, data: st.DataObject
) -> None:
    sent_at = BASE + timedelta(minutes=sent_minute)
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    reordered = data.draw(st.permutations(events + repeats))
    assert expected_state(reordered, sent_at) == expected_state(events, sent_at)


@given(events=event_lists, sent_minute=st.integers(0, 5))
def test_expected_state_follows_the_merge_rules_for_any_events(events: list[Event], sent_minute: int) -> None:
    sent_at = BASE + timedelta(minutes=sent_minute)
    state = expected_state(events, sent_at)
    times = {k: datetime.fromisoformat(v) for k, v in state.whatsapp_status.items()}
    assert set(times) == {"sent"} | {s for s, _, _ in events} | ({"delivered"} if "read" in times else set())
    assert all(times[s] <= ts for s, ts, _ in events) and times["sent"] <= sent_at  # rule 1: the earliest
    present = [times[s] for s in RANKED if s in times]
    assert present == sorted(present)  # rule 2: a later stage implies the earlier ones by its time
    furthest = "failed" if "failed" in times else next(s for s in reversed(RANKED) if s in times)
    assert state.status == furthest.upper()  # rule 3
    failures = [(ts, reason) for s, ts, reason in events if s == "failed"]
    earliest = [reason for ts, reason in failures if ts == min(t for t, _ in failures)]
    assert state.failed_reason == min((r for r in earliest if r is not None), default=None)  # rule 4


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080",
        "http://localhost:8080",
        "https://127.0.0.1:8080",
        "http://127.0.0.1.evil.com",
        "http://user@example.com",
        "http://127.0.0.1:8080/elsewhere",
    ],
)
def test_refuses_every_target_but_loopback(url: str) -> None:
    with pytest.raises(NotLoopback):
        loopback_url(url)


def test_accepts_loopback() -> None:
    assert loopback_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_command_refuses_a_remote_url_before_sending_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulator.main(["--url", "http://192.0.2.1:8080", "--messages", "5"]) == 2
    assert "only targets" in capsys.readouterr().err


def test_config_is_bounded() -> None:
    with pytest.raises(ValueError, match="messages"):
        SimConfig(messages=MAX_MESSAGES + 1)
