"""`python -m bench`: bluetick's ingest, apply, analytics, memory, profile, replicas, the seed, a soak, retention and
events out, in one run.

Prints a markdown table and writes bench/results/bench-<time>.json and .md. Every server runs as a
subprocess on 127.0.0.1 against a Postgres the bench starts under a temporary directory; every load run is
bounded in time (and so in requests) and stops by itself. Exits 1 when any row differs from what the merge
rules say for the events sent.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT, load

CONNECTIONS = 64
MAX_RUN_SECONDS = 120  # longest load run the options allow
MAX_SOAK_SECONDS = 1800  # but for the soak section's one run per mode
# in the order they run
SECTIONS = (
    "ingest", "apply", "analytics", "report", "memory", "profile", "scale", "seed", "soak", "retention", "events",
    "campaigns", "baseline",
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    quick: bool
    repeat: int
    seconds: int
    memory_seconds: int
    memory_step: float
    profile_seconds: int
    soak_seconds: int
    rows: int
    apply_events: int
    analytics_runs: int
    connections: int
    sections: tuple[str, ...]
    loadgen: str
    out: Path
    baseline: str | None = None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run with small counts")
    parser.add_argument("--repeat", type=int, help="runs per ingest and apply measurement (median); full 3, quick 1")
    parser.add_argument("--seconds", type=int, help="length of each ingest run; full 10, quick 3")
    parser.add_argument("--memory-seconds", type=int, help="sustained load for the memory check; full 20, quick 6")
    parser.add_argument("--profile-seconds", type=int, help="py-spy sampling per mode; full 10, quick 3")
    parser.add_argument("--soak-seconds", type=int, help="sustained load per mode in the soak; full 600, quick 20")
    parser.add_argument(
        "--rows", type=int, help="rows of the analytics, report and retention tables; full 1000000, quick 100000"
    )
    parser.add_argument("--apply-events", type=int, help="events per apply measurement; full 20000, quick 3000")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help=f"default {CONNECTIONS}")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {','.join(SECTIONS)}")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when installed, else the Python generator",
    )
    parser.add_argument(
        "--baseline", help="a git revision whose durable ingest the baseline section measures beside this tree's"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser


def parse(argv: Sequence[str]) -> Options:
    """The options of `argv`, each unset count at its full or quick default; exits on a bad option."""
    parser = _parser()
    args = parser.parse_args(argv)
    quick = bool(args.quick)

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    opts = Options(
        quick=quick,
        repeat=pick(args.repeat, 3, 1),
        seconds=pick(args.seconds, 10, 3),
        memory_seconds=pick(args.memory_seconds, 20, 6),
        memory_step=1.0 if quick else 2.0,
        profile_seconds=pick(args.profile_seconds, 10, 3),
        soak_seconds=pick(args.soak_seconds, 600, 20),
        rows=pick(args.rows, 1_000_000, 100_000),
        apply_events=pick(args.apply_events, 20_000, 3_000),
        analytics_runs=7 if quick else 15,
        connections=args.connections,
        sections=sections,
        loadgen=args.loadgen,
        out=args.out,
        baseline=args.baseline,
    )
    for name in ("seconds", "memory_seconds", "profile_seconds"):
        if not 1 <= getattr(opts, name) <= MAX_RUN_SECONDS:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and {MAX_RUN_SECONDS}")
    if not 1 <= opts.soak_seconds <= MAX_SOAK_SECONDS:
        parser.error(f"--soak-seconds must be between 1 and {MAX_SOAK_SECONDS}")
    if not 1 <= opts.connections <= 512 or not 1 <= opts.repeat <= 20:
        parser.error("--connections must be 1..512 and --repeat 1..20")
    if opts.loadgen == "wrk" and load.wrk_version() is None:
        parser.error("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    return opts
