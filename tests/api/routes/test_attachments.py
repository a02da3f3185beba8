"""``POST /attachments``: streamed with a cap (413, nothing stored), checked by decoding (422)."""

from __future__ import annotations

import io
import socket

import pytest
from sqlalchemy import text

from expro.settings import get_settings
from supervision import alert_loop
from tests.api.conftest import PASSWORD, token
from tests.supervision.test_uploads import pdf, picture, png_bomb


@pytest.fixture
def attach(client, project, conn, tmp_path):
    """A function posting one file as the field crew member S001; the store is under tmp_path."""
    settings = get_settings().model_copy(update={"home": tmp_path / "home"})
    client.app.dependency_overrides[get_settings] = lambda: settings
    headers = token(client, "S001")

    def post(name: str, content: bytes, media: str = "application/octet-stream"):
        return client.post("/attachments", headers=headers, files={"file": (name, io.BytesIO(content), media)})
    yield post
    client.app.dependency_overrides.pop(get_settings, None)


def _stored(conn, tmp_path) -> tuple[int, list]:
    rows = conn.execute(text("SELECT count(*) FROM attachment")).scalar_one()
    files = list((tmp_path / "home" / "attachments").glob("*")) if (tmp_path / "home" / "attachments").exists() else []
    return rows, files


def test_real_files_are_kept_by_their_hash(attach, conn, tmp_path):
    for name, content, media in [("照片.png", picture("PNG"), "image/png"), ("现场.jpg", picture("JPEG"), "image/jpeg"),
                                 ("报告.pdf", pdf(), "application/pdf")]:
        res = attach(name, content)
        assert res.status_code == 201, res.text
        assert res.json()["media_type"] == media and res.json()["file_name"] == name
    assert _stored(conn, tmp_path)[0] >= 3
    assert not list((tmp_path / "home" / "uploads").iterdir())          # the spool is removed


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
                                     b"%PDF-1.7\n<html><script>alert(1)</script></html>"])
def test_a_magic_header_followed_by_html_is_refused(attach, conn, tmp_path, content):
    before = _stored(conn, tmp_path)
    res = attach("evil.png", content, "image/png")
    assert res.status_code == 422
    assert _stored(conn, tmp_path) == before


def test_decompression_bomb_is_refused_and_not_stored(attach, conn, tmp_path):
    before = _stored(conn, tmp_path)
    res = attach("bomb.png", png_bomb(20000, 20000), "image/png")
    assert res.status_code == 413 and "megapixels" in res.json()["detail"]
    assert _stored(conn, tmp_path) == before


def test_past_the_cap_the_upload_is_refused_while_streaming(attach, conn, tmp_path, monkeypatch):
    monkeypatch.setattr(alert_loop, "MAX_ATTACHMENT_BYTES", 100_000)
    before = _stored(conn, tmp_path)
    big = picture("PNG", (10, 10)) + b"\0" * 200_000
    res = attach("big.png", big, "image/png")
    assert res.status_code == 413 and "MB" in res.json()["detail"]
    spool = tmp_path / "home" / "uploads"
    assert _stored(conn, tmp_path) == before and not (spool.exists() and list(spool.iterdir()))


def test_the_body_is_not_read_past_the_cap(live_server, project, monkeypatch):
    """Over a real socket: the server answers 413 once the cap is passed, before the body has been sent."""
    import httpx

    monkeypatch.setattr(alert_loop, "MAX_ATTACHMENT_BYTES", 100_000)
    bearer = httpx.post(f"{live_server.url}/auth/token", data={"username": "S001", "password": PASSWORD})
    head = (f"POST /attachments HTTP/1.1\r\nHost: {live_server.host}\r\n"
            f"Authorization: Bearer {bearer.json()['access_token']}\r\n"
            "Content-Type: multipart/form-data; boundary=XYZ\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    part = (b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n" % len(data) + data + b"\r\n"

    with socket.create_connection((live_server.host, live_server.port), timeout=10) as sock:
        sock.sendall(head + chunk(part))
        for _ in range(4):                          # 256 KiB of the 12.5 MiB announced by nothing but chunks
            sock.sendall(chunk(b"\0" * 65536))
        sock.settimeout(10)
        answer = sock.recv(4096)                    # the old code waited for the whole body before answering
    assert answer.startswith(b"HTTP/1.1 413")
