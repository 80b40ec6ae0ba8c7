"""The bench's results: a recorded run's JSON renders to the table recorded beside it, and the newer tables
render what the sections measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.load import LoadResult, combine
from bench.measure import split
from bench.report import render
from bench.sections.soak import drift

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
RECORDED = sorted(p for p in RESULTS.glob("bench-*.json") if p.with_suffix(".md").exists())


@pytest.mark.parametrize("recorded", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_run_renders_to_its_recorded_table(recorded: Path) -> None:
    assert render(json.loads(recorded.read_text())) == recorded.with_suffix(".md").read_text()


def _header() -> dict[str, Any]:
    return {
        "started": "2026-11-29T00:00:00+00:00",
        "command": "python -m bench --quick",
        "revision": {"commit": "abc1234", "uncommitted": []},
        "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 1, "kernel": "k", "python": "3", "busy_cores_before": 0},
        "postgres": {"version": "PostgreSQL 18.6 on x86_64"},
        "load_generator": {"tool": "wrk", "connections": 64, "nice": 10},
        "options": {"seconds": 3, "repeat": 1, "soak_seconds": 20},
        "failures": [],
    }


def _check(rows_wrong: int = 0) -> dict[str, Any]:
    return {"ok": not rows_wrong, "messages": 100, "posts_issued": 50, "events_issued": 75, "resent_after_run": 1,
            "logged_after_run": 2, "rows_wrong": rows_wrong}  # fmt: skip


def _scale_summary(replicas: int, rate: float) -> dict[str, Any]:
    return {"replicas": replicas, "rate": rate, "events_per_s": rate * 1.5, "vs_one": rate / 1000, "p99_ms": 9.0,
            "non_2xx": 0, "errors": 0, "requests": 10, "batch_size_mean": 20.0, "flush_ms_mean": 5.0,
            "checks_ok": True,
            "cpu_cores": {"server": 0.5, "postgres": 0.25, "loadgen": 0.125, "other": 0.0}}  # fmt: skip


def _peer_row(rate: float, rows_wrong: int) -> dict[str, Any]:
    return {"rate": rate, "events_acked_per_s": rate * 1.5, "applied_per_s_load": 90.0, "applied_per_s_total": rate,
            "pending_at_end": 12048, "drain_s": 6.5, "apply_ms": {"p50": 1.0, "p99": 2.0, "max": 3.0},
            "peak_rss_mb": 300.0, "cpu_cores": {"server": 1.0, "postgres": 0.0, "loadgen": 0.25},
            "rows_wrong": rows_wrong, "errors": 0}  # fmt: skip


def _soak(within: bool) -> dict[str, Any]:
    held = {"first": 50.0, "end": 51.0, "max": 52.0, "end_vs_first_pct": 2.0, "within": True}
    queue = {"first": 600, "end": 1200, "max": 1400, "end_vs_first_pct": 100.0, "within": within}
    return {"rate": 2000.0, "warmup_s": 2.0, "samples": 18, "rss_idle_mb": 44.0, "rss": held, "queue": queue,
            "run": {"check": _check()}}  # fmt: skip


def _peers() -> dict[str, Any]:
    return {
        **_header(),
        "scale": {
            "summary": {
                "bluetick durable, 1 replica": _scale_summary(1, 1000.0),
                "bluetick durable, 4 replicas": _scale_summary(4, 2000.0),
            },
            "runs": {"bluetick durable, 4 replicas": [{"check": _check()}]},
        },
        "seed": {
            "bluetick": _peer_row(1000.0, 0),
            "seed": _peer_row(2500.0, 1880),
            "runs": {"bluetick durable": {"check": _check()}, "seed peer": {"check": _check(1880)}},
        },
        "soak": {"bluetick durable": _soak(True), "bluetick immediate": _soak(False)},
    }


def test_scale_table_gives_each_replica_count_its_ratio_to_one_replica() -> None:
    table = render(_peers())
    assert "| bluetick durable, 4 replicas | 2,000 | 3,000 | 2.00 | 9.00 | 0 | 0.50 / 0.25 / 0.12 / 0.00 |" in table


def test_seed_table_puts_the_peer_beside_bluetick_durable_with_its_rows_wrong() -> None:
    table = render(_peers())
    assert "| bluetick durable (200 after the commit) | 1,000 |" in table
    assert "| 12,048 | 6.5 | 1.0 / 2.0 / 3.0 | 300.0 | 1.00 / 0.00 / 0.25 | 1,880 |" in table
    assert "webhooks/s 2.50, events applied/s over load and drain 2.50" in table
    assert "1,880 of 100 messages" in table


def test_soak_table_says_whether_rss_and_queue_depth_held_after_warm_up() -> None:
    table = render(_peers())
    row = "| bluetick durable | 2,000 | 2.0 | 18 | 44.0 | 50.0, 51.0, 52.0 | 2.0% | yes | 600, 1,200, 1,400 | yes |"
    assert row in table
    assert "| bluetick immediate |" in table and "1,400 | **no** |" in table


def test_scale_seed_and_soak_runs_join_the_correctness_table_but_the_seed_peer_does_not() -> None:
    table = render(_peers())
    for label in ("bluetick durable, 4 replicas, run 1", "bluetick durable, beside the seed peer",
                  "bluetick immediate, soak run"):  # fmt: skip
        assert f"| {label} | 100 | 50 | 75 | 1 | 2 | 0 |" in table
    assert "| seed peer, " not in table


def test_combined_runs_keep_each_lane_and_its_unacknowledged_requests() -> None:
    def run(lanes: int, unacked: list[tuple[int, int]], p99: float) -> LoadResult:
        lat = {"p50": 1.0, "p90": 2.0, "p99": p99, "p999": 4.0, "max": 5.0, "mean": 1.0}
        return LoadResult("wrk", 3.0, 10, lat, 0, 1, [5] * lanes, unacked, 0.0, {})

    merged = combine([run(2, [(1, 4)], 3.0), run(2, [(0, 4)], 7.0)], loadgen_cpu_s=0.5)
    lanes = [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert merged.issued == [5, 5, 5, 5]
    assert merged.unacked_posts(lanes) == {lanes[1][0], lanes[2][0]}
    assert merged.latency_ms["p99"] == 7.0 and merged.requests == 20 and merged.non_2xx == 2


def test_drift_judges_window_medians_so_one_burst_is_not_growth() -> None:
    assert drift([100, 100, 500, 100, 100, 100])["within"]  # two windows of three
    assert not drift([100, 100, 100, 150, 150, 150])["within"]
    assert drift([100.0] * 40)["end_vs_first_pct"] == 0.0
    assert drift([90, 90, 90, 150, 150, 150], slack=64)["within"]  # the queue: within one event per connection
    assert split(10, 4) == [range(0, 2), range(2, 5), range(5, 7), range(7, 10)]


def test_wait_shares_leave_out_the_sample_count_and_add_up_over_repeats() -> None:
    from bench import waits
    from bench.report import _waits

    run = {"samples": 10, "CPU": 6, "IO:WalSync": 3, "Lock:advisory": 1}
    assert waits.shares(run) == [("CPU", 0.6), ("IO:WalSync", 0.3), ("Lock:advisory", 0.1)]
    assert waits.busy_backends(run) == 1.0
    results = {"ingest": {"runs": {"bare aiohttp": [{}], "bluetick durable": [{"pg_waits": run}, {"pg_waits": run}]}}}
    assert _waits(results)[-1] == "| bluetick durable | 1.00 | CPU 60%, IO:WalSync 30%, Lock:advisory 10% |"


def test_report_table_judges_each_table_by_its_slower_page_fresh_or_after_a_change() -> None:
    table = {
        "orgs": 1, "org_rows": 1_000_000, "runs": 3, "build_s": 14.4, "build_hours": 744, "median_ms": 130.0,
        "max_ms": 180.0, "fetch_median_ms": 120.0, "render_median_ms": 10.0, "changed_median_ms": 1200.0,
        "changed_max_ms": 1300.0, "changed_hours": 2, "page_bytes": 2048,
    }  # fmt: skip
    results = {**_header(), "report": {"rows": 1_000_000, "days": 30, "tz": "UTC", "tables": {
        "one organisation": table, "100 organisations": {**table, "org_rows": 10_000, "changed_median_ms": 300.0},
    }}}  # fmt: skip
    rendered = render(results)
    assert (
        "| one organisation | 1,000,000 | 14.4 (744) | 130.0 | 180.0 | 120.0 | 10.0 | 1,200.0 | 1,300.0 | 2 | 2.0 "
        "| **missed** |" in rendered
    )
    assert (
        "| 100 organisations | 10,000 | 14.4 (744) | 130.0 | 180.0 | 120.0 | 10.0 | 300.0 | 1,300.0 | 2 | 2.0 | met |"
        in rendered
    )
