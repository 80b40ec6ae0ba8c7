"""`python main.py simulate`: plan, send to a bluetick on 127.0.0.1, then check every row."""

from __future__ import annotations

import argparse
import asyncio
import sys

from simulator.check import settled_check
from simulator.env import Environment, read_environment
from simulator.plan import SimConfig, describe, make_plan
from simulator.send import DEFAULT_MAX_SECONDS, LOOPBACK, RunResult, loopback_url, run

SHOWN_MISMATCHES = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py simulate",
        description="Log replies like the agent and post the status webhooks a BSP sends, to a bluetick on "
        "127.0.0.1; then check every row against the merge rules.",
    )
    parser.add_argument("--url", help="the service, http://127.0.0.1:<port> (default: PORT from the environment)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, help="stop after this long")
    parser.add_argument("--no-check", action="store_true", help="do not compare the database afterwards")
    parser.add_argument("--dsn", help="database to check (default: DATABASE_URL, else the embedded server)")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=10.0,
        help="how long to wait for rows to settle before the check (immediate mode applies later)",
    )
    return parser


def _dsn(given: str | None, env: Environment) -> str | None:
    """The database to check: --dsn, else DATABASE_URL, else none for Supabase, else the embedded server."""
    if given:
        return given
    if env.database_url:
        return env.database_url
    if env.supabase:
        return None
    from bluetick.store import embedded

    return embedded.start(env.data_dir)


def _sent_line(result: RunResult) -> str:
    answers = " ".join(f"{code or 'no_answer'}={n}" for code, n in sorted(result.answers.items()))
    return (
        f"sent in {result.seconds:.1f}s: answers {answers}, retries {result.retries}, "
        f"unacknowledged posts {len(result.failed_posts)}, unlogged messages {len(result.failed_logs)}"
        + (", stopped at --max-seconds" if result.timed_out else "")
    )


def main(argv: list[str] | None = None) -> int:
    """`python main.py simulate ...`: 0 when every post was acknowledged and every row is as expected."""
    args = _parser().parse_args(argv)
    try:
        if args.url:
            loopback_url(args.url)
        config = SimConfig(messages=args.messages, orgs=args.orgs, seed=args.seed)
        env = read_environment()  # a ConfigError is a ValueError naming the variable
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    base = loopback_url(args.url or f"http://{LOOPBACK}:{env.port}")
    the_plan = make_plan(config)
    print(describe(the_plan))
    result = asyncio.run(
        run(the_plan, base, concurrency=args.concurrency, secrets=env.secrets, max_seconds=args.max_seconds)
    )
    print(_sent_line(result))
    if args.no_check:
        return 0 if result.ok else 1
    dsn = _dsn(args.dsn, env)
    if dsn is None:
        print("check skipped: the Supabase backend has no DSN; pass --dsn to check", file=sys.stderr)
        return 0 if result.ok else 1
    mismatches = asyncio.run(settled_check(dsn, the_plan, args.settle_seconds))
    print(
        f"check: {len(the_plan.messages) - len({m.key for m in mismatches})} of {len(the_plan.messages)} "
        f"messages as the merge rules say"
    )
    for mismatch in mismatches[:SHOWN_MISMATCHES]:
        print(f"  mismatch {mismatch}")
    return 0 if result.ok and not mismatches else 1
