"""GB 11643 ID checks: the Python, vectorised and SQL implementations agree on one table of vectors."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import text

from supervision.identity import check_char, id_problem, near_candidates
from supervision.registry_import import id_problems

DATA = Path(__file__).resolve().parents[1] / "data"
_spec = importlib.util.spec_from_file_location("make_gb11643_vectors", DATA / "make_gb11643_vectors.py")
assert _spec is not None and _spec.loader is not None
vectors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vectors)

ROWS = vectors.read()
EXPECTED = [r["problem"] or None for r in ROWS]


def _label(row: dict[str, str]) -> str:
    return f"{row['id_number']!r} ({row['why']})"


def _disagreements(got: list[str | None]) -> list[str]:
    return [f"{_label(r)}: expected {e}, got {g}" for r, e, g in zip(ROWS, EXPECTED, got) if e != g]


def test_the_committed_vectors_are_what_the_generator_writes():
    assert ROWS == vectors.rows()
    assert len({r["id_number"] for r in ROWS}) == len(ROWS)


def test_the_vectors_hold_valid_numbers_that_stdnum_validate_rejects():
    from stdnum.cn import ric

    rejected = [r["id_number"] for r in ROWS if not r["problem"] and r["id_number"][6:8] == "19"
                and r["id_number"][8] == "5" and not ric.is_valid(r["id_number"])]
    assert len(rejected) >= 3          # 1950s births, county codes assigned or changed later


def test_python_check_agrees_with_the_vectors():
    got = [id_problem(r["id_number"], today=dt.date.fromisoformat(r["reference_date"])) for r in ROWS]
    assert _disagreements(got) == []


def test_vectorised_check_agrees_with_the_vectors():
    got: list[str | None] = [None] * len(ROWS)
    frame = pd.DataFrame(ROWS)
    for ref, group in frame.groupby("reference_date"):
        problems = id_problems(group["id_number"], today=pd.Timestamp(str(ref)))
        for pos, value in problems.items():
            got[int(pos)] = None if value is None or value != value else str(value)
    assert _disagreements(got) == []


def test_sql_check_agrees_with_the_vectors(conn):
    got = conn.execute(text(
        "SELECT expro_id_problem(v, d) FROM unnest(CAST(:v AS text[]), CAST(:d AS date[])) WITH ORDINALITY AS t(v, d, i)"
        " ORDER BY i"), {"v": [r["id_number"] for r in ROWS], "d": [r["reference_date"] for r in ROWS]}).scalars().all()
    assert _disagreements(list(got)) == []


def _china_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def test_by_default_the_reference_date_is_today_in_china_everywhere(conn):
    today = _china_today()
    born_today = vectors.number("110101", today.strftime("%Y%m%d"), 1)
    born_tomorrow = vectors.number("110101", (today + dt.timedelta(days=1)).strftime("%Y%m%d"), 1)
    values = [born_today, born_tomorrow]
    expected = [None, "birth_date"]
    assert [id_problem(v) for v in values] == expected
    assert [None if p is None else p for p in id_problems(pd.Series(values)).tolist()] == expected
    sql = conn.execute(text("SELECT expro_id_problem(v) FROM unnest(CAST(:v AS text[])) WITH ORDINALITY AS t(v, i)"
                            " ORDER BY i"), {"v": values}).scalars().all()
    assert list(sql) == expected


def test_sql_check_character_agrees_with_mod_11_2(conn):
    bodies = [r["id_number"][:17] for r in ROWS if len(r["id_number"]) == 18 and r["id_number"][:17].isascii()
              and r["id_number"][:17].isdigit()]
    got = conn.execute(text("SELECT expro_id_check_char(b) FROM unnest(CAST(:b AS text[])) WITH ORDINALITY AS t(b, i)"
                            " ORDER BY i"), {"b": bodies}).scalars().all()
    assert list(got) == [vectors.mod11_2(b) for b in bodies] == [check_char(b) for b in bodies]


def test_functions_reading_the_clock_are_not_immutable(conn):
    volatility = dict(conn.execute(text(
        "SELECT oid::regprocedure::text, provolatile FROM pg_proc WHERE proname LIKE 'expro_id_%'")).all())
    assert volatility["expro_id_problem(text,date)"] == "i"      # the reference date is an argument
    assert volatility["expro_id_problem(text)"] == "s"           # today: stable within a statement
    assert volatility["expro_id_candidates(text)"] == "s"        # calls expro_id_problem(text)
    clock = conn.execute(text(
        "SELECT oid::regprocedure::text FROM pg_proc WHERE proname LIKE 'expro%' AND provolatile = 'i'"
        " AND prosrc ~* '(current_date|current_timestamp|localtimestamp|localtime|now\\(|clock_timestamp|statement_timestamp)'"
    )).scalars().all()
    assert clock == []


@pytest.mark.parametrize("row", [r for r in ROWS if not r["problem"] and r["id_number"][17] in "Xx"][:1],
                         ids=lambda r: r["id_number"])
def test_near_candidates_of_a_wrong_check_character_include_the_number(row):
    wrong = row["id_number"][:17] + "0"
    assert row["id_number"].upper() in near_candidates(wrong)
