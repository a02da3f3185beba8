"""Registry extract import: validation of every row, all-or-nothing, city-wide use by the checks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from supervision.identity import check_char, id_problem
from supervision.registry_import import id_problems

HEADER = "id_number,name,gender,birth_date,household_no,relation_to_head,village_code,status,status_date,moved_in_on,split_from_household_no,split_on\n"


def _id(county: str, birth: str, seq: int) -> str:
    body = f"{county}{birth}{seq:03d}"
    return body + check_char(body)


def _rows(n: int) -> list[str]:
    return [f"{_id('210112', f'19{50 + i % 40:02d}0{1 + i % 9}1{i % 9}', i % 1000)},张{i},M,,H{i // 4},户主,210112101201,active,,,,"
            for i in range(n)]


def test_vectorised_id_check_agrees_with_the_reference():
    import pandas as pd

    values = [_id("210112", "19550312", 1), _id("210112", "19550312", 1)[:17] + "0", "21011219551312001X",
              "2101121955", "21011219560229002X", _id("110101", "19000101", 7), "210112550229001", "ABC"]
    got = id_problems(pd.Series(values)).tolist()
    assert [None if g != g else g for g in got] == [id_problem(v) for v in values]


def test_import_registry_cli(conn, tmp_path):
    rows = _rows(2000)
    f = tmp_path / "registry.csv"
    f.write_bytes((HEADER + "\n".join(rows) + "\n").encode("gb18030"))
    res = CliRunner().invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 0, res.output
    extract = conn.execute(text("SELECT id, project_id, row_count FROM registry_extract ORDER BY id DESC LIMIT 1")).one()
    assert extract.project_id is None and extract.row_count == 2000
    n = conn.execute(text("SELECT count(*) FROM registry_person WHERE extract_id = :e"), {"e": extract.id}).scalar_one()
    assert n == 2000


def test_bad_registry_rows_are_all_reported_and_nothing_written(conn, tmp_path):
    rows = _rows(50)
    rows[3] = rows[3].replace(rows[3][:18], rows[3][:17] + ("0" if rows[3][17] != "0" else "1"))   # check char
    rows[7] = rows[7].replace(",active,", ",alive,")                                             # status
    rows[9] = rows[0]                                                                            # duplicate
    rows[11] = rows[11].replace(",M,,", ",M,1955-02-30,")                                        # no such date
    f = tmp_path / "registry.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    before = conn.execute(text("SELECT count(*) FROM registry_person")).scalar_one()
    res = CliRunner().invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 2, res.output
    assert "registry.csv row 5, column id_number: invalid ID number (check_char)" in res.output
    assert "registry.csv row 9, column status: not one of" in res.output
    assert "registry.csv row 13, column birth_date: not a date" in res.output
    assert conn.execute(text("SELECT count(*) FROM registry_person")).scalar_one() == before


def test_duplicates_are_reported_with_both_rows(conn, tmp_path):
    rows = _rows(10)
    rows[8] = rows[2]
    f = tmp_path / "registry.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 2
    assert "row 10, column id_number: duplicate ID number" in res.output and "(also at row 4)" in res.output


@pytest.mark.parametrize("bad", ["", "id,name\n1,2\n"])
def test_empty_or_wrong_columns(conn, tmp_path, bad):
    f = tmp_path / "registry.csv"
    f.write_text(bad, encoding="utf-8")
    res = CliRunner().invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 2
