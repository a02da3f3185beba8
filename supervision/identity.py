"""Resident ID numbers (GB 11643-1999) and names: validation, near-miss candidates, normalisation.

python-stdnum's ``stdnum.cn.ric`` computes the check character; its ``validate()`` is not used as a
gate because it rejects many real numbers of older people (it demands that the county code
existed in the birth year).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from stdnum.cn import ric

MIDDLE_DOTS = "・•‧∙･·"
_DOTS = str.maketrans({c: "·" for c in MIDDLE_DOTS})
_SPACE = re.compile(r"\s+")
_DIGITS17 = re.compile(r"^[0-9]{17}[0-9Xx]$")
_DIGITS15 = re.compile(r"^[0-9]{15}$")


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return ric.calc_check_digit(first17 + "0")   # stdnum expects the number with a (placeholder) check char


def id_problem(id_number: str, *, today: dt.date | None = None) -> str | None:
    """Why ``id_number`` fails GB 11643 (``length``, ``characters``, ``birth_date``, ``check_char``) or None."""
    value = id_number.strip()
    if len(value) not in (15, 18):
        return "length"
    if not (_DIGITS17.match(value) if len(value) == 18 else _DIGITS15.match(value)):
        return "characters"
    birth = value[6:14] if len(value) == 18 else "19" + value[6:12]
    try:
        born = dt.datetime.strptime(birth, "%Y%m%d").date()
    except ValueError:
        return "birth_date"
    if born < dt.date(1880, 1, 1) or born > (today or dt.date.today()):
        return "birth_date"
    if len(value) == 18 and check_char(value[:17]) != value[17].upper():
        return "check_char"
    return None


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
