"""Write ``gb11643_vectors.csv``: the GB 11643 test vectors every ID check must agree on.

Run ``python tests/data/make_gb11643_vectors.py`` after changing a vector; a test checks that the
committed CSV is what this script writes. Check characters are computed here with ISO 7064 MOD 11-2
(the recursive form of the standard, independent of the weighted sums the product uses), never typed.

The policy the vectors pin down (the same in ``supervision.identity``, its vectorised twin and the
SQL function ``expro_id_problem``):

- the value is checked as stored: nothing is stripped or normalised. Full-width digits (NFKC would
  fold them), spaces and separators are ``characters``: the checks compare the stored value with the
  registry, so a value that only passes after normalising would never be found there;
- an empty value, and any length other than 18 (15-digit pre-1999 numbers included, DATA_FORMATS §4),
  is ``length``; a character outside ``0-9Xx`` anywhere is reported first, as ``characters``;
- ``X`` and ``x`` are the check character 10, and only in the last place;
- the birth date must be a real date from 1900-01-01 to the reference date (the day of the check in
  China, Asia/Shanghai), else ``birth_date``;
- the county code is not checked: numbers of people born before their county's current code existed
  are valid (python-stdnum's ``validate()`` rejects them; DOMAIN.md §10);
- then the check character, ``check_char``.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

CSV = Path(__file__).with_name("gb11643_vectors.csv")
COLUMNS = ("id_number", "problem", "reference_date", "stdnum_valid", "why")
REFERENCE = dt.date(2026, 6, 15)
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def mod11_2(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of 17 digits (recursive form: p = 2 (p + d) mod 11)."""
    p = 0
    for c in body17:
        p = (p + int(c)) * 2 % 11
    return "0123456789X"[(12 - p) % 11]


def number(county: str, birth: str, seq: int) -> str:
    """A well-formed number: county, birth date (yyyymmdd), sequence, computed check character."""
    body = f"{county}{birth}{seq:03d}"
    return body + mod11_2(body)


def with_check(county: str, birth: str, want: str) -> str:
    """The first well-formed number of that county and birth date whose check character is ``want``."""
    return next(n for n in (number(county, birth, s) for s in range(1, 1000)) if n[-1] == want)


def wrong_check(value: str) -> str:
    """``value`` with a check character that differs from the computed one."""
    return value[:17] + ("1" if value[17] != "1" else "2")


