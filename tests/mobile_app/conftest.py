"""Fixtures of the field app's tests: the API served live on real PostGIS, the survey stage of a case open."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from supervision.accounts import upsert_user
from tests.api.conftest import PASSWORD, LiveServer, live_server, project, token  # noqa: F401
from tests.api.routes.case_files import fill_stage, mp4, pdf, png
from tests.common import HOUSEHOLDS

HH1 = HOUSEHOLDS[0][0]
PROJECT = "T-001"
#: On the canonical household 0001's parcel (WGS84).
ON_SITE = (123.552789, 41.704966)


def closed_port_url() -> str:
    """The address of a local port nothing listens on (the server "unreachable")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def big_mp4(payload_bytes: int) -> bytes:
    """A well-formed MP4 container with a large ``mdat`` box."""
    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", 8 + len(body)) + kind + body
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov", b"\x00" * 16) + box(
        b"mdat", bytes(range(256)) * (payload_bytes // 256))


def write_file(folder: Path, kind: str, seed: int) -> Path:
    """A small valid file for an item kind, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "video":
        path, data = folder / f"clip{seed}.mp4", mp4()
    elif kind in ("document", "form"):
        path, data = folder / f"scan{seed}.pdf", pdf(f"scan {seed}")
    else:
        path, data = folder / f"photo{seed}.png", png(seed)
    path.write_bytes(data)
    return path


@dataclass
class Field:
    """The live server with the survey stage of HH1 open, and the crew's and a supervisor's headers."""

    server: LiveServer
    crew: dict[str, str]
    supervisor: dict[str, str]

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """A GET on the live server as the crew (or ``headers``)."""
        with httpx.Client(base_url=self.server.url, timeout=60) as http:
            return http.get(path, headers=headers or self.crew)


@pytest.fixture
def survey_open(live_server, project, conn):  # noqa: F811
    """The pre-announcement of HH1 captured, submitted and approved over HTTP: its survey is open."""
    upsert_user(conn, username="S012", name="冯涛", role="supervisor", password=PASSWORD)
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        crew, sup = token(http, "S001"), token(http, "S012")
        fill_stage(http, crew, HH1, "pre_announcement")
        base = f"/projects/{PROJECT}/cases/{HH1}/stages/pre_announcement"
        assert http.post(f"{base}/submit", headers=crew).status_code == 200
        res = http.post(f"{base}/review", headers=sup, json={"decision": "approve", "opinion": "同意"})
        assert res.status_code == 200, res.text
    return Field(live_server, crew, sup)
