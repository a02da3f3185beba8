"""Make a project's report for a period: check (optional), freeze or reuse the run, write XLSX, PDF and HTML."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

from reports import snapshot
from reports.errors import ReportInputError, ReportOutputExistsError

log = logging.getLogger("expro.report")

FORMATS = ("xlsx", "pdf", "html")


def output_paths(out_dir: Path, project_code: str, period: str) -> dict[str, Path]:
    """Where the report of ``project_code`` for ``period`` goes: ``CODE_YYYY-MM_report.{xlsx,pdf,html}``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", project_code)
    return {fmt: out_dir / f"{safe}_{period}_report.{fmt}" for fmt in FORMATS}


@dataclass
class ReportResult:
    """What one report wrote, and from which run."""

    project_code: str
    period: str
    run: snapshot.Run
    paths: dict[str, Path]
    check_hits: dict[str, int] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def all_project_codes(conn: Connection) -> list[str]:
    """Every project code, in order."""
    return list(conn.execute(text("SELECT code FROM project ORDER BY code")).scalars())


def make_report(conn: Connection, project_code: str, out_dir: Path, *, period: str | None = None,
                overwrite: bool = False, run_check: bool = True, recompute: bool = False, engine: str = "local",
                scheduler: str | None = None, progress: bool | None = None) -> ReportResult:
    """The report of ``project_code`` for ``period`` (default: this month, China time) into ``out_dir``.

    When the period has no stored run (or ``recompute``), the supervision models are run first (``run_check``;
    with ``engine``, ``local`` in PostGIS or ``dask`` on the cluster at ``scheduler``) and the alert set is
    frozen; otherwise the stored run is rendered again (the same figures). Existing outputs are refused
    (ReportOutputExistsError) unless ``overwrite``; bad input raises ReportInputError before anything is done.
    """
    import time

    from tqdm import tqdm

    from reports import html, pdf, xlsx
    from reports.data import gather
    from supervision import audit

    period = snapshot.check_period(period or snapshot.current_period())
    if engine not in ("local", "dask"):
        raise ReportInputError(f"未知的计算引擎 / unknown engine {engine!r} (local, dask)")
    if engine == "dask" and not scheduler:
        raise ReportInputError("--engine dask 需要 --scheduler 地址 / --engine dask needs --scheduler ADDRESS")
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportInputError(f"{out_dir} 不是文件夹 / is not a folder")
    paths = output_paths(out_dir, project_code, period)
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise ReportOutputExistsError(f"{existing[0]} 已存在，使用 --overwrite 覆盖 / exists; use --overwrite to replace it")
    stored = snapshot.find_run(conn, project_code, period)       # also: ReportInputError for an unknown project
    fresh = stored is None or recompute
    steps = (["check"] if fresh and run_check else []) + ["snapshot", "charts", *FORMATS]
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(steps), desc=f"report {project_code} {period}", unit="step",
               disable=None if progress is None else not progress)
    written: list[Path] = []
    hits = None
    try:
        def step(name: str, started: float) -> None:
            seconds[name] = round(time.perf_counter() - started, 3)
            bar.set_postfix_str(name)
            bar.update(1)

        if fresh and run_check:
            t = time.perf_counter()
            from supervision.engines import run_check as check_with

            result = check_with(conn, project_code, engine=engine, scheduler=scheduler)
            hits = result.hits
            audit.append(conn, actor=audit.cli_actor(), action="check.run", object_type="project",
                         object_key=project_code,
                         details={"rules": sorted(hits), "alerts": dict(sorted(hits.items())),
                                  "total": sum(hits.values()), "engine": engine, "by": "report",
                                  "not_measurable": {k: v for k, v in sorted(result.not_measurable.items()) if v}})
            step("check", t)
        t = time.perf_counter()
        run = snapshot.take(conn, project_code, period, engine=engine, recompute=recompute)
        step("snapshot", t)
        t = time.perf_counter()
        data = gather(conn, run)
        step("charts", t)
        out_dir.mkdir(parents=True, exist_ok=True)
        writers = {"xlsx": xlsx.write, "pdf": pdf.write, "html": html.write}
        outputs = []
        for fmt in FORMATS:
            t = time.perf_counter()
            target = paths[fmt]
            tmp = target.with_name(target.name + ".part")
            writers[fmt](data, tmp)
            written.append(tmp)
            tmp.replace(target)
            written[-1] = target
            outputs.append({"file": target.name, "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                            "bytes": target.stat().st_size})
            step(fmt, t)
        if not run.reused:
            snapshot.record_outputs(conn, run.id, outputs)
        audit.append(conn, actor=audit.cli_actor(), action="report.run", object_type="project",
                     object_key=project_code,
                     details={"period": period, "run_id": run.id, "reused": run.reused, "engine": run.engine,
                              "alert_set_sha256": run.alert_set_sha256, "outputs": outputs})
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    return ReportResult(project_code, period, run, paths, hits, seconds)
