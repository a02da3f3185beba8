"""Resident ID numbers (GB 11643-1999) and names: validation, near-miss candidates, normalisation.

python-stdnum's ``stdnum.cn.ric`` computes the check character; its ``validate()`` is not used as a
gate because it rejects many real numbers of older people (it demands that the county code
existed in the birth year).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from stdnum.cn import ric

MIDDLE_DOTS = "・•‧∙･·"
_DOTS = str.maketrans({c: "·" for c in MIDDLE_DOTS})
_SPACE = re.compile(r"\s+")

#: The rules every GB 11643 check follows (here, in ``id_problems`` and in the SQL ``expro_id_problem``;
#: ``tests/data/gb11643_vectors.csv`` holds them to it). The value is checked as stored, nothing stripped
#: or normalised: the checks compare it with the registry, so a full-width or padded number is refused.
#: Problems in order: ``length`` (empty, or not 18 characters: 15-digit pre-1999 numbers included) after
#: ``characters`` (any character outside 0-9Xx, or X/x before the last place), ``birth_date`` (not a real
#: date from EARLIEST_BIRTH to the reference date, by default today in China), ``check_char`` (ISO 7064
#: MOD 11-2). The county code is not checked (DOMAIN.md §10).
EARLIEST_BIRTH = dt.date(1900, 1, 1)
CHINA = ZoneInfo("Asia/Shanghai")
_ID_CHARS = re.compile(r"[0-9Xx]*")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")
_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int32)
_CHECK_BYTES = np.frombuffer(b"10X98765432", dtype=np.uint8)


def china_today() -> dt.date:
    """Today's date in China, the reference date of the birth-date rule."""
    return dt.datetime.now(CHINA).date()


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")   # stdnum expects the number with a (placeholder) check char


def id_problem(id_number: str, *, today: dt.date | None = None) -> str | None:
    """Why ``id_number`` fails GB 11643 (``length``, ``characters``, ``birth_date``, ``check_char``) or None."""
    if not id_number:
        return "length"
    if not _ID_CHARS.fullmatch(id_number):
        return "characters"
    if len(id_number) != 18:
        return "length"
    if not _ID_SHAPE.fullmatch(id_number):
        return "characters"
    try:
        born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "birth_date"
    if not EARLIEST_BIRTH <= born <= (today or china_today()):
        return "birth_date"
    if check_char(id_number[:17]) != id_number[17].upper():
        return "check_char"
    return None


def id_problems(ids: pd.Series, today: pd.Timestamp | dt.date | None = None) -> pd.Series:
    """``id_problem`` of every ID at once (NumPy on the 18-character ASCII ones; missing values: ``length``)."""
    on = np.datetime64(pd.Timestamp(today).date() if today is not None else china_today(), "D")
    s = ids.astype(object).fillna("")
    n = s.str.len().fillna(0).to_numpy(dtype=np.int64)           # not a string: 0, so ``length``
    fixed = (n == 18) & s.str.isascii().fillna(False).to_numpy(dtype=bool)
    b = np.zeros((len(s), 18), dtype=np.uint8)           # the characters of the 18-character ASCII IDs as bytes
    if fixed.any():
        b[fixed] = np.frombuffer(s[fixed].to_numpy(dtype="S18").tobytes(), dtype=np.uint8).reshape(-1, 18)
    digit = (b >= 48) & (b <= 57)
    b17 = np.where(b[:, 17] == ord("x"), ord("X"), b[:, 17])
    bad_chars = np.zeros(len(s), dtype=bool)
    bad_chars[fixed] = ~(digit[fixed, :17].all(axis=1) & (digit[fixed, 17] | (b17[fixed] == ord("X"))))
    others = ~fixed & (n > 0)                            # other lengths or non-ASCII: few, matched one by one
    if others.any():
        bad_chars[others] = ~s[others].str.fullmatch(_ID_CHARS.pattern).to_numpy(dtype=bool)
    well = fixed & ~bad_chars
    d = b.astype(np.int32) - 48
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    valid_month = (month >= 1) & (month <= 12)
    first = ((year - 1970) * 12 + np.where(valid_month, month - 1, 0)).astype("datetime64[M]")
    days_in_month = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)
    born = first.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    good_date = valid_month & (day >= 1) & (day <= days_in_month)
    bad_birth = well & ~(good_date & (born >= np.datetime64(EARLIEST_BIRTH, "D")) & (born <= on))
    expected = _CHECK_BYTES[(d[:, :17] @ _WEIGHTS) % 11]
    bad_check = well & ~bad_birth & (expected != b17)
    out = np.full(len(s), None, dtype=object)
    out[bad_check] = "check_char"                         # the first problem wins: assigned last
    out[bad_birth] = "birth_date"
    out[n != 18] = "length"
    out[bad_chars] = "characters"
    out[n == 0] = "length"
    return pd.Series(out, index=ids.index, dtype=object)


def near_candidates(id_number: str) -> list[str]:
    """Probable intended IDs: the 17-digit body with one digit changed or two adjacent digits swapped
    (or unchanged), completed with its own check character; only those with a valid birth date."""
    value = id_number.strip().upper()
    if not re.match(r"^[0-9]{17}[0-9X]?$", value):
        return []
    body = value[:17]
    variants = {body}
    for i in range(17):
        variants.update(body[:i] + d + body[i + 1:] for d in "0123456789")
    for i in range(16):
        variants.add(body[:i] + body[i + 1] + body[i] + body[i + 2:])
    out = {v + check_char(v) for v in variants}
    out.discard(value)
    return sorted(c for c in out if id_problem(c) is None)


def normalise_name(name: str) -> str:
    """A name for comparison: NFKC (full-width forms), no whitespace, one kind of middle dot."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", name)).translate(_DOTS)


def pinyin_keys(name: str) -> set[str]:
    """Every pinyin reading of a name; heteronyms cover surnames read specially (单 shàn, 曾 zēng)."""
    from pypinyin import Style, lazy_pinyin, pinyin

    norm = normalise_name(name)
    if not norm:
        return {""}
    readings = pinyin(norm, style=Style.NORMAL, heteronym=True, errors="default")
    keys = {""}
    for options in readings:
        keys = {k + " " + o if k else o for k in keys for o in options[:4]}
        if len(keys) > 64:
            break
    keys.add(" ".join(lazy_pinyin(norm, style=Style.NORMAL)))
    return keys


def compare_names(given: str, registry: str) -> dict:
    """Evidence comparing two names: equal after normalisation, same pinyin, character distance."""
    from rapidfuzz.distance import Levenshtein

    a, b = normalise_name(given), normalise_name(registry)
    return {"given": given, "registry": registry, "normalised_equal": a == b,
            "same_pinyin": bool(pinyin_keys(a) & pinyin_keys(b)),
            "char_distance": Levenshtein.distance(a, b),
            "similarity": round(Levenshtein.normalized_similarity(a, b), 3)}
