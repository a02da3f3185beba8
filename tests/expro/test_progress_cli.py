"""``expro progress``: the same figures as the API, as Chinese tables or JSON; exit 2 on bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from expro.cli import cli
from supervision.identity import china_today
from tests.common import HOUSEHOLDS, write_package


@pytest.fixture
def imported(conn, tmp_path):
    """The canonical package imported (project T-001, a case per household)."""
    from supervision.package.service import import_package

    result, _ = import_package(conn, write_package(tmp_path / "pkg"))
    return result


def test_progress_prints_chinese_tables(runner, conn, imported):
    conn.execute(text("""UPDATE case_stage s SET due_on = :d FROM case_file cf
                         WHERE cf.id = s.case_id AND cf.household_no = :h AND s.state = 'open'"""),
                 {"d": china_today() - dt.timedelta(days=2), "h": HOUSEHOLDS[0][0]})
    res = runner.invoke(cli, ["progress", "--project", "T-001"])
    assert res.exit_code == 0, res.output
    out = res.output
    for heading in ("按环节", "按村", "按经办人", "按征收类型", "超期环节", "档案完整度", "补偿金额"):
        assert heading in out
    assert f"案件 {len(HOUSEHOLDS)} 件" in out and "预公告" in out and "王家村" in out
    late = next(line for line in out.splitlines() if line.startswith(HOUSEHOLDS[0][0]))
    assert late.split()[-1] == "2"                                   # days overdue


def test_progress_json_matches_the_figures(runner, conn, imported):
    from supervision.progress import project_progress
    from supervision.projects import get_project

    res = runner.invoke(cli, ["progress", "--project", "T-001", "--json"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.output)
    figures = project_progress(conn, get_project(conn, "T-001"), None)
    assert printed["totals"] == figures["totals"]
    assert printed["money"]["agreed_yuan"] == str(figures["money"]["agreed_yuan"])
    assert [r["stage"] for r in printed["by_stage"]] == [r["stage"] for r in figures["by_stage"]]


def test_progress_as_a_crew_member_and_bad_input(runner, conn, imported):
    from supervision.accounts import upsert_user

    upsert_user(conn, username="S077", name="韩梅", role="field_crew", password="correct-horse-42")
    res = runner.invoke(cli, ["progress", "--project", "T-001", "--user", "S077", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["totals"]["cases"] == 0 and json.loads(res.output)["scope"] == "assigned"
    assert runner.invoke(cli, ["progress", "--project", "NOPE"]).exit_code == 2
    assert runner.invoke(cli, ["progress", "--project", "T-001", "--user", "nobody"]).exit_code == 2
