"""Amounts in capital numerals (大写) as they appear on 核量单 and 协议书."""

from __future__ import annotations

from decimal import Decimal

import pytest

from supervision.numerals import AmountError, yuan_in_capitals

CASES = [
    ("123456.70", "壹拾贰万叁仟肆佰伍拾陆元柒角整"),
    ("123456.78", "壹拾贰万叁仟肆佰伍拾陆元柒角捌分"),
    ("100", "壹佰元整"),
    ("1005", "壹仟零伍元整"),
    ("1050", "壹仟零伍拾元整"),
    ("10.50", "壹拾元伍角整"),
    ("0.05", "伍分"),
    ("0.50", "伍角整"),
    ("1.05", "壹元零伍分"),
    ("100000", "壹拾万元整"),
    ("100010", "壹拾万零壹拾元整"),
    ("10500", "壹万零伍佰元整"),
    ("1010000", "壹佰零壹万元整"),
    ("100000000", "壹亿元整"),
    ("100000001", "壹亿零壹元整"),
    ("10000000", "壹仟万元整"),
    ("0", "零元整"),
    ("3008000.09", "叁佰万捌仟元零玖分"),
]


@pytest.mark.parametrize(("amount", "expected"), CASES)
def test_capitals(amount: str, expected: str) -> None:
    assert yuan_in_capitals(Decimal(amount)) == expected


def test_rounds_half_up_to_the_fen() -> None:
    assert yuan_in_capitals("12.345") == yuan_in_capitals("12.35") == "壹拾贰元叁角伍分"


@pytest.mark.parametrize("bad", ["-1", "abc", "NaN", "1e20"])
def test_refuses_what_cannot_be_written(bad: str) -> None:
    with pytest.raises(AmountError):
        yuan_in_capitals(bad)
