"""``expro check``, ``expro alerts export``, ``expro rules list``: the supervision models and their alerts."""

from __future__ import annotations

import time
from pathlib import Path

import click

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, fail, overwrite_option
from supervision.errors import ProjectNotFoundError

project_option = click.option("--project", "project_code", required=True, help="Project code (项目编号).")


@click.command("check")
@project_option
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where the area figures and registry matching are computed: PostGIS, or a Dask cluster.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --engine dask).")
def check(project_code: str, engine: str, scheduler: str | None) -> None:
    """Run every supervision model on the project (idempotent; dispositions are kept)."""
    from supervision import audit
    from supervision.engines import EngineError, run_check

    if engine == "dask" and not scheduler:
        fail("错误 / error: --engine dask 需要 --scheduler 地址 / --engine dask needs --scheduler ADDRESS",
             EXIT_BAD_INPUT)
    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            result = run_check(conn, project_code, engine=engine, scheduler=scheduler)
            audit.append(conn, actor=audit.cli_actor(), action="check.run", object_type="project",
                         object_key=project_code,
                         details={"rules": sorted(result.hits), "alerts": dict(sorted(result.hits.items())),
                                  "total": sum(result.hits.values()),
                                  "not_measurable": {k: v for k, v in sorted(result.not_measurable.items()) if v},
                                  **({"engine": engine} if engine != "local" else {})})
    except ProjectNotFoundError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    except EngineError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    counts = result.hits
    for code, n in counts.items():
        unjudged = result.not_measurable.get(code)
        note = f"   ({unjudged} not measurable / {unjudged} 个无测量数据, 未判断)" if unjudged else ""
        click.echo(f"{code:<24} {n}{note}")
    click.echo(f"{sum(counts.values())} alert(s) from {len(counts)} model(s) in {time.perf_counter() - started:.1f} s")
    for code, unjudged in result.not_measurable.items():
        if unjudged:
            click.echo(f"{code}: {unjudged} subject(s) not measurable: no survey footprints and no measured flight "
                       f"over them, so no alert was raised / {unjudged} 个对象无征收前后测量(无实测轮廓、无已提取影像覆盖), "
                       "未作判断、未预警")
    for flight in result.unmeasured_flights:
        click.echo(f"note: orthophoto {flight['id']} ({flight['phase']}, {flight['captured_on']}, {flight['status']}) "
                   f"has no footprints measured; run `expro ortho ingest` (if catalogued) and "
                   f"`expro ortho footprints {flight['id']}`, or re-run `expro import` of the package / "
                   f"影像 {flight['id']} 尚未提取房屋轮廓: 请运行 `expro ortho footprints {flight['id']}`"
                   "(未入库的先运行 `expro ortho ingest`), 或重新 `expro import` 该包")


@click.group("alerts")
def alerts() -> None:
    """Alerts raised by the supervision models."""


user_option = click.option("--user", "username", default=None,
                           help="See the alerts as this staff member (工号): their visibility and masking. "
                                "Without it, the database owner's full view.")


def _cli_user(conn, username: str | None):
    """The active account ``username`` (exit 2 when there is none), or None without ``--user``."""
    from sqlalchemy import text

    from supervision.accounts import get_user

    if username is None:
        return None
    uid = conn.execute(text("SELECT id FROM app_user WHERE username = :u AND active"), {"u": username}).scalar()
    if uid is None:
        fail(f"错误 / error: 无此在岗人员 / no active user {username!r}", EXIT_BAD_INPUT)
    return get_user(conn, uid)


@alerts.command("export")
@project_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--all", "include_all", is_flag=True, help="Include alerts whose rule no longer fires.")
@user_option
@overwrite_option
def alerts_export(project_code: str, fmt: str, output: Path, include_all: bool, username: str | None,
                  overwrite: bool) -> None:
    """Write the project's alerts (DATA_FORMATS.md §3) to OUTPUT."""
    from supervision.alerts import export_rows, write_export
    from supervision.projects import get_project

    if output.exists() and not overwrite:
        fail(f"{output} exists; use --overwrite to replace it", EXIT_BAD_INPUT)
    try:
        with db.transaction() as conn:
            get_project(conn, project_code)
            user = _cli_user(conn, username)
            rows = export_rows(conn, project_code, include_not_firing=include_all, user=user)
    except ProjectNotFoundError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    write_export(rows, output, fmt)
    click.echo(f"wrote {len(rows)} alert(s) to {output}")


