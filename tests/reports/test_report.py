"""``expro report`` on the synthetic district against real PostGIS: the workbook row for row against the database,
the PDF through pdftotext and pdftoppm, frozen runs, new / still open / resolved, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from expro.cli import cli
from reports.labels import ITEM_SHEET_COLUMNS, cjk_font, rule_titles
from reports.xlsx import SUMMARY_SHEET
from supervision import alert_loop, models, policy
from supervision.accounts import get_user
from supervision.package.service import import_package

PERIOD = "2026-10"
NEXT = "2026-11"
HEADERS = [h for _, h, _ in ITEM_SHEET_COLUMNS]


@pytest.fixture
def project(conn, district_dir):
    """Seed 1's district imported and checked; its code."""
    result, _ = import_package(conn, district_dir(1))
    models.run_all(conn, result.project_code)
    return result.project_code


def _report(runner, out: Path, *args: str):
    return runner.invoke(cli, ["report", "-o", str(out), "--no-progress", *args], catch_exceptions=False)


def _open_alerts(conn, code: str) -> list[dict]:
    """The project's open alerts straight from ``alert`` with the figures a report must print, computed here."""
    rows = conn.execute(text("""
        SELECT a.id, a.rule_code, a.subject_key, a.state, a.evidence,
               (SELECT max(c.unit_price_yuan) FROM claim c JOIN building b ON b.id = c.building_id
                WHERE a.subject_type = 'building' AND c.item_kind = 'building' AND b.project_id = a.project_id
                  AND b.parcel_code || '/' || b.building_no = a.subject_key) AS price
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c AND a.state <> 'closed' AND (a.firing OR a.state <> 'new')
        ORDER BY a.rule_code, a.subject_type, a.subject_key"""), {"c": code}).mappings().all()
    return [dict(r) for r in rows]


def _money(alert: dict) -> Decimal | None:
    if alert["rule_code"] not in ("AREA_INFLATED", "NOT_AT_BASELINE") or alert["price"] is None:
        return None
    disc = Decimal(str(alert["evidence"]["discrepancy_m2"]))
    return (max(disc, Decimal(0)) * alert["price"]).quantize(Decimal("0.01"))


def _sheet_rows(wb, title: str) -> list[dict]:
    ws = wb[title]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    return [dict(zip(HEADERS, r)) for r in rows[1:]]


