"""Child process: the area part of `expro check` (four models) on one project; prints one JSON line.

Usage: python benchmarks/area_check/expro_side.py PROJECT_CODE [--trace]

The session is set up as ``supervision.models.run_all`` sets it up (JIT off for the check).
``--trace`` adds every SQL statement slower than 50 ms with its duration to the output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from sqlalchemy import event, text  # noqa: E402

from expro import db  # noqa: E402
from memwatch import BackendMemory, peak_rss_mb  # noqa: E402
from supervision import area_metrics  # noqa: E402
from supervision.models import (area_inflated, not_at_baseline, not_demolished, outside_scope,  # noqa: E402
                                prepare_check)
from supervision.projects import get_project  # noqa: E402

MODELS = (area_inflated, not_at_baseline, not_demolished, outside_scope)


def main() -> None:
    """Time the four area models in one transaction, committed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("code")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    engine = db.get_engine()
    trace: list[tuple[float, str]] = []
    if args.trace:
        @event.listens_for(engine, "before_cursor_execute")
        def _start(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _end(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            dt = time.perf_counter() - conn.info.pop("t0")
            if dt > 0.05:
                trace.append((round(dt, 3), " ".join(statement.split())[:160]))
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.commit()
        code = args.code
        watch = BackendMemory(pid)
        watch.start()
        steps: dict[str, float] = {}
        hits: dict[str, int] = {}
        t0 = time.perf_counter()
        with conn.begin():
            prepare_check(conn)                           # as run_all does
            project = get_project(conn, code)
            t = time.perf_counter()
            area_metrics.ensure(conn, project)   # what the first area model does; timed on its own
            steps["area_metrics"] = time.perf_counter() - t
            for module in MODELS:
                t = time.perf_counter()
                hits[module.MODEL.code] = module.MODEL.run(conn, project)
                steps[module.MODEL.code] = time.perf_counter() - t
            area_metrics.drop(conn)
        seconds = time.perf_counter() - t0
        mem = watch.stop()
    out = {"seconds": seconds, "steps": steps, "hits": hits, "peak_rss_mb": peak_rss_mb(), **mem}
    if args.trace:
        out["trace"] = trace
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
