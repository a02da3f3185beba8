"""Resumable capture uploads (large videos over a field connection): a capture arrives in byte ranges.

A tus-like protocol on three routes (``api/routes/cases.py``): create the upload with the capture's fields
and its size (every check that needs no file runs at once), send byte ranges at the offset the server
reports (a range at another offset is refused, so nothing is written twice or skipped), ask the state at
any time. When the last byte arrives the file is checked by content and stored as an ordinary capture
(``supervision.cases.store_capture``): idempotent on ``capture_uuid`` like a one-shot capture.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from supervision import cases
from supervision.accounts import User
from supervision.orm import Capture, Case, CaptureUpload
from supervision.uploads import UploadTooLargeError


def start(session: Session, project: dict, case: Case, user: User, req: cases.CaptureRequest, size_bytes: int,
          part_dir: Path) -> tuple[CaptureUpload, bool]:
    """Begin (or find again) the upload of one capture; True when it was created now."""
    capture_id = cases.parse_uuid(req.capture_uuid)
    existing = session.scalars(select(CaptureUpload).where(CaptureUpload.capture_uuid == capture_id)).one_or_none()
    if existing is not None:
        if existing.case_id != case.id or existing.size_bytes != size_bytes:
            raise cases.CaseConflictError(f"capture_uuid {capture_id} 已用于另一上传 / capture_uuid {capture_id} "
                                          "belongs to another upload")
        return existing, False
    if session.scalars(select(Capture.id).where(Capture.capture_uuid == capture_id)).first() is not None:
        raise cases.CaseConflictError(f"capture_uuid {capture_id} 已存储 / capture_uuid {capture_id} is already stored")
    if size_bytes <= 0:
        raise cases.CaseRefusedError("size_bytes 必须为正数 / size_bytes must be positive")
    limit = cases.capture_limit_bytes(project)
    if size_bytes > limit:
        raise UploadTooLargeError(f"文件超过 {limit / 1024**2:.0f} MB 上限 / the capture is larger than the limit of "
                                  f"{limit / 1024**2:.0f} MB")
    cases.check_capture_request(session, project, case, user, req)
    upload_id = uuid.uuid4()
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / f"{upload_id}.part"
    part.touch()
    row = CaptureUpload(id=upload_id, case_id=case.id, capture_uuid=capture_id, fields=asdict(req),
                        file_name=req.file_name, size_bytes=size_bytes, part_path=str(part), created_by=user.id)
    session.add(row)
    session.flush()
    return row, True


def get(session: Session, case: Case, upload_id: str, user: User, *, lock: bool = False) -> CaptureUpload:
    """The upload ``upload_id`` of the case, started by ``user`` (or any admin); locked for an append."""
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise cases.CaseNotFoundError(f"无此上传 / no upload {upload_id!r}") from None
    query = select(CaptureUpload).where(CaptureUpload.id == key, CaptureUpload.case_id == case.id)
    row = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise cases.CaseNotFoundError(f"无此上传 / no upload {upload_id}")
    if row.created_by != user.id and user.role != "admin":
        raise cases.CaseForbiddenError("这是他人的上传 / the upload belongs to someone else")
    return row


def check_offset(row: CaptureUpload, offset: int) -> None:
    """Refuse a range that does not start where the received bytes end."""
    if row.state != "receiving":
        raise cases.CaseConflictError(f"上传已结束（{row.state}）/ the upload has ended ({row.state})")
    if offset != row.received_bytes:
        raise cases.CaseConflictError(f"偏移量应为 {row.received_bytes} / Upload-Offset must be {row.received_bytes}, "
                                      f"not {offset}")


def received(session: Session, project: dict, case: Case, user: User, row: CaptureUpload, new_offset: int,
             store_dir: Path) -> Capture | None:
    """Record that the part file now holds ``new_offset`` bytes; at the end, store the capture (or the refusal)."""
    row.received_bytes = new_offset
    row.updated_at = dt.datetime.now(dt.UTC)
    if new_offset < row.size_bytes:
        session.flush()
        return None
    req = cases.CaptureRequest(**row.fields)
    part = Path(row.part_path)
    try:
        outcome = cases.store_capture(session, project, case, user, req, part, store_dir)
    except (cases.CaseRefusedError, cases.CaseConflictError) as exc:
        row.state, row.error = "refused", str(exc)
        session.flush()
        part.unlink(missing_ok=True)
        return None
    row.state = "complete"
    session.flush()
    part.unlink(missing_ok=True)
    return outcome.capture


def state(row: CaptureUpload) -> dict[str, Any]:
    """What a client needs to resume or finish: offset, size, state and error."""
    return {"upload_id": str(row.id), "capture_uuid": str(row.capture_uuid), "offset": row.received_bytes,
            "size_bytes": row.size_bytes, "state": row.state, "error": row.error}
