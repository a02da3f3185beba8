"""Uploads checked by decoding: real pictures, PDFs and videos pass; disguised, damaged and bomb files do not."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from supervision.uploads import (DOCUMENT_TYPES, IMAGE_TYPES, JPEG, MP4, PDF, PNG, VIDEO_TYPES, UploadError,
                                 UploadTooLargeError, check_file)

ALL = IMAGE_TYPES | DOCUMENT_TYPES | VIDEO_TYPES
MB = 1024 * 1024


def picture(fmt: str, size=(40, 30)) -> bytes:
    """A small real picture in ``fmt``."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 90, 40)).save(out, format=fmt)
    return out.getvalue()


def pdf() -> bytes:
    """A minimal valid one-page PDF with a correct cross-reference table."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def mp4() -> bytes:
    """A structurally valid MP4 (ftyp, moov, mdat boxes)."""
    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov", box(b"mvhd", b"\x00" * 100)) + \
        box(b"mdat", b"\x00" * 64)


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit PNG of width × height zeros: a few kilobytes that decode to width × height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture
def write(tmp_path):
    def put(content: bytes, name="f.bin"):
        path = tmp_path / name
        path.write_bytes(content)
        return path
    return put


@pytest.mark.parametrize("content, media", [(lambda: picture("PNG"), PNG), (lambda: picture("JPEG"), JPEG),
                                            (pdf, PDF), (mp4, MP4)])
def test_real_files_pass_with_their_type(write, content, media):
    data = content()
    checked = check_file(write(data), allowed=ALL, max_bytes=MB)
    assert checked.media_type == media and checked.size_bytes == len(data) and len(checked.sha256) == 64
    if media in IMAGE_TYPES:
        assert (checked.width_px, checked.height_px) == (40, 30)


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",         # PNG header, then HTML
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,                                 # header only
    picture("PNG")[:-30],                                                # truncated picture
    picture("PNG") + b"<html><script>alert(1)</script></html>",          # a real PNG with HTML appended
    b"\xff\xd8\xff\xe0<html></html>",                                    # JPEG header, then HTML
    picture("JPEG")[:200],                                               # truncated JPEG
    b"%PDF-1.4\n<html><script>alert(1)</script></html>",                 # PDF header, then HTML
    pdf().replace(b"startxref\n", b"startxref\n9"),                      # cross-reference offset wrong
    pdf()[:-8],                                                          # no %%EOF
    mp4()[:-10],                                                         # truncated video
    b"<html><body>hello</body></html>",
])
def test_disguised_or_damaged_files_are_refused(write, content):
    with pytest.raises(UploadError):
        check_file(write(content), allowed=ALL, max_bytes=MB)


def test_decompression_bomb_is_refused_before_decoding(write):
    bomb = write(png_bomb(20000, 20000))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UploadTooLargeError, match="20000×20000|megapixels"):
        check_file(bomb, allowed=IMAGE_TYPES, max_bytes=MB)


def test_type_not_allowed_and_size_limit(write):
    with pytest.raises(UploadError, match="only"):
        check_file(write(mp4()), allowed=IMAGE_TYPES | DOCUMENT_TYPES, max_bytes=MB)
    with pytest.raises(UploadTooLargeError):
        check_file(write(picture("PNG", (400, 400))), allowed=IMAGE_TYPES, max_bytes=1000)
    with pytest.raises(UploadTooLargeError):
        check_file(write(picture("PNG", (400, 400))), allowed=IMAGE_TYPES, max_bytes=MB, max_pixels=10_000)
