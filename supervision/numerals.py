"""Amounts in Chinese capital numerals (大写金额), as written on 核量单, 协议书 and bank forms.

``yuan_in_capitals(Decimal("123456.70"))`` → ``壹拾贰万叁仟肆佰伍拾陆元柒角整``. Rules followed (the
usual practice of Chinese banks' 支付结算办法): digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟 within a group of
four and 万/亿 between groups; one 零 for any run of zeros inside the integer part, none at the end of a
group; a leading 1 in the tens is written 壹拾; 整 after 元 or 角 when there are no 分; 零 between 元 and
分 when 角 is zero; amounts under one yuan start with the 角 or 分.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from supervision.errors import SupervisionError

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
GROUP_UNITS = ("", "万", "亿", "万亿")
MAX_YUAN = Decimal("9999999999999999.99")


class AmountError(SupervisionError, ValueError):
    """An amount cannot be written in capitals (negative, not a number or too large)."""


def _group(n: int) -> str:
    """A group of four digits (1..9999) with its units; zeros inside collapse to one 零, trailing dropped."""
    out: list[str] = []
    digits = f"{n:04d}"
    pending_zero = False
    started = False
    for pos, ch in enumerate(digits):
        d = int(ch)
        unit = SMALL_UNITS[3 - pos]
        if d == 0:
            if started:
                pending_zero = True
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[d] + unit)
        started = True
    return "".join(out)


def _integer(n: int) -> str:
    """The integer part (n ≥ 1) in capitals."""
    groups: list[int] = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out = ""
    need_zero = False
    for idx in range(len(groups) - 1, -1, -1):
        g = groups[idx]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _group(g) + GROUP_UNITS[idx]
        need_zero = False
    return out


def yuan_in_capitals(amount: Decimal | int | str) -> str:
    """``amount`` (yuan, rounded half-up to the fen) in capital numerals, e.g. 壹拾贰万叁仟肆佰伍拾陆元柒角整."""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise AmountError(f"金额无效 / not an amount: {amount!r}") from exc
    if not value.is_finite() or value < 0:
        raise AmountError(f"金额无效 / amount must be zero or positive: {amount!r}")
    if value > MAX_YUAN:
        raise AmountError(f"金额过大 / amount too large: {amount!r}")
    fen_total = int(value * 100)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    if fen_total == 0:
        return "零元整"
    out = ""
    if yuan:
        out = _integer(yuan) + "元"
    if jiao:
        out += DIGITS[jiao] + "角"
    elif yuan and fen:
        out += "零"
    if fen:
        out += DIGITS[fen] + "分"
    else:
        out += "整"
    return out
