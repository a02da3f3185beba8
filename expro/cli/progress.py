"""``expro progress``: a project's progress and statistics (进度跟踪 / 统计分析) as Chinese tables or JSON."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any

import click

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, fail
from supervision.errors import ProjectNotFoundError


def _width(value: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a titled table with columns aligned for CJK text."""
    click.echo(f"\n{title}")
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        click.echo("  ".join(v + " " * (w - _width(v)) for v, w in zip(r, widths)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))
    if not rows:
        click.echo("（无 / none）")


def _pct(ratio: float) -> str:
    return f"{ratio:.1%}"


@click.command("progress")
@click.option("--project", "project_code", required=True, help="Project code (项目编号).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (the API's document).")
@click.option("--user", "username", default=None,
              help="See the figures as this staff member (工号): a field crew member sees their cases only.")
def progress(project_code: str, as_json: bool, username: str | None) -> None:
    """Cases by stage, village, staff member and case type; overdue stages; archive completeness; money."""
    from expro.cli.check import _cli_user
    from supervision.progress import ProgressForbiddenError, project_progress
    from supervision.projects import get_project

    try:
        with db.transaction() as conn:
            project = get_project(conn, project_code)
            user = _cli_user(conn, username)
            figures = project_progress(conn, project, user)
    except (ProjectNotFoundError, ProgressForbiddenError) as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=1, default=str))
        return
    t = figures["totals"]
    click.echo(f"项目 {figures['project_code']} {figures['project_name']} 进度统计（截至 {figures['as_of']}"
               f"{'，仅本人经办案件' if figures['scope'] == 'assigned' else ''}）")
    click.echo(f"案件 {t['cases']} 件：在办 {t['active']}，办结 {t['closed']}，撤销 {t['withdrawn']}，"
               f"已公示 {t['published']}；超期环节 {t['overdue_stages']} 个")
    _table("按环节 / by stage", ["环节", "代码", "案件数", "待办", "待审核", "退回"],
           [(r["name_zh"], r["stage"], r["cases"], r["open"], r["submitted"], r["returned"])
            for r in figures["by_stage"]])
    _table("按村 / by village", ["村", "村代码", "案件数", "办结", "已公示", "核定金额(元)", "已付(元)", "未付(元)"],
           [(r["village_name"], r["village_code"], r["cases"], r["closed"], r["published"], r["agreed_yuan"],
             r["paid_yuan"], r["unpaid_yuan"]) for r in figures["by_village"]])
    _table("按经办人 / by staff member", ["工号", "姓名", "在办", "待审核", "超期"],
           [(r["username"] or "（未分派）", r["name"] or "", r["cases"], r["submitted"], r["overdue"])
            for r in figures["by_staff"]])
    _table("按征收类型 / by case type", ["类型", "代码", "案件数", "在办", "办结", "撤销"],
           [(r["name_zh"], r["case_type"], r["cases"], r["active"], r["closed"], r["withdrawn"])
            for r in figures["by_case_type"]])
    _table(f"超期环节 / overdue stages（共 {t['overdue_stages']} 个）", ["户号", "环节", "经办人", "期限", "超期天数"],
           [(r["household_no"], r["name_zh"], r["assignee"] or "（未分派）", r["due_on"], r["days_overdue"])
            for r in figures["overdue"]])
    c = figures["completeness"]
    _table("档案完整度（已到达环节的必备档案）/ archive completeness",
           ["环节", "案件数", "应有", "已有", "完整率", "齐全案件"],
           [(r["name_zh"], r["cases"], r["required"], r["present"], _pct(r["ratio"]), r["cases_complete"])
            for r in c["stages"]] + [("合计", "", c["overall"]["required"], c["overall"]["present"],
                                      _pct(c["overall"]["ratio"]), "")])
    m = figures["money"]
    click.echo(f"\n补偿金额 / money: 核定 {m['agreed_yuan']} 元，已付 {m['paid_yuan']} 元，未付 {m['unpaid_yuan']} 元")
