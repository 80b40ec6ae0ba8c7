"""The command line: `bluetick` is the installed package's; `python main.py` adds the checkout's simulator."""

from __future__ import annotations

import pytest

import main
from bluetick import cli


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
