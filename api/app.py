"""The FastAPI application factory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import expro
from api import errors
from api.deps import CurrentUser
from api.middleware import RefuseUnstorableText, SecurityHeaders
from api.routes import alerts, auth, health, imagery, pages, projects

WEB_STATIC = Path(str(files("web_map") / "static"))  # package data of web_map (setup.py), in a wheel too


def create_app() -> FastAPI:
    """A new application with every router, the error table, the security middleware and the map's static files."""
    app = FastAPI(title="Expro 征收监督", version=expro.__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    errors.register(app)
    app.add_middleware(RefuseUnstorableText)
    app.add_middleware(SecurityHeaders)        # outermost: the refusals get the headers too

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: CurrentUser) -> dict:
        """The OpenAPI description (signed-in users only)."""
        return app.openapi()

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(projects.router)
    app.include_router(alerts.router)
    app.include_router(pages.router)
    app.include_router(imagery.router)
    app.mount("/static", StaticFiles(directory=WEB_STATIC), name="static")
    return app
