"""``GET /health``: public liveness with database and PostGIS versions."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from expro import db
from expro.errors import ExproError

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "the database is unreachable"}})
def health() -> JSONResponse:
    """Whether the API can reach PostGIS, with the PostgreSQL and PostGIS versions."""
    try:
        with db.transaction() as conn:
            found = db.versions(conn)
    except (OperationalError, InterfaceError, ExproError):
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "postgresql": found["postgresql"],
                         "postgis": found["postgis"], "postgis_full": found["postgis_full"],
                         "migration": found["migration"]})