def test_workbook_matches_the_database_row_for_row(conn, runner, project, tmp_path):
    out = tmp_path / "out"
    res = _report(runner, out, "--project", project, "--period", PERIOD)
    assert res.exit_code == 0, res.output
    wb = load_workbook(out / f"{project}_{PERIOD}_report.xlsx")
    expected = _open_alerts(conn, project)
    assert expected, "the district has planted anomalies"
    titles = rule_titles()
    by_rule: dict[str, list[dict]] = {}
    for a in expected:
        by_rule.setdefault(a["rule_code"], []).append(a)
    assert wb.sheetnames[0] == SUMMARY_SHEET
    assert set(wb.sheetnames) == {SUMMARY_SHEET, "报告输入"} | {titles[r] for r in by_rule}
    total_money = Decimal(0)
    for rule, alerts in by_rule.items():
        rows = _sheet_rows(wb, titles[rule])
        assert [r["预警编号"] for r in rows] == [a["id"] for a in alerts], rule
        assert [r["对象编号"] for r in rows] == [a["subject_key"] for a in alerts]
        ws = wb[titles[rule]]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:U{len(alerts) + 1}"
        for row, a in zip(rows, alerts):
            assert row["处置状态"] == "新预警" and row["与上期相比"] == "新增"
            assert json.loads(row["证据(JSON)"]) == a["evidence"]
            money = _money(a)
            if money is None:
                assert row["涉及金额(元)"] is None
            else:
                assert Decimal(str(row["涉及金额(元)"])) == money
                assert row["核定建筑面积(㎡)"] == pytest.approx(a["evidence"]["claimed_floor_area_m2"])
                assert row["实测建筑面积(㎡)"] == pytest.approx(a["evidence"]["expected_floor_area_m2"])
                total_money += money
    summary = wb[SUMMARY_SHEET]
    cells = {r[0]: r for r in summary.iter_rows(values_only=True) if r and r[0]}
    assert Decimal(str(cells["未办结预警"][5])) == total_money          # 涉及金额(元)
    assert cells["未办结预警"][1] == len(expected)
    rule_rows = [r for r in summary.iter_rows(min_row=9, values_only=True) if r[1] in by_rule]
    assert {r[1]: r[2] for r in rule_rows} == {r: len(a) for r, a in by_rule.items()}
    assert summary.freeze_panes == "A9" and summary.auto_filter.ref.startswith("A8:")
    # the stored run says the same
    stored = conn.execute(text("SELECT count(*) FROM report_item i JOIN report_run r ON r.id = i.run_id "
                               "JOIN project p ON p.id = r.project_id WHERE p.code = :c AND i.is_open"),
                          {"c": project}).scalar_one()
    assert stored == len(expected)


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_pdf_text_fonts_and_pages(conn, runner, project, tmp_path):
    out = tmp_path / "out"
    assert _report(runner, out, "--project", project, "--period", PERIOD).exit_code == 0
    pdf = out / f"{project}_{PERIOD}_report.pdf"
    body = _pdf_text(pdf)
    expected = _open_alerts(conn, project)
    total = sum((m for m in map(_money, expected) if m is not None), Decimal(0))
    assert f"涉及金额合计（差异面积 × 单价）：{total:,.2f} 元" in body
    assert f"未办结预警 {len(expected)} 条" in body
    villages = conn.execute(text("SELECT u.name FROM admin_unit u JOIN project p ON p.id = u.project_id "
                                 "WHERE p.code = :c AND u.level = 'village'"), {"c": project}).scalars().all()
    assert villages and all(v in body for v in villages)
    assert all(re.search(r"[\u4e00-\u9fff]", v) for v in villages)
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert "CJK" in fonts and all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])   # embedded
    # no missing glyphs: every character of the text layer is in the embedded font
    from fontTools.ttLib import TTCollection

    path, index = cjk_font()
    cmap = TTCollection(path).fonts[index].getBestCmap()
    missing = {ch for ch in body if not ch.isspace() and ord(ch) not in cmap}
    assert not missing, missing
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert len(pages) == int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 4
    from PIL import Image, ImageStat

    for page in pages:
        with Image.open(page) as im:
            assert ImageStat.Stat(im.convert("L")).stddev[0] > 5, f"{page.name} is blank"
    html = (out / f"{project}_{PERIOD}_report.html").read_text(encoding="utf-8")
    assert f"涉及金额合计 {total:,.2f} 元" in html and html.count("data:image/png;base64,") == 4


def _inspector(conn, code: str):
    uid = conn.execute(text("SELECT u.id FROM app_user u JOIN project_staff s ON s.user_id = u.id "
                            "JOIN project p ON p.id = s.project_id WHERE p.code = :c AND u.role = 'inspector' "
                            "ORDER BY u.username LIMIT 1"), {"c": code}).scalar_one()
    return get_user(conn, uid)


def test_second_report_shows_closed_alerts_as_resolved(conn, runner, project, tmp_path):
    out = tmp_path / "out"
    assert _report(runner, out, "--project", project, "--period", PERIOD).exit_code == 0
    inspector = _inspector(conn, project)
    closed = []
    for a in _open_alerts(conn, project):
        alert = dict(conn.execute(text("SELECT * FROM alert WHERE id = :i"), {"i": a["id"]}).mappings().one())
        if a["rule_code"] not in ("AREA_INFLATED", "NOT_AT_BASELINE") or policy.conflicts(conn, inspector.id, a["id"]):
            continue
        if policy.step_refusal(conn, inspector, alert, "assign") is not None:
            continue
        for action in ("assign", "start_verification", "mark_unfounded", "close"):
            alert_loop.act(conn, a["id"], inspector, action, opinion="现场核查", assignee=inspector.username)
        closed.append(a)
        if len(closed) == 2:
            break
    assert len(closed) == 2
    res = _report(runner, out, "--project", project, "--period", NEXT)
    assert res.exit_code == 0, res.output
    wb = load_workbook(out / f"{project}_{NEXT}_report.xlsx")
    titles = rule_titles()
    for a in closed:
        rows = {r["预警编号"]: r for r in _sheet_rows(wb, titles[a["rule_code"]])}
        row = rows[a["id"]]
        assert row["与上期相比"] == "已解决" and row["处置状态"] == "已办结" and row["核查结论"] == "不属实"
    still = [r for t in {titles[a["rule_code"]] for a in closed} for r in _sheet_rows(wb, t)
             if r["与上期相比"] == "仍未办结"]
    assert still, "the other alerts are still open"
    run = conn.execute(text("SELECT r.figures, r.previous_run_id, prev.period FROM report_run r "
                            "JOIN report_run prev ON prev.id = r.previous_run_id JOIN project p ON p.id = r.project_id "
                            "WHERE p.code = :c AND r.period = :per"), {"c": project, "per": NEXT}).mappings().one()
    assert run["period"] == PERIOD
    assert run["figures"]["change"] == {"new": 0, "still_open": len(_open_alerts(conn, project)),
                                        "resolved": len(closed)}
    rates = run["figures"]["hit_rates"]
    assert sum(v["unfounded"] for v in rates.values()) == 2
    body = _pdf_text(out / f"{project}_{NEXT}_report.pdf")
    assert "已解决 2 条" in body and "上期报告：2026-10" in body
    assert all(a["subject_key"] in body for a in closed)


