"""Money as integer micro-USD: parsing typed amounts and printing them, never via float.

Operators type amounts as decimal strings (``0.10``, ``-5``, ``$12.5``); anything
with more than six decimals, exponents or other junk is refused rather than rounded,
so a typo can never silently become a different price.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["MICROS", "format_usd", "parse_ppm", "parse_usd", "round_micros", "usd_str"]

MICROS = 1_000_000
_AMOUNT = re.compile(r"^([+-]?)\$?(\d{0,15})(?:\.(\d{0,6}))?$")


def parse_usd(text: str) -> int:
    """``"0.10"`` → 100000. Raises ValueError for anything that is not a plain decimal."""
    m = _AMOUNT.match(text.strip().replace("_", ""))
    if m is None or not (m.group(2) or m.group(3)):
        raise ValueError(f"not a USD amount with at most 6 decimals: {text!r}")
    sign, whole, frac = m.group(1), m.group(2) or "0", m.group(3) or ""
    micros = int(whole) * MICROS + int((frac + "000000")[:6])
    return -micros if sign == "-" else micros


def parse_ppm(text: str) -> int:
    """A multiplier such as ``"1.5"`` in parts per million (1500000); same rules."""
    return parse_usd(text)


def usd_str(micros: int) -> str:
    """Exact decimal string, trimmed to at least two decimals: 800000 → ``"0.80"``."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS)
    digits = f"{frac:06d}".rstrip("0")
    return f"{sign}{whole}.{digits.ljust(2, '0')}"


def format_usd(micros: int) -> str:
    """For people: ``$0.80``, ``-$1.234567``."""
    text = usd_str(micros)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def round_micros(value: Fraction) -> int:
    """Half-up rounding to a whole micro-USD: the one rounding step of a price."""
    if value >= 0:
        return math.floor(value + Fraction(1, 2))
    return -math.floor(-value + Fraction(1, 2))
