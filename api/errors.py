"""Domain errors mapped to HTTP responses in one table, registered once on the app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from api.middleware import UnstorableTextError, guard_statements
from expro.errors import DatabaseError

from imagery.errors import (CogWriteError, FileTooLargeError, ImageryError, NotIngestedError,
                            OrthophotoNotFoundError, TileOutsideBoundsError, UnknownProjectError)
from supervision.accounts import AccountError
from supervision.alert_loop import AlertLoopError, AlertPermissionError, AttachmentError
from supervision.alerts import AlertNotFoundError
from supervision.cases import (CaseConflictError, CaseError, CaseForbiddenError, CaseNotFoundError,
                              CaseRefusedError)
from supervision.casetypes import CaseTypeError
from supervision.documents import DocumentError
from supervision.errors import PackageError, ProjectNotFoundError, SupervisionError
from supervision.uploads import UploadError, UploadTooLargeError

log = logging.getLogger("expro.api")

#: exception class -> HTTP status; the most specific class of an exception (its MRO) wins.
STATUS_BY_ERROR: list[tuple[type[Exception], int]] = [
    (UnstorableTextError, 422),
    (UploadTooLargeError, 413),
    (UploadError, 422),
    (AttachmentError, 422),
    (PackageError, 422),
    (ProjectNotFoundError, status.HTTP_404_NOT_FOUND),
    (AlertNotFoundError, status.HTTP_404_NOT_FOUND),
    (AlertPermissionError, status.HTTP_403_FORBIDDEN),
    (AlertLoopError, status.HTTP_409_CONFLICT),
    (AccountError, status.HTTP_400_BAD_REQUEST),
    (CaseNotFoundError, status.HTTP_404_NOT_FOUND),
    (CaseForbiddenError, status.HTTP_403_FORBIDDEN),
    (CaseConflictError, status.HTTP_409_CONFLICT),
    (CaseRefusedError, 422),
    (CaseError, 422),
    (CaseTypeError, 422),
    (DocumentError, status.HTTP_409_CONFLICT),
    (SupervisionError, status.HTTP_400_BAD_REQUEST),
    (FileTooLargeError, 413),
    (OrthophotoNotFoundError, status.HTTP_404_NOT_FOUND),
    (UnknownProjectError, status.HTTP_404_NOT_FOUND),
    (TileOutsideBoundsError, status.HTTP_404_NOT_FOUND),
    (NotIngestedError, status.HTTP_409_CONFLICT),
    (CogWriteError, status.HTTP_500_INTERNAL_SERVER_ERROR),
    (ImageryError, 422),  # a user's file that is not a usable orthophoto
]

#: database failures: unreachable (503, try again later) or a value it cannot take (422); logged, never shown.
DATABASE_UNAVAILABLE = {"detail": "database unavailable, try again later / 数据库暂不可用，请稍后再试"}
DATABASE_ERRORS: list[tuple[type[Exception], int, dict]] = [
    (OperationalError, status.HTTP_503_SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE),
    (InterfaceError, status.HTTP_503_SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE),
    (DatabaseError, status.HTTP_503_SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE),
    (DataError, 422, {"detail": "a value is out of range or malformed / 数值超出范围或格式错误"}),
]


def _body(exc: Exception) -> dict:
    if isinstance(exc, PackageError):
        return {"detail": "package refused, nothing written", "problems": [
            {"file": i.file, "row": i.row, "column": i.column, "problem": i.message_en, "问题": i.message_zh}
            for i in exc.issues]}
    if isinstance(exc, CaseConflictError) and exc.missing is not None:
        return {"detail": str(exc), "missing": exc.missing}
    return {"detail": str(exc)}


def register(app: FastAPI) -> None:
    """Install the handlers on ``app`` (and the check of text given to the database)."""
    guard_statements()
    for cls, code in STATUS_BY_ERROR:
        def handler(request: Request, exc: Exception, code: int = code) -> JSONResponse:
            if isinstance(exc.__cause__, UploadTooLargeError):   # e.g. an AttachmentError over a too-large file
                code = 413
            return JSONResponse(_body(exc), status_code=code)
        app.add_exception_handler(cls, handler)

    for db_cls, db_code, db_body in DATABASE_ERRORS:
        def db_handler(request: Request, exc: Exception, code: int = db_code, body: dict = db_body) -> JSONResponse:
            log.warning("database error on %s %s: %s", request.method, request.url.path, exc.__class__.__name__,
                        exc_info=exc)
            return JSONResponse(body, status_code=code, headers={"Retry-After": "30"} if code == 503 else None)
        app.add_exception_handler(db_cls, db_handler)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
    app.add_exception_handler(Exception, unexpected)
