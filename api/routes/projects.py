"""Projects and their parcels."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, ProjectDep, SessionDep
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
def get_project(project: ProjectDep, conn: SessionDep) -> dict:
    """One project (404 if unknown)."""
    return projects.list_projects(conn, project["code"])[0]


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (WGS84)."""

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


@router.get("/{code}/parcels", response_model=FeatureCollection)
def project_parcels(project: ProjectDep, conn: SessionDep, user: CurrentUser) -> dict:
    """The project's parcels as WGS84 GeoJSON with their status (a field crew sees only assigned households)."""
    return projects.parcels_geojson(conn, project["id"], user)
