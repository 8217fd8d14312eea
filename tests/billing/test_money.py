"""Typed amounts become integer micro-USD exactly, or are refused."""

from __future__ import annotations

from fractions import Fraction

import pytest

from reelgate.billing.money import format_usd, parse_usd, round_micros, usd_str


@pytest.mark.parametrize(("text", "micros"), [
    ("0.10", 100_000), ("0.1", 100_000), ("1", 1_000_000), ("$12.5", 12_500_000),
    ("-5", -5_000_000), ("0.000001", 1), (".5", 500_000), ("1_000", 1_000_000_000),
    ("  7.25 ", 7_250_000), ("+3", 3_000_000),
])
def test_parse(text: str, micros: int) -> None:
    assert parse_usd(text) == micros


@pytest.mark.parametrize("text", ["", "abc", "1.0000001", "1e3", "0x10", "1.2.3", "-",
                                  "NaN", "inf", "1,5", "--1"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_usd(text)


def test_format() -> None:
    assert usd_str(800_000) == "0.80"
    assert usd_str(8_400_000) == "8.40"
    assert usd_str(1_234_567) == "1.234567"
    assert usd_str(-50) == "-0.00005"
    assert format_usd(-1_500_000) == "-$1.50" and format_usd(0) == "$0.00"


def test_round_half_up_both_signs() -> None:
    assert round_micros(Fraction(5, 2)) == 3 and round_micros(Fraction(-5, 2)) == -3
    assert round_micros(Fraction(7, 3)) == 2 and round_micros(Fraction(-7, 3)) == -2