@click.group("rules")
def rules() -> None:
    """The supervision models (监督模型)."""


@rules.command("list")
def rules_list() -> None:
    """Every model: code, dimension, subject, default severity, thresholds."""
    from supervision import models

    for m in models.registered():
        th = ", ".join(f"{k}={v}" for k, v in m.thresholds.items())
        click.echo(f"{m.code:<24} {m.dimension:<14} {m.subject_type:<10} {m.severity:<9} {m.title_zh}  {th}")


@alerts.command("list")
@project_option
@click.option("--state", default=None, help="Only alerts in this state.")
@click.option("--rule", default=None, help="Only alerts of this rule code.")
@user_option
def alerts_list(project_code: str, state: str | None, rule: str | None, username: str | None) -> None:
    """List the project's alerts: id, rule, severity, state, subject, message."""
    from supervision import alerts as queries
    from supervision.projects import get_project

    try:
        with db.transaction() as conn:
            get_project(conn, project_code)
            user = _cli_user(conn, username)
            rows = queries.list_alerts(conn, project_code, user, state=state, rule=rule, limit=None)
    except ProjectNotFoundError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    for r in rows:
        click.echo(f"{r['id']}\t{r['rule_code']}\t{r['severity']}\t{r['state']}"
                   f"{'' if r['firing'] else ' (no longer firing)'}\t{r['subject_key']}\t{r['message']}")


@alerts.command("act")
@click.argument("alert_id", type=int)
@click.argument("action", type=click.Choice(["assign", "start_verification", "confirm", "mark_unfounded", "rectify",
                                             "close"]))
@click.option("--user", "username", required=True, help="The staff member taking the step (工号).")
@click.option("--opinion", required=True, help="Opinion (意见).")
@click.option("--date", "acted_on", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Date of the step.")
@click.option("--assignee", default=None, help="For assign: who verifies.")
@click.option("--amount", default=None, help="For rectify: amount recovered (yuan).")
@click.option("--attach", "files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PNG, JPEG or PDF to attach (repeatable).")
def alerts_act(alert_id: int, action: str, username: str, opinion: str, acted_on, assignee: str | None,
               amount: str | None, files: tuple[Path, ...]) -> None:
    """Take one step of the closing loop on ALERT_ID as USER (the same policy as the API decides)."""
    from expro.settings import get_settings
    from supervision import alert_loop

    try:
        with db.transaction() as conn:
            user = _cli_user(conn, username)
            attachments = [alert_loop.store_attachment(conn, f, file_name=f.name,
                                                       store_dir=get_settings().home / "attachments", user=user)
                           for f in files]
            result = alert_loop.act(conn, alert_id, user, action, opinion=opinion,
                                    acted_on=acted_on.date() if acted_on else None, assignee=assignee,
                                    amount_recovered_yuan=amount, attachments=attachments)
    except (alert_loop.AlertLoopError, alert_loop.AlertNotFoundError, alert_loop.AttachmentError) as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    click.echo(f"alert {alert_id}: {result['state']} ({result['state_zh']})")


@alerts.command("stats")
@project_option
def alerts_stats(project_code: str) -> None:
    """Per rule: alerts by state, confirmed, unfounded, hit rate (查实率), amounts recovered."""
    from supervision.alerts import statistics

    with db.transaction() as conn:
        rows = statistics(conn, project_code)
    click.echo("rule_code\talerts\tfiring\tconfirmed\tunfounded\thit_rate\trecovered_yuan\tby_state")
    for r in rows:
        rate = "" if r["hit_rate"] is None else f"{r['hit_rate']:.1%}"
        states = ",".join(f"{k}={v}" for k, v in sorted(r["by_state"].items()))
        click.echo(f"{r['rule_code']}\t{r['alerts']}\t{r['firing']}\t{r['confirmed']}\t{r['unfounded']}\t{rate}\t"
                   f"{r['recovered_yuan']}\t{states}")