def vectors() -> list[tuple[str, str, str]]:
    """(id_number, expected problem or "" for valid, why) in a stable order."""
    ok = number("110101", "19550101", 1)
    ending_x = with_check("210112", "19560101", "X")
    rows = [
        # valid, county codes that changed or no longer exist (stdnum's validate() rejects some)
        (ok, "", "valid; 东城区 110101 has had its code since before 1955"),
        (number("210102", "19550312", 3), "", "valid; 沈阳和平区 210102 code assigned 1983, born 1955 (stdnum rejects)"),
        (number("210112", "19561120", 5), "", "valid; 210112 东陵区 (1983-2013) renamed 浑南区 2014, born 1956 (stdnum rejects)"),
        (number("210181", "19520601", 12), "", "valid; 新民县 became 新民市 210181 in 1993, born 1952 (stdnum rejects)"),
        (number("110112", "19570808", 21), "", "valid; 通州区 110112 since 1997 (was 通县), born 1957 (stdnum rejects)"),
        (number("210121", "19530101", 7), "", "valid; 新民县 210121 abolished 1993, the number stays valid"),
        (number("110103", "19560720", 13), "", "valid; 崇文区 110103 merged away 2010, the number stays valid"),
        (number("999999", "19580101", 1), "", "valid; county code unknown to any table: not checked"),
        # X and x
        (ending_x, "", "valid; check character X"),
        (ending_x[:17] + "x", "", "valid; lowercase x is the check character X"),
        (ending_x[:17] + "0", "check_char", "wrong check character (X expected, 0 given)"),
        (with_check("110101", "19550101", "0")[:17] + "X", "check_char", "X given where 0 is computed"),
        (wrong_check(ok), "check_char", "wrong check character"),
        (wrong_check(number("210102", "19550312", 3)), "check_char", "wrong check character, changed county code"),
        (ok[:5] + str((int(ok[5]) + 1) % 10) + ok[6:], "check_char", "one digit of the county typed wrong"),
        (ok[:15] + ok[16] + ok[15] + ok[17], "check_char", "two digits of the sequence swapped")
        if ok[15] != ok[16] else (ok[:14] + ok[15] + ok[14] + ok[16:], "check_char", "two digits swapped"),
        # impossible dates
        (number("110101", "19550230", 1), "birth_date", "February 30"),
        (number("110101", "19551301", 1), "birth_date", "month 13"),
        (number("110101", "19550001", 1), "birth_date", "month 00"),
        (number("110101", "19550100", 1), "birth_date", "day 00"),
        (number("110101", "19550132", 1), "birth_date", "January 32"),
        (number("110101", "19550431", 1), "birth_date", "April 31"),
        (number("110101", "19550229", 1), "birth_date", "February 29 of 1955, not a leap year"),
        (number("110101", "19560229", 1), "", "valid; February 29 of 1956, a leap year"),
        (number("110101", "19000229", 1), "birth_date", "February 29 of 1900, not a leap year (century)"),
        (number("110101", "20000229", 1), "", "valid; February 29 of 2000, a leap year (400)"),
        (number("110101", "19000101", 1), "", "valid; 1900-01-01, the earliest birth date accepted"),
        (number("110101", "18991231", 1), "birth_date", "born before 1900: implausible for a living claimant"),
        (number("110101", "18800101", 1), "birth_date", "born 1880"),
        (number("110101", "00000101", 1), "birth_date", "year 0000"),
        # the reference date
        (number("110101", REFERENCE.strftime("%Y%m%d"), 1), "", "valid; born on the reference date"),
        (number("110101", (REFERENCE + dt.timedelta(days=1)).strftime("%Y%m%d"), 1), "birth_date",
         "born the day after the reference date"),
        (number("110101", "20300101", 1), "birth_date", "birth date in the future"),
        (number("110101", "99991231", 1), "birth_date", "year 9999"),
        # length
        ("", "length", "empty"),
        ("110101550101001", "length", "15-digit pre-1999 number: not accepted (DATA_FORMATS §4 length)"),
        ("110101550101002", "length", "15-digit pre-1999 number, female"),
        (ok[:17], "length", "17 characters, check character missing"),
        (ok + "0", "length", "19 characters"),
        ("X", "length", "only a check character"),
        # characters
        (ok.translate(FULL_WIDTH), "characters", "full-width digits: refused, not NFKC-normalised"),
        (ending_x[:17] + "Ｘ", "characters", "full-width X"),
        (" " + ok, "characters", "leading space"),
        (ok + " ", "characters", "trailing space"),
        (ok[:6] + " " + ok[6:14] + " " + ok[14:], "characters", "spaces between the parts"),
        (ok[:6] + " " + ok[7:], "characters", "space in place of a digit (18 characters)"),
        (ok + "\u3000", "characters", "trailing ideographic space"),
        ("\t" + ok, "characters", "leading tab"),
        (ok + "\n", "characters", "trailing newline"),
        (ok[:6] + "-" + ok[6:14] + "-" + ok[14:], "characters", "hyphens between the parts"),
        (ok[:10] + "X" + ok[11:], "characters", "X inside the number"),
        (ok[:3] + "A" + ok[4:], "characters", "a letter inside the number"),
        (ok[:17] + "Y", "characters", "a letter other than X as check character"),
        ("ABC", "characters", "letters"),
        (ok[:17] + "\u0661", "characters", "Arabic-Indic digit one as check character"),
        ("身份证号", "characters", "not a number"),
    ]
    for value, problem, why in rows:       # the check characters are what the rows say they are
        if len(value) == 18 and value[:17].isascii() and value[:17].isdigit() and problem in ("", "check_char"):
            assert (value[17].upper() == mod11_2(value[:17])) == (problem == ""), (value, why)
    return rows


def rows() -> list[dict[str, str]]:
    """The CSV rows, python-stdnum's opinion included (``stdnum_valid``), to show where it differs."""
    from stdnum.cn import ric

    return [{"id_number": v, "problem": p, "reference_date": REFERENCE.isoformat(),
             "stdnum_valid": "true" if ric.is_valid(v) else "false", "why": why} for v, p, why in vectors()]


def write(path: Path = CSV) -> None:
    """Write the CSV (UTF-8, every field quoted so that spaces and newlines survive)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.DictWriter(fh, COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writeheader()
        out.writerows(rows())


def read(path: Path = CSV) -> list[dict[str, str]]:
    """The committed vectors."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


if __name__ == "__main__":
    write()
