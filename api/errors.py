"""Domain errors mapped to HTTP responses in one table, registered once on the app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from imagery.errors import (CogWriteError, FileTooLargeError, ImageryError, NotIngestedError,
                            OrthophotoNotFoundError, TileOutsideBoundsError, UnknownProjectError)
from supervision.accounts import AccountError
from supervision.alert_loop import AlertLoopError, AlertNotFoundError, AlertPermissionError
from supervision.errors import PackageError, ProjectNotFoundError, SupervisionError

log = logging.getLogger("expro.api")

#: exception class -> HTTP status; the first matching class (in order) wins.
STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (PackageError, 422),
    (ProjectNotFoundError, status.HTTP_404_NOT_FOUND),
    (AlertNotFoundError, status.HTTP_404_NOT_FOUND),
    (AlertPermissionError, status.HTTP_403_FORBIDDEN),
    (AlertLoopError, status.HTTP_409_CONFLICT),
    (AccountError, status.HTTP_400_BAD_REQUEST),
    (SupervisionError, status.HTTP_400_BAD_REQUEST),
    (FileTooLargeError, 413),
    (OrthophotoNotFoundError, status.HTTP_404_NOT_FOUND),
    (UnknownProjectError, status.HTTP_404_NOT_FOUND),
    (TileOutsideBoundsError, status.HTTP_404_NOT_FOUND),
    (NotIngestedError, status.HTTP_409_CONFLICT),
    (CogWriteError, status.HTTP_500_INTERNAL_SERVER_ERROR),
    (ImageryError, 422),  # a user's file that is not a usable orthophoto
]


def _body(exc: Exception) -> dict:
    if isinstance(exc, PackageError):
        return {"detail": "package refused, nothing written", "problems": [
            {"file": i.file, "row": i.row, "column": i.column, "problem": i.message_en, "问题": i.message_zh}
            for i in exc.issues]}
    return {"detail": str(exc)}


def register(app: FastAPI) -> None:
    """Install the handlers on ``app``."""
    for cls, code in STATUS_BY_ERROR:
        def handler(request: Request, exc: Exception, code: int = code) -> JSONResponse:
            return JSONResponse(_body(exc), status_code=code)
        app.add_exception_handler(cls, handler)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
    app.add_exception_handler(Exception, unexpected)
