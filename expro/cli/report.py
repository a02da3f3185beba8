"""``expro report``: the periodic area-discrepancy report of a project (XLSX, PDF, HTML), fit for cron.

Exit status: 0 every report written; 2 bad input (unknown project, bad period, an output exists without
``--overwrite``, a Dask engine without a scheduler); 1 any other failure. One log line per report on stderr
(``key=value``), the progress bar only on a terminal.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, overwrite_option

log = logging.getLogger("expro.report")

engine_option = click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                             help="Where the models run: PostGIS, or a Dask cluster (needs --scheduler).")
scheduler_option = click.option("--scheduler", default=None, metavar="ADDRESS",
                                help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --engine dask).")


class _EchoHandler(logging.Handler):
    """Log lines to the current stderr (click's, so that a test runner or cron's redirection sees them)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _logging() -> None:
    if not log.handlers:
        handler = _EchoHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                               "%Y-%m-%dT%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


@click.command("report")
@click.option("--project", "project_code", default=None, help="Project code (项目编号).")
@click.option("--all-projects", is_flag=True, help="Every project in the database, one report each.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of the reports (created when absent).")
@click.option("--period", default=None, metavar="YYYY-MM", help="Report period (default: this month, China time).")
@click.option("--no-check", is_flag=True, help="Do not run the models before freezing a new period's alerts.")
@click.option("--recompute", is_flag=True,
              help="Freeze the period's alerts again (the stored run of the period is superseded, kept).")
@engine_option
@scheduler_option
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@overwrite_option
def report(project_code: str | None, all_projects: bool, out_dir: Path, period: str | None, no_check: bool,
           recompute: bool, engine: str, scheduler: str | None, progress: bool | None, overwrite: bool) -> None:
    """Write the area-discrepancy report of a project for a period: CODE_YYYY-MM_report.xlsx, .pdf and .html.

    The first report of a period freezes the alert set (with the data versions behind it) in the database; a
    later report of the same period renders the same figures. New, still open and resolved alerts are counted
    against the project's previous report.
    """
    from reports.errors import ReportError, ReportInputError
    from reports.service import all_project_codes, make_report
    from supervision.engines import EngineError

    _logging()
    if bool(project_code) == all_projects:
        log.error("status=bad_input reason=%s", "give --project CODE or --all-projects")
        click.echo("错误 / error: 请给出 --project CODE 或 --all-projects / give --project CODE or --all-projects",
                   err=True)
        sys.exit(EXIT_BAD_INPUT)
    if engine == "dask" and not scheduler:
        click.echo("错误 / error: --engine dask 需要 --scheduler 地址 / --engine dask needs --scheduler ADDRESS", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if all_projects:
        with db.transaction() as conn:
            codes = all_project_codes(conn)
    else:
        codes = [str(project_code)]
    status = 0
    for code in codes:
        try:
            with db.transaction() as conn:
                result = make_report(conn, code, out_dir, period=period, overwrite=overwrite, run_check=not no_check,
                                     recompute=recompute, engine=engine, scheduler=scheduler, progress=progress)
        except (ReportInputError, EngineError) as exc:
            log.error("project=%s period=%s status=bad_input reason=%s", code, period or "-", exc)
            click.echo(f"错误 / error: {exc}", err=True)
            status = max(status, EXIT_BAD_INPUT) if status != 1 else 1
            continue
        except ReportError as exc:
            log.error("project=%s period=%s status=failed reason=%s", code, period or "-", exc)
            click.echo(f"错误 / error: {exc}", err=True)
            status = 1
            continue
        t = result.run.figures["totals"]
        log.info("project=%s period=%s status=ok run=%d reused=%s engine=%s alerts=%d open=%d new=%d resolved=%d "
                 "money_at_stake_yuan=%.2f alert_set=%s seconds=%s", code, result.period, result.run.id,
                 str(result.run.reused).lower(), result.run.engine, t["alerts"], t["open"],
                 result.run.figures["change"]["new"], result.run.figures["change"]["resolved"],
                 t["money_at_stake_yuan"], result.run.alert_set_sha256[:16],
                 ",".join(f"{k}:{v}" for k, v in result.seconds.items()))
        for path in result.paths.values():
            click.echo(str(path))
    if status:
        sys.exit(status)