def test_the_same_period_gives_the_same_figures(conn, runner, project, tmp_path):
    out = tmp_path / "out"
    assert _report(runner, out, "--project", project, "--period", PERIOD).exit_code == 0
    first = (out / f"{project}_{PERIOD}_report.pdf").read_bytes()
    first_xlsx = [r for r in load_workbook(out / f"{project}_{PERIOD}_report.xlsx")[SUMMARY_SHEET].iter_rows(
        values_only=True)]
    # the data change after the report: a building's claimed area is corrected and the models run again
    conn.execute(text("""UPDATE building SET claimed_floor_area_m2 = claimed_floor_area_m2 + 500 WHERE id =
                         (SELECT b.id FROM building b JOIN project p ON p.id = b.project_id WHERE p.code = :c
                          ORDER BY b.id LIMIT 1)"""), {"c": project})
    models.run_all(conn, project)
    res = _report(runner, out, "--project", project, "--period", PERIOD, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (out / f"{project}_{PERIOD}_report.pdf").read_bytes() == first
    again = [r for r in load_workbook(out / f"{project}_{PERIOD}_report.xlsx")[SUMMARY_SHEET].iter_rows(
        values_only=True)]
    assert again == first_xlsx
    runs = conn.execute(text("SELECT count(*) FROM report_run r JOIN project p ON p.id = r.project_id "
                             "WHERE p.code = :c"), {"c": project}).scalar_one()
    assert runs == 1
    # --recompute freezes the period again: the corrected building now counts
    res = _report(runner, out, "--project", project, "--period", PERIOD, "--overwrite", "--recompute")
    assert res.exit_code == 0, res.output
    rows = conn.execute(text("SELECT superseded, alert_set_sha256 FROM report_run r JOIN project p "
                             "ON p.id = r.project_id WHERE p.code = :c ORDER BY r.id"), {"c": project}).all()
    assert [r.superseded for r in rows] == [True, False] and rows[0].alert_set_sha256 != rows[1].alert_set_sha256


def test_bad_input_exits_2_and_nothing_is_overwritten(conn, runner, project, tmp_path):
    out = tmp_path / "out"
    for args in (["--project", project, "--period", "2026-13"], ["--project", project, "--period", "2999-01"],
                 ["--project", "NO-SUCH", "--period", PERIOD], ["--period", PERIOD],
                 ["--project", project, "--all-projects"], ["--project", project, "--engine", "dask"]):
        res = _report(runner, out, *args)
        assert res.exit_code == 2, (args, res.output)
        assert "错误 / error" in res.output
    assert not out.exists() or not any(out.iterdir())
    assert _report(runner, out, "--project", project, "--period", PERIOD).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res = _report(runner, out, "--project", project, "--period", PERIOD)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # an earlier period cannot be frozen from today's data once a later one is reported
    assert _report(runner, out, "--project", project, "--period", "2026-09").exit_code == 2


def test_all_projects_one_report_each_with_a_log_line(conn, runner, district_dir, project, tmp_path):
    other, _ = import_package(conn, district_dir(2))
    out = tmp_path / "out"
    res = _report(runner, out, "--all-projects", "--period", PERIOD)
    assert res.exit_code == 0, res.output
    codes = conn.execute(text("SELECT code FROM project ORDER BY code")).scalars().all()
    assert {project, other.project_code} <= set(codes)
    for code in (project, other.project_code):
        assert all((out / f"{code}_{PERIOD}_report.{ext}").is_file() for ext in ("xlsx", "pdf", "html"))
        assert re.search(rf"project={re.escape(code)} period={PERIOD} status=ok run=\d+", res.output)
