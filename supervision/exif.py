"""EXIF of a captured picture: when and where the camera says it was taken (kept beside what the app sent)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

#: EXIF tags (IFD0 / Exif IFD / GPS IFD numbers).
_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _EXIF_IFD, _GPS_IFD = 0x9003, 0x9011, 0x8769, 0x8825
_MAKE, _MODEL = 0x010F, 0x0110


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    sign = -1.0 if str(ref).strip().upper() in ("S", "W") else 1.0
    return round(sign * (d + m / 60 + s / 3600), 7)


def read(path: Path, media_type: str) -> dict:
    """``taken_at`` (ISO, with the EXIF offset when given), ``lon``/``lat`` (WGS84) and the camera, when the
    picture has them; an empty dict for other files or pictures without EXIF."""
    if not media_type.startswith("image/"):
        return {}
    try:
        with Image.open(path) as im:
            exif = im.getexif()
    except (UnidentifiedImageError, OSError):
        return {}
    out: dict[str, Any] = {}
    sub = exif.get_ifd(_EXIF_IFD)
    stamp = sub.get(_DATETIME_ORIGINAL)
    if isinstance(stamp, str):
        try:
            when = dt.datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S")
            offset = sub.get(_OFFSET_ORIGINAL)
            out["taken_at"] = when.isoformat() + (offset.strip() if isinstance(offset, str) else "")
        except ValueError:
            pass
    gps = exif.get_ifd(_GPS_IFD)
    if gps:
        lat = _degrees(gps.get(2), gps.get(1))
        lon = _degrees(gps.get(4), gps.get(3))
        if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
            out["lat"], out["lon"] = lat, lon
    camera = " ".join(str(exif.get(t, "")).strip() for t in (_MAKE, _MODEL)).strip()
    if camera:
        out["camera"] = camera.replace("\x00", "")
    return out
