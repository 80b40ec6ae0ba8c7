"""The command line: `bluetick` is the installed package's; `python main.py` adds the checkout's simulator."""

from __future__ import annotations

import uuid

import pytest

import main
from bluetick import cli
from bluetick.auth import org_url_token


def test_the_installed_cli_neither_offers_nor_needs_the_simulator(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as raised:
        cli.main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bluetick ") and "migrate" in out and "simulate" not in out


def test_main_py_offers_every_command_plus_the_simulator(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python main.py ") and "migrate" in out and "simulate" in out


def test_url_token_prints_the_organisations_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    org = uuid.uuid4()
    monkeypatch.setenv("DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("WEBHOOK_URL_TOKEN", "master")
    assert cli.main(["url-token", str(org)]) == 0
    assert capsys.readouterr().out.strip() == org_url_token("master", org)


def test_a_command_that_fails_says_so_on_stderr_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", "postgresql://x/y")
    monkeypatch.delenv("WEBHOOK_URL_TOKEN", raising=False)
    assert cli.main(["url-token", str(uuid.uuid4())]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "bluetick: url-token: WEBHOOK_URL_TOKEN is not set" and captured.out == ""


def test_every_command_is_registered_with_the_function_that_runs_it():
    commands = cli.parser("bluetick", {})
    for argv, run in (
        ([], cli.serve),
        (["serve"], cli.serve),
        (["migrate"], cli.migrate),
        (["sql"], cli.sql),
        (["url-token", str(uuid.uuid4())], cli.url_token),
        (["supabase-layout"], cli.supabase_layout),
        (["stats", "--org", str(uuid.uuid4())], cli.stats),
        (["inbox"], cli.inbox),
        (["forget", "--org", str(uuid.uuid4()), "--customer", "+919876543210"], cli.customer_data),
        (["export", "--org", str(uuid.uuid4()), "--customer", "+919876543210"], cli.customer_data),
        (["report", "--org", "x"], cli.report),
    ):
        assert commands.parse_args(argv).run is run, argv
