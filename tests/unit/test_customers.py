"""A customer named by a request: any form of a phone is one E.164 number, a BSUID is taken exactly."""

from __future__ import annotations

import pytest

from bluetick.customers import Customer, parse_customer
from bluetick.payloads.common import ItemError


@pytest.mark.parametrize(
    "raw", ["+919876543210", "919876543210", "+91 98765-43210", "(91) 98765.43210", " 91 9876543210 "]
)
def test_every_form_of_a_phone_is_the_same_e164_number(raw: str):
    assert parse_customer(raw) == Customer(phone="+919876543210")


@pytest.mark.parametrize("raw", ["IN.2081978709342942", "US.ENT.11815799212886844830"])
def test_a_bsuid_is_taken_exactly(raw: str):
    assert parse_customer(raw) == Customer(user_id=raw)


@pytest.mark.parametrize("raw", ["", "hello", "in.2081978709342942", "+12", "IN-2081978709342942", "12345678901234567"])
def test_what_is_neither_a_phone_nor_a_bsuid_is_refused_naming_both(raw: str):
    with pytest.raises(ItemError, match=r"phone number .* or a WhatsApp user id"):
        parse_customer(raw)


def test_a_customer_in_a_log_line_shows_only_the_last_four_characters():
    assert parse_customer("+919876543210").masked == "+********3210"
    assert parse_customer("IN.2081978709342942").masked == "***************2942"
