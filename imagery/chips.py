"""Image chips: a small window of an orthophoto COG around a subject, with outlines drawn on it (PNG).

The inspector's workbench and the evidence pack show the subject of an alert in both flights: the pixels of
the window are read from the flight's COG (an overview when the window is large), in the project's CRS, and
the claimed outline and the measured footprints are drawn on them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from imagery.errors import ImageryError

#: Chip size in pixels (the long side).
CHIP_PX = 384
#: Colours of what is drawn: the claimed outline (red), the footprints measured in this flight (yellow).
CLAIMED_RGB = (230, 40, 40)
MEASURED_RGB = (255, 214, 0)


class ChipError(ImageryError, ValueError):
    """A chip cannot be cut (empty window, unreadable COG)."""


@dataclass(frozen=True)
class Outline:
    """A geometry to draw on a chip (project CRS), its colour and line width in pixels."""

    geom: shapely.Geometry
    rgb: tuple[int, int, int]
    width: int = 2


class ChipReader:
    """Reads RGB windows of one orthophoto COG by bounds in its CRS (context manager)."""

    def __init__(self, cog_path: str | Path) -> None:
        self.path = Path(cog_path)
        self._ds: rasterio.DatasetReader | None = None

    def __enter__(self) -> ChipReader:
        try:
            self._ds = rasterio.open(self.path)
        except rasterio.RasterioIOError as exc:
            raise ChipError(f"影像文件无法读取 / cannot read the orthophoto {self.path.name}") from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None

    def read(self, bounds: tuple[float, float, float, float], max_px: int = CHIP_PX) -> np.ndarray:
        """RGB uint8 pixels (rows, cols, 3) of ``bounds``, at most ``max_px`` on the long side; white outside."""
        if self._ds is None:
            raise RuntimeError("ChipReader used outside its with block")
        ds = self._ds
        window = from_bounds(*bounds, transform=ds.transform)
        if window.width <= 0 or window.height <= 0:
            raise ChipError("影像窗口为空 / empty chip window")
        scale = max_px / max(window.width, window.height)
        rows = max(1, round(window.height * scale))
        cols = max(1, round(window.width * scale))
        bands = min(3, ds.count)
        data = ds.read(indexes=list(range(1, bands + 1)), window=window, out_shape=(bands, rows, cols),
                       boundless=True, fill_value=255, resampling=Resampling.bilinear)
        if data.dtype != np.uint8:
            hi = float(np.nanpercentile(data, 99.5)) or 1.0
            data = np.clip(data / hi * 255, 0, 255).astype(np.uint8)
        if bands == 1:
            data = np.repeat(data, 3, axis=0)
        return np.ascontiguousarray(np.transpose(data, (1, 2, 0)))


def padded_bounds(geoms: Iterable[shapely.Geometry], pad_m: float = 8.0,
                  min_size_m: float = 30.0) -> tuple[float, float, float, float]:
    """A square window around ``geoms`` with ``pad_m`` of margin, at least ``min_size_m`` wide."""
    parts = [g for g in geoms if g is not None and not g.is_empty]
    if not parts:
        raise ChipError("没有可显示的对象 / nothing to show on a chip")
    x0, y0, x1, y1 = shapely.GeometryCollection(parts).bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0, min_size_m - 2 * pad_m) / 2 + pad_m
    return cx - half, cy - half, cx + half, cy + half


def render_chip(rgb: np.ndarray | None, bounds: tuple[float, float, float, float], outlines: Sequence[Outline],
                label: str = "", px: int = CHIP_PX) -> bytes:
    """A PNG of ``rgb`` (or a grey field when None: no flight) covering ``bounds``, with ``outlines`` drawn."""
    from PIL import Image, ImageDraw

    if rgb is None:
        image = Image.new("RGB", (px, px), (200, 200, 200))
    else:
        image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = bounds
    sx, sy = image.width / (x1 - x0), image.height / (y1 - y0)

    def to_px(coords: np.ndarray) -> list[tuple[float, float]]:
        return [((x - x0) * sx, (y1 - y) * sy) for x, y in coords[:, :2]]

    for outline in outlines:
        for part in shapely.get_parts(outline.geom):
            if isinstance(part, shapely.Polygon):
                for ring in [part.exterior, *part.interiors]:
                    draw.line(to_px(shapely.get_coordinates(ring)), fill=outline.rgb, width=outline.width)
            elif isinstance(part, shapely.Point):
                (cx, cy), = to_px(shapely.get_coordinates(part))
                draw.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), outline=outline.rgb, width=outline.width)
            else:
                draw.line(to_px(shapely.get_coordinates(part)), fill=outline.rgb, width=outline.width)
    if label:
        _label(image, label)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _label(image, label: str) -> None:
    """Write ``label`` in the corner in a CJK font when one is installed (ASCII-safe fallback otherwise)."""
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(image)
    font: Any = None
    for path, index in (("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
                        ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0)):
        if Path(path).is_file():
            font = ImageFont.truetype(path, 16, index=index)
            break
    if font is None:
        font = ImageFont.load_default()
    box = draw.textbbox((6, 4), label, font=font)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(255, 255, 255))
    draw.text((6, 4), label, fill=(20, 20, 20), font=font)
