"""``expro import PACKAGE``: validate and load a project package (one transaction)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import click

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, die_on, fail
from expro.errors import ExproError
from expro.settings import get_settings
from supervision.errors import PackageError

CONSOLE_ERROR_LIMIT = 200


def write_errors_csv(path: Path, exc: PackageError) -> None:
    """Every issue of ``exc`` as CSV (file, row, column, problem)."""
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "column", "problem", "问题"])
        for issue in exc.issues:
            writer.writerow([issue.file, issue.row or "", issue.column or "", issue.message_en, issue.message_zh])


@click.command("import")
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--repair", is_flag=True, help="Fix invalid geometries with make_valid and report what changed.")
@click.option("--errors-csv", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every problem found to this CSV file.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on large imports).")
@click.option("--no-imagery", is_flag=True,
              help="Do not ingest and measure the package's flights when it has no footprint files "
                   "(the area rules then count those buildings as not measurable).")
def import_package(package: Path, repair: bool, errors_csv: Path | None, progress: bool | None,
                   no_imagery: bool) -> None:
    """Validate PACKAGE (a folder or .zip) and load it into PostGIS; nothing is written if anything is wrong.

    When the package has orthophotos but no footprint files for a phase, the flights are ingested (COG)
    and their footprints extracted in the same transaction (DATA_FORMATS §1).
    """
    from supervision.package.flights import FlightsResult, measure_flights
    from supervision.package.service import import_package as run_import

    started = time.perf_counter()
    store = get_settings().home / "orthophotos"
    try:
        with db.transaction() as conn:
            result, pkg = run_import(conn, package, repair=repair, progress=progress, store_dir=store)
            imagery = FlightsResult() if no_imagery else measure_flights(conn, result.project_id, store, pkg=pkg)
    except PackageError as exc:
        if errors_csv:
            write_errors_csv(errors_csv, exc)
        fail(f"导入失败, 未写入任何数据 / import refused, nothing written: {len(exc.issues)} problem(s)\n"
             + exc.report(limit=CONSOLE_ERROR_LIMIT), EXIT_BAD_INPUT)
    except (ValueError, FileNotFoundError) as exc:
        fail(f"导入失败 / import refused: {exc}", EXIT_BAD_INPUT)
    except ExproError as exc:
        die_on(exc)
    if result.obsolete_files:               # the rows are gone (committed): now their stored files
        from supervision.package.service import remove_unreferenced

        with db.transaction() as conn:
            remove_unreferenced(conn, result.obsolete_files, store)
    for note in pkg.repairs:
        click.echo(f"repaired: {note}")
    verb = "replaced" if result.replaced else "imported"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.row_counts.items()))
    click.echo(f"{verb} project {result.project_code} in {time.perf_counter() - started:.1f} s: {counts}")
    if imagery.phases:
        click.echo(imagery.summary())
    if result.kept:
        click.echo("kept (not brought by the package) / 保留(非本包数据): "
                   + ", ".join(f"{k} {v}" for k, v in sorted(result.kept.items())))
