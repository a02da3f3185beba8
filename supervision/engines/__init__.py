"""Where the supervision models run: ``local`` (PostGIS, the system of record) or ``dask`` (a Dask cluster
computing the area figures and the registry matching over GeoParquet exported from PostGIS; the hits come back
through the same alert recording, so alert sets, evidence and dispositions are those of the local engine)."""

from __future__ import annotations

from sqlalchemy import Connection

from supervision.errors import SupervisionError

ENGINES = ("local", "dask")


class EngineError(SupervisionError, ValueError):
    """An engine was asked for with bad arguments (unknown name, no scheduler), or its cluster failed."""


def run_check(conn: Connection, project_code: str, *, engine: str = "local", scheduler: str | None = None):
    """Run every supervision model on the project with ``engine``; a ``supervision.models.CheckResult``."""
    from supervision import models

    if engine == "local":
        return models.check(conn, project_code)
    if engine == "dask":
        if not scheduler:
            raise EngineError("--engine dask 需要 --scheduler 地址 / --engine dask needs --scheduler ADDRESS")
        from supervision.engines.dask_engine import check as dask_check

        return dask_check(conn, project_code, scheduler=scheduler)
    raise EngineError(f"未知的计算引擎 / unknown engine {engine!r}; known: {', '.join(ENGINES)}")
