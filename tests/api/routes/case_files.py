"""Real files of every kind for capture tests, and a client helper that fills a stage's archive."""

from __future__ import annotations

import io
import struct
import uuid

from fastapi.testclient import TestClient
from PIL import Image

#: A position on the canonical household 0001's parcel (WGS84), and one 2 km away.
ON_SITE = (123.552789, 41.704966)
FAR_AWAY = (123.576, 41.704966)


def png(seed: int = 0) -> bytes:
    """A small PNG, different for every seed."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(buf, "PNG")
    return buf.getvalue()


def jpeg_with_exif(lon: float, lat: float, when: str = "2025:03:20 10:15:00") -> bytes:
    """A JPEG whose EXIF says when and where it was taken."""
    im = Image.new("RGB", (32, 24), (120, 80, 40))
    exif = im.getexif()
    exif.get_ifd(0x8769)[0x9003] = when

    def dms(value: float) -> tuple:
        d = int(value)
        m = int((value - d) * 60)
        s = round(((value - d) * 60 - m) * 60, 4)
        return (float(d), float(m), float(s))
    exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def pdf(text: str = "scan") -> bytes:
    """A one-page PDF."""
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text=text)
    return bytes(doc.output())


def mp4() -> bytes:
    """The smallest well-formed MP4 container: ftyp, moov, mdat boxes."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov", b"\x00" * 16) + box(b"mdat", b"\x00" * 64)


def file_for(kind: str, seed: int = 0) -> tuple[str, bytes, str]:
    """A valid file for an item kind: name, bytes, content type."""
    if kind == "video":
        return "clip.mp4", mp4(), "video/mp4"
    if kind == "document":
        return "scan.pdf", pdf(f"scan {seed}"), "application/pdf"
    return "photo.png", png(seed), "image/png"


def capture(client: TestClient, headers: dict, household_no: str, stage: str, item_code: str, *,
            kind: str = "photo", data: bytes | None = None, capture_uuid: str | None = None,
            position: tuple[float, float] | None = ON_SITE, accuracy_m: float | None = 5.0, seed: int = 0,
            extra: dict | None = None, project: str = "T-001"):
    """POST one capture; returns the response."""
    name, content, media = file_for(kind, seed)
    fields = {"capture_uuid": capture_uuid or str(uuid.uuid4()), "stage": stage, "item_code": item_code,
              "taken_at": "2025-03-20T10:15:00+08:00"}
    if position is not None:
        fields.update(lon=str(position[0]), lat=str(position[1]))
    if accuracy_m is not None:
        fields["accuracy_m"] = str(accuracy_m)
    fields.update(extra or {})
    return client.post(f"/projects/{project}/cases/{household_no}/captures", headers=headers, data=fields,
                       files={"file": (name, data if data is not None else content, media)})


def fill_stage(client: TestClient, headers: dict, household_no: str, stage: str, *, project: str = "T-001",
               skip: tuple[str, ...] = (), extra: dict[str, dict] | None = None) -> int:
    """Capture every mandatory item of ``stage`` as many times as needed; how many captures were sent."""
    detail = client.get(f"/projects/{project}/cases/{household_no}", headers=headers)
    assert detail.status_code == 200, detail.text
    items = next(s for s in detail.json()["stages"] if s["code"] == stage)["items"]
    sent = 0
    for item in items:
        if not item["mandatory"] or item["code"] in skip:
            continue
        for n in range(item["min_count"] - item["count"]):
            res = capture(client, headers, household_no, stage, item["code"], kind=item["kind"], seed=sent + n,
                          extra=(extra or {}).get(item["code"]), project=project)
            assert res.status_code == 201, (item["code"], res.text)
            sent += 1
    return sent
