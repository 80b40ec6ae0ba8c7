"""The report's input checks and drawing helpers, without a database."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from bluetick.report import BadInput, window_of
from bluetick.report.page import mask
from bluetick.report.svg import Series, bars, hbars, heatmap, lines

ORG = uuid.UUID(int=7)


def test_window_is_the_given_utc_days_up_to_today():
    window = window_of(str(ORG), "3", None, today=date(2024, 10, 5))
    assert (window.org, window.first, window.last, window.days, window.tz) == (
        ORG,
        date(2024, 10, 3),
        date(2024, 10, 5),
        3,
        "UTC",
    )
    assert (window.since.isoformat(), window.until.isoformat()) == (
        "2024-10-03T00:00:00+00:00",
        "2024-10-06T00:00:00+00:00",
    )


def test_window_defaults_to_30_days_and_accepts_the_bounds():
    assert window_of(ORG, None, "", today=date(2024, 10, 30)).first == date(2024, 10, 1)
    assert window_of(ORG, 1, "Asia/Kolkata").days == 1
    assert window_of(ORG, "366", "America/Sao_Paulo").days == 366


@pytest.mark.parametrize(
    ("org", "days", "tz", "reason"),
    [
        ("acme", None, None, "org must be an organisation id"),
        (ORG, "0", None, "days must be from 1 to 366"),
        (ORG, 367, None, "days must be from 1 to 366"),
        (ORG, "-5", None, "days must be from 1 to 366"),
        (ORG, "7.5", None, "days must be a whole number"),
        (ORG, None, "Mars/Olympus_Mons", "tz must be a time zone name"),
        (ORG, None, "../../etc/passwd", "tz must be a time zone name"),
    ],
)
def test_window_refuses_bad_input_naming_it(org: object, days: object, tz: str | None, reason: str):
    with pytest.raises(BadInput, match=reason):
        window_of(org, days, tz)  # type: ignore[arg-type]


def test_charts_escape_every_text():
    evil = "<script>x</script>"
    drawn = [
        bars([evil], [Series(evil, [1.0], "#000")]),
        lines([evil], [Series(evil, [1.0], "#000")]),
        hbars([evil], [1.0], "#000", [evil]),
        heatmap([evil], [evil], [[50.0]], [[evil]]),
    ]
    for svg in drawn:
        assert "<script" not in svg and "&lt;script&gt;" in svg


def test_charts_draw_nothing_for_missing_values_and_survive_all_zeros():
    drawn = bars(["a", "b"], [Series("s", [None, 0.0], "#000")])
    assert drawn.count("<rect") == 1 + 1  # the legend's swatch and b's empty bar
    assert "<polyline" not in lines(["a", "b", "c"], [Series("s", [1.0, None, 2.0], "#000")])


def test_customers_are_masked_but_their_last_four():
    assert mask("+919800000001") == "•" * 9 + "0001"
    assert mask("IN.2081978709342942") == "•" * 15 + "2942"
    assert mask(None) == ""


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "right/UTC", "posix/Asia/Kolkata"])
def test_zone_files_that_are_not_iana_names_are_refused(tz: str):
    """zoneinfo opens them, but Postgres does not know them (the report would fail in the database)."""
    with pytest.raises(BadInput, match="tz must be a time zone name"):
        window_of(uuid.uuid4(), 7, tz)
