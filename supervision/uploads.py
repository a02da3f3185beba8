"""Uploaded files checked by decoding, not by their name or first bytes: pictures, PDFs, videos.

One place for every upload the system keeps (alert attachments now, field captures next): the type
is sniffed from the content, then the file must decode as that type. Pictures are opened with
Pillow, their size is checked against a pixel cap *before* any pixel is decoded (a decompression
bomb is refused from its header), then every pixel is decoded; a PNG must end at its ``IEND``
chunk (nothing smuggled after it). A PDF must have its header, a ``startxref`` offset that points
at a cross-reference table or stream, and the ``%%EOF`` trailer. An MP4 / QuickTime video must be
a well-formed sequence of ISO boxes that starts with ``ftyp`` and holds ``moov`` and ``mdat``.
"""

from __future__ import annotations

import re
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from gis_core.files import sha256_file
from supervision.errors import SupervisionError

PNG, JPEG, WEBP, PDF, MP4, QUICKTIME = ("image/png", "image/jpeg", "image/webp", "application/pdf",
                                        "video/mp4", "video/quicktime")
IMAGE_TYPES = frozenset({PNG, JPEG, WEBP})
DOCUMENT_TYPES = frozenset({PDF})
VIDEO_TYPES = frozenset({MP4, QUICKTIME})
#: What content each kind of archive item accepts (DATA_FORMATS §5 kinds): a photo is a picture, a video a
#: video; documents and forms are PDFs or photographed pages; a signature is a picture or a PDF.
KIND_MEDIA_TYPES: dict[str, frozenset[str]] = {
    "photo": IMAGE_TYPES, "video": VIDEO_TYPES, "document": DOCUMENT_TYPES | IMAGE_TYPES,
    "form": DOCUMENT_TYPES | IMAGE_TYPES, "signature": IMAGE_TYPES | DOCUMENT_TYPES}
#: File name suffix a stored file gets from its checked type.
SUFFIX = {PNG: ".png", JPEG: ".jpg", WEBP: ".webp", PDF: ".pdf", MP4: ".mp4", QUICKTIME: ".mov"}
#: Largest picture accepted: 80 megapixels (a 48 MP drone or phone photo fits; a bomb does not).
MAX_IMAGE_PIXELS = 80_000_000
_PIL_FORMATS = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP"}
_QUICKTIME_BRANDS = {b"qt  "}
_PDF_TAIL_BYTES = 2048


class UploadError(SupervisionError, ValueError):
    """An uploaded file is refused: not of an accepted type, damaged, or too large."""


class UploadTooLargeError(UploadError):
    """An uploaded file is larger than allowed (bytes or pixels)."""


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed its check: its type (by content), size, SHA-256 and picture size."""

    media_type: str
    size_bytes: int
    sha256: str
    width_px: int | None = None
    height_px: int | None = None


def sniff_media_type(head: bytes) -> str | None:
    """The media type announced by a file's first bytes (at least 16), or None; not a proof (see check_file)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head[4:8] == b"ftyp":
        return QUICKTIME if head[8:12] in _QUICKTIME_BRANDS else MP4
    return None


def check_file(path: Path, *, allowed: Iterable[str], max_bytes: int, file_name: str | None = None,
               max_pixels: int = MAX_IMAGE_PIXELS) -> CheckedFile:
    """Check ``path`` by content against the ``allowed`` media types; raises UploadError.

    Parameters
    ----------
    path : the uploaded file on disk.
    allowed : the media types this kind of upload accepts (e.g. ``IMAGE_TYPES | DOCUMENT_TYPES``).
    max_bytes : the largest size accepted (UploadTooLargeError past it).
    file_name : the name the user gave, used in messages (never the server path).
    max_pixels : the largest picture accepted, width × height.
    """
    allowed = frozenset(allowed)
    name = file_name or "upload"
    size = path.stat().st_size
    if size > max_bytes:
        raise UploadTooLargeError(f"{name}: 文件超过 {max_bytes / 1024**2:.0f} MB 上限 / "
                                  f"larger than the limit of {max_bytes / 1024**2:.0f} MB")
    if size == 0:
        raise UploadError(f"{name}: 文件为空 / the file is empty")
    with open(path, "rb") as fh:
        media = sniff_media_type(fh.read(16))
    if media is None or media not in allowed:
        raise UploadError(f"{name}: 只接受 {_names(allowed)} 文件（按内容检查）/ only {_names(allowed)} files are "
                          "accepted (checked by content)")
    width = height = None
    if media in IMAGE_TYPES:
        width, height = _check_image(path, media, name, max_pixels)
    elif media == PDF:
        _check_pdf(path, size, name)
    else:
        _check_iso_boxes(path, size, name)
    return CheckedFile(media, size, sha256_file(path), width, height)


