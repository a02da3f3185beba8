"""``expro registry import FILE``: a household-registry extract (city-wide, or for one project)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from expro import db
from expro.cli.imports import CONSOLE_ERROR_LIMIT, write_errors_csv
from expro.cli.options import EXIT_BAD_INPUT, fail
from supervision.errors import PackageError, ProjectNotFoundError


@click.group("registry")
def registry() -> None:
    """The household registry (户籍) extracts the cross-checks use."""


@registry.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "project_code", default=None, help="Attach the extract to one project (default: city-wide).")
@click.option("--errors-csv", type=click.Path(dir_okay=False, path_type=Path), help="Write every problem found here.")
@click.option("--progress/--no-progress", default=None)
def registry_import(file: Path, project_code: str | None, errors_csv: Path | None, progress: bool | None) -> None:
    """Validate and load FILE (CSV or XLSX with the registry columns); nothing is written if anything is wrong."""
    from supervision import audit
    from supervision.projects import get_project
    from supervision.registry_import import import_registry

    started = time.perf_counter()
    try:
        with db.transaction() as conn:
            project_id = get_project(conn, project_code)["id"] if project_code else None
            result = import_registry(conn, file, project_id=project_id, progress=progress)
            audit.append(conn, actor=audit.cli_actor(), action="registry.import", object_type="registry_extract",
                         object_key=str(result.extract_id),
                         details={"project": project_code, "file": file.name, "rows": result.rows},
                         attachments=[{"name": file.name, "sha256": result.sha256}])
    except PackageError as exc:
        if errors_csv:
            write_errors_csv(errors_csv, exc)
        fail(f"导入失败, 未写入任何数据 / import refused, nothing written: {len(exc.issues)} problem(s)\n"
             + exc.report(limit=CONSOLE_ERROR_LIMIT), EXIT_BAD_INPUT)
    except (ProjectNotFoundError, ValueError) as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    click.echo(f"registry extract {result.extract_id}: {result.rows} people imported in "
               f"{time.perf_counter() - started:.1f} s")
