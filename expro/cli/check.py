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
def check(project_code: str) -> None:
    """Run every supervision model on the project (idempotent; dispositions are kept)."""
    from supervision import models

    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            counts = models.run_all(conn, project_code)
    except ProjectNotFoundError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    for code, n in counts.items():
        click.echo(f"{code:<24} {n}")
    click.echo(f"{sum(counts.values())} alert(s) from {len(counts)} model(s) in {time.perf_counter() - started:.1f} s")


@click.group("alerts")
def alerts() -> None:
    """Alerts raised by the supervision models."""


@alerts.command("export")
@project_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--all", "include_all", is_flag=True, help="Include alerts whose rule no longer fires.")
@overwrite_option
def alerts_export(project_code: str, fmt: str, output: Path, include_all: bool, overwrite: bool) -> None:
    """Write the project's alerts (DATA_FORMATS.md §3) to OUTPUT."""
    from supervision.alerts import export_rows, write_export
    from supervision.projects import get_project

    if output.exists() and not overwrite:
        fail(f"{output} exists; use --overwrite to replace it", EXIT_BAD_INPUT)
    try:
        with db.transaction() as conn:
            get_project(conn, project_code)
            rows = export_rows(conn, project_code, include_not_firing=include_all)
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