def _names(types: frozenset[str]) -> str:
    return "、".join(sorted(t.split("/")[1].upper() for t in types))


def _damaged(name: str, kind: str) -> UploadError:
    return UploadError(f"{name}: 不是完整有效的 {kind} 文件 / not a complete, valid {kind} file")


def _check_image(path: Path, media: str, name: str, max_pixels: int) -> tuple[int, int]:
    """Open (header only), check the pixel count, then decode every pixel; returns (width, height)."""
    kind = _PIL_FORMATS[media]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=[kind]) as im:
                width, height = im.size
                if width < 1 or height < 1:
                    raise _damaged(name, kind)
                if width * height > max_pixels:
                    raise UploadTooLargeError(
                        f"{name}: 图像 {width}×{height} 像素超过 {max_pixels / 1e6:.0f} 百万像素上限 / "
                        f"the picture's {width}×{height} pixels exceed the limit of {max_pixels / 1e6:.0f} megapixels")
                if kind == "JPEG":
                    im.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # decode every block, at 1/8 scale
                im.load()
    except UploadError:
        raise
    except Image.DecompressionBombError as exc:
        raise UploadTooLargeError(f"{name}: 图像像素超过 {max_pixels / 1e6:.0f} 百万像素上限 / the picture exceeds "
                                  f"the limit of {max_pixels / 1e6:.0f} megapixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise _damaged(name, kind) from exc
    if media == PNG:
        _check_png_ends_at_iend(path, name)
    return width, height


def _check_png_ends_at_iend(path: Path, name: str) -> None:
    """Walk the PNG chunks: the file must end right after ``IEND`` (nothing appended)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(8)
        while True:
            header = fh.read(8)
            if len(header) < 8:
                raise _damaged(name, "PNG")
            length, chunk_type = struct.unpack(">I4s", header)
            fh.seek(length + 4, 1)          # data and CRC (Pillow checked the CRCs while decoding)
            if chunk_type == b"IEND":
                break
            if fh.tell() > size:
                raise _damaged(name, "PNG")
        if fh.tell() != size:
            raise UploadError(f"{name}: PNG 结束标记之后还有数据 / data follows the end of the PNG picture")


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*\Z")
_XREF_AT = re.compile(rb"\s*(xref\b|\d+\s+\d+\s+obj\b)")


def _check_pdf(path: Path, size: int, name: str) -> None:
    """Header, ``startxref`` pointing at a cross-reference table or stream, ``%%EOF`` at the end."""
    with open(path, "rb") as fh:
        head = fh.read(16)
        if not re.match(rb"%PDF-\d\.\d", head):
            raise _damaged(name, "PDF")
        fh.seek(max(0, size - _PDF_TAIL_BYTES))
        tail = fh.read()
        found = _STARTXREF.search(tail)
        if found is None:
            raise _damaged(name, "PDF")
        offset = int(found.group(1))
        if not 0 < offset < size:
            raise _damaged(name, "PDF")
        fh.seek(offset)
        if _XREF_AT.match(fh.read(64)) is None:
            raise _damaged(name, "PDF")


def _check_iso_boxes(path: Path, size: int, name: str) -> None:
    """An MP4 / QuickTime file: top-level boxes that tile the file exactly, ``ftyp`` first, ``moov`` and ``mdat``."""
    seen: list[bytes] = []
    with open(path, "rb") as fh:
        offset = 0
        while offset < size:
            fh.seek(offset)
            header = fh.read(8)
            if len(header) < 8:
                raise _damaged(name, "video")
            box_size, box_type = struct.unpack(">I4s", header)
            if box_size == 1:
                large = fh.read(8)
                if len(large) < 8:
                    raise _damaged(name, "video")
                box_size = struct.unpack(">Q", large)[0]
            elif box_size == 0:
                box_size = size - offset       # the last box runs to the end of the file
            if box_size < 8 or offset + box_size > size:
                raise _damaged(name, "video")
            seen.append(box_type)
            offset += box_size
    if not seen or seen[0] != b"ftyp" or b"moov" not in seen or b"mdat" not in seen:
        raise _damaged(name, "video")
