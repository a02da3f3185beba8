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


def _constraints(conn) -> list[tuple[str, str, bool]]:
    return conn.execute(text("SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                             "WHERE conrelid = 'registry_person'::regclass ORDER BY conname")).all()


def _indexes(conn) -> list[str]:
    return conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'registry_person' "
                             "ORDER BY indexname")).scalars().all()


def test_bulk_load_rebuilds_what_it_dropped(conn, tmp_path):
    from supervision.registry_import import import_registry

    before = (_constraints(conn), _indexes(conn))
    f = tmp_path / "registry.csv"
    f.write_text(HEADER + "\n".join(_rows(3000)) + "\n", encoding="utf-8")
    res = import_registry(conn, f, rebuild_indexes=True, block_bytes=64 << 10)     # several blocks
    assert res.rows == 3000 and res.rebuilt in ("indexes", "foreign_key")
    assert (_constraints(conn), _indexes(conn)) == before
    got = conn.execute(text("SELECT count(*), count(gender), count(household_no), count(moved_in_on), "
                            "min(birth_date) FROM registry_person WHERE extract_id = :e"), {"e": res.extract_id}).one()
    assert got[:4] == (3000, 3000, 3000, 0) and got[4] is None     # empty cells are NULL


def test_bulk_load_refused_leaves_table_as_it_was(conn, tmp_path):
    from supervision.errors import PackageError
    from supervision.registry_import import import_registry

    before = (_constraints(conn), _indexes(conn), conn.execute(text("SELECT count(*) FROM registry_person")).scalar())
    rows = _rows(3000)
    rows[2500] = rows[2500].replace(",active,", ",alive,")
    f = tmp_path / "registry.csv"
    f.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(PackageError) as err:
        import_registry(conn, f, rebuild_indexes=True, block_bytes=64 << 10)
    assert "registry.csv row 2502, column status: not one of" in err.value.report()
    assert (_constraints(conn), _indexes(conn),
            conn.execute(text("SELECT count(*) FROM registry_person")).scalar()) == before


def test_malformed_csv_and_bom_and_chinese_headers(conn, tmp_path):
    rows = _rows(5)
    f = tmp_path / "registry.csv"
    f.write_text(HEADER + "\n".join(rows[:3] + [rows[3] + ",extra"] + rows[4:]) + "\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 2 and "registry.csv: not a readable CSV file" in res.output, res.output
    zh = "身份证号,姓名,性别,出生日期,户号,与户主关系,村代码,状态,状态日期,迁入日期,分户前户号,分户日期\n"
    f.write_bytes(b"\xef\xbb\xbf" + (zh + "\n".join(r.replace(",M,", ",男,").replace(",active,", ",正常,")
                                                  for r in rows) + "\n").encode("utf-8"))
    res = CliRunner().invoke(cli, ["registry", "import", str(f)])
    assert res.exit_code == 0, res.output
    got = conn.execute(text("SELECT gender, status FROM registry_person ORDER BY extract_id DESC LIMIT 1")).one()
    assert tuple(got) == ("M", "active")
