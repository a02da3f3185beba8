"""Projects and their parcels."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from supervision import projects

router = APIRouter(prefix="/projects", tags=["projects"])


class ProjectPublic(BaseModel):
    """A project with its main figures."""

    code: str
    name: str
    county_code: str
    srid: int
    pre_announcement_date: dt.date
    announcement_date: dt.date | None
    households: int
    parcels: int
    buildings: int
    open_alerts: int


@router.get("", response_model=list[ProjectPublic])
def list_projects(conn: SessionDep, user: CurrentUser) -> list[dict]:
    """Every project."""
    return projects.list_projects(conn)


@router.get("/{code}", response_model=ProjectPublic)
def get_project(code: str, conn: SessionDep, user: CurrentUser) -> dict:
    """One project (404 if unknown)."""
    projects.get_project(conn, code)
    return next(p for p in projects.list_projects(conn) if p["code"] == code)


@router.get("/{code}/parcels")
def project_parcels(code: str, conn: SessionDep, user: CurrentUser) -> dict:
    """The project's parcels as WGS84 GeoJSON with their status (a field crew sees only assigned households)."""
    project = projects.get_project(conn, code)
    return projects.parcels_geojson(conn, project["id"], user)
