"""Masking a customer's phone or BSUID: the last four characters are all that is shown."""

from __future__ import annotations

from bluetick.logs import mask, mask_phone


def test_a_phone_keeps_its_plus_and_last_four_digits() -> None:
    assert mask("+919876543210") == "+********3210"
    assert mask_phone("+919876543210") == "+********3210"


def test_a_bsuid_keeps_its_last_four_characters() -> None:
    assert mask("IN.2081978709342942") == "*" * 15 + "2942"


def test_the_hidden_character_and_the_plus_are_the_callers_choice() -> None:
    assert mask("+919800000001", "•", keep_plus=False) == "•" * 9 + "0001"
    assert mask("+1234", "#") == "+1234"


def test_no_phone_is_logged_as_a_dash() -> None:
    assert mask_phone(None) == mask_phone("") == "-"


def test_phones_in_free_text_are_masked_and_short_numbers_kept():
    from bluetick.logs import mask_phones_in

    text = "Failing row contains (+919800011111, 919811111111, 2026, 1234567)."
    assert mask_phones_in(text) == "Failing row contains (+********1111, ********1111, 2026, 1234567)."
