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
from api.routes import alerts, auth, cases, health, imagery, mvt, ogc, pages, progress, projects, public
from api.routes import workbench

WEB_STATIC = Path(str(files("web_map") / "static"))  # package data of web_map (setup.py), in a wheel too


#: Answers every route may give besides its own: the database is down (503).
DATABASE_RESPONSES: dict[int | str, dict] = {503: {"description": "database unavailable, try again later"}}
#: ... and, for the routes that need a signed-in user, no or a revoked token (401) or a role that may not (403).
SIGNED_IN_RESPONSES: dict[int | str, dict] = {
    401: {"description": "not signed in (no token, expired, revoked, or a cookie on a state-changing request)"},
    403: {"description": "the role may not do this"}, **DATABASE_RESPONSES}
#: The project (or alert) named in the path or the query does not exist or is not visible to the user.
NOT_FOUND: dict[int | str, dict] = {404: {"description": "unknown project, or no such alert visible to this user"}}
#: Every operation with a request body: FastAPI answers 400 when the body cannot be parsed at all.
MALFORMED_BODY = {"description": "the request body cannot be parsed"}
#: Every operation: ``api.middleware.RefuseUnstorableText`` answers 422 to text the database cannot store.
UNSTORABLE_TEXT = {"description": "invalid input (e.g. a NUL byte or an invalid character in a parameter)"}


#: The body of every refusal: a message in Chinese and English, and for some the missing archive items or the
#: problems of a refused package.
REFUSAL_SCHEMA: dict = {"title": "Refusal", "type": "object", "required": ["detail"], "properties": {
    "detail": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}],
               "description": "what was refused and why (中文 / English)"},
    "missing": {"type": "array", "items": {"type": "string"}, "description": "archive item codes still needed"},
    "problems": {"type": "array", "items": {"type": "object"}, "description": "a package's problems"}}}


def _document_common_refusals(app: FastAPI) -> None:
    """Declare the refusals any route may give (400 unparsable body, 422 unstorable text) in the OpenAPI."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Refusal"] = REFUSAL_SCHEMA
            validation = ({"$ref": "#/components/schemas/HTTPValidationError"}
                          if "HTTPValidationError" in components else None)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    if not isinstance(operation, dict):
                        continue
                    responses = operation.setdefault("responses", {})
                    responses.setdefault("422", dict(UNSTORABLE_TEXT))
                    if "requestBody" in operation:
                        responses.setdefault("400", dict(MALFORMED_BODY))
                    for code, response in responses.items():
                        if not str(code).startswith(("4", "5")):
                            continue
                        refusal = {"$ref": "#/components/schemas/Refusal"}
                        declared = (response.get("content") or {}).get("application/json", {}).get("schema")
                        if code == "422":   # FastAPI's validation errors, or a refusal with a message
                            options = [s for s in (declared, validation) if s] + [refusal]
                            unique = [o for n, o in enumerate(options) if o not in options[:n]]
                            response["content"] = {"application/json": {"schema": {"anyOf": unique}}}
                        elif declared is None:
                            response["content"] = {"application/json": {"schema": refusal}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    app.include_router(auth.router, responses=DATABASE_RESPONSES)
    app.include_router(projects.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(alerts.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(cases.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(progress.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(public.router, responses=DATABASE_RESPONSES)
    app.include_router(pages.router)
    app.include_router(imagery.router, responses=SIGNED_IN_RESPONSES)
    app.include_router(mvt.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(ogc.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(workbench.router, responses={**SIGNED_IN_RESPONSES, **NOT_FOUND})
    app.include_router(workbench.pages_router)
    _document_common_refusals(app)
    app.mount("/static", StaticFiles(directory=WEB_STATIC), name="static")
    return app
