"""Streamed multipart uploads: the ``file`` part goes to disk under a size cap, text fields are bounded.

Nothing is spooled before its size is known: past the cap the upload is refused (413) while it
arrives. Used by the orthophoto and attachment routes; the file is then checked by content
(``imagery.ingest`` for orthophotos, ``supervision.uploads`` for everything else).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fastapi import HTTPException, Request, status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from supervision.uploads import UploadTooLargeError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FIELD_MAX_BYTES = 1024
#: Multipart overhead allowed on top of the file's cap when the declared Content-Length is checked.
ENVELOPE_BYTES = 64 * 1024


def too_large(limit_bytes: int) -> UploadTooLargeError:
    """The refusal of an upload past ``limit_bytes`` (mapped to 413)."""
    mib = limit_bytes / 1024**2
    return UploadTooLargeError(f"文件超过 {mib:.0f} MB 上限 / the file is larger than the upload limit of {mib:.0f} MB")


def multipart_body(fields: dict[str, str], description: str) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a streamed upload: a binary ``file`` and string ``fields``."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    properties.update({name: {"type": "string", "description": text} for name, text in fields.items()})
    return {"requestBody": {"required": True, "description": description, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file", *fields], "properties": properties}}}}}


@dataclass
class ReceivedUpload:
    """What a streamed upload brought: the file on disk, its name as sent, its size and the text fields."""

    path: Path
    filename: str
    size_bytes: int
    fields: dict[str, str] = field(default_factory=dict)


def _refuse(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


class _Sink:
    """python-multipart callbacks: the ``file`` part to ``target`` (size-capped), listed fields to memory."""

    def __init__(self, target: IO[bytes], limit_bytes: int, field_names: tuple[str, ...], default_name: str) -> None:
        self.target, self.limit_bytes, self.field_names = target, limit_bytes, field_names
        self.default_name = default_name
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_bytes = 0
        self._header_name, self._header_value = b"", b""
        self._headers: dict[bytes, bytes] = {}
        self._part: str | None = None
        self._buffer = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        def on_part_begin() -> None:
            self._headers, self._part, self._buffer = {}, None, bytearray()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            self._header_name += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self._header_value += data[start:end]

        def on_header_end() -> None:
            self._headers[self._header_name.strip().lower()] = self._header_value.strip()
            self._header_name, self._header_value = b"", b""

        def on_headers_finished() -> None:
            _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
            name = options.get(b"name", b"").decode("utf-8", "replace")
            if name == "file":
                if self.filename is not None:
                    raise _refuse("send one file per upload / 每次只上传一个文件")
                raw = options.get(b"filename", b"").decode("utf-8", "replace")
                self.filename = _clean_text(Path(raw.replace("\\", "/")).name, "file name") or self.default_name
            self._part = name

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if self._part == "file":
                self.file_bytes += end - start
                if self.file_bytes > self.limit_bytes:
                    raise too_large(self.limit_bytes)
                self.target.write(data[start:end])
            elif self._part in self.field_names:
                self._buffer += data[start:end]
                if len(self._buffer) > FIELD_MAX_BYTES:
                    raise _refuse(f"form field {self._part!r} is too long")

        def on_part_end() -> None:
            if self._part in self.field_names:
                self.fields[self._part] = _clean_text(self._buffer.decode("utf-8", "replace").strip(), self._part)

        return {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                "on_header_value": on_header_value, "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
                "on_part_end": on_part_end}


def _clean_text(value: str, what: str) -> str:
    """``value`` unless it holds characters no text column can store (NUL, control characters)."""
    if any(ord(c) < 32 and c not in "\t" for c in value):
        raise _refuse(f"{what} contains control characters / 含有控制字符")
    return value


@asynccontextmanager
async def receive_upload(request: Request, *, limit_bytes: int, upload_dir: Path, fields: tuple[str, ...] = (),
                         suffix: str = "", default_name: str = "upload") -> AsyncIterator[ReceivedUpload]:
    """Stream the request's multipart body to a temporary file in ``upload_dir`` (removed on exit).

    415 when the body is not multipart/form-data, 413 past ``limit_bytes`` (declared or received),
    422 when there is no ``file`` part or a field is too long.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the file as multipart/form-data")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes + ENVELOPE_BYTES:
        raise too_large(limit_bytes)
    upload_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=upload_dir, suffix=suffix, delete=True) as tmp:
        sink = _Sink(tmp, limit_bytes, fields, default_name)
        try:
            parser = MultipartParser(options[b"boundary"], sink.callbacks())
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except (HTTPException, UploadTooLargeError):
            raise
        except FormParserError as exc:
            raise _refuse("the multipart body is malformed / 上传格式错误") from exc
        tmp.flush()
        if sink.filename is None:
            raise _refuse("no file part named 'file' in the upload")
        yield ReceivedUpload(Path(tmp.name), sink.filename, sink.file_bytes, sink.fields)
