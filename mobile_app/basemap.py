"""The offline basemap: the assigned parcels and the project's orthophoto tiles around them, kept on the device.

At each sync the parcels the crew member may see (``GET /projects/{code}/parcels``, WGS84 GeoJSON) and the
newest ingested orthophoto (``GET /orthophotos``) are fetched, then the 256 px WebMercatorQuad tiles
(``GET /tiles/{id}/{z}/{x}/{y}.png``) that cover the parcels at the zoom that fits them on the screen and the
next two, up to a tile budget. Tiles already kept are not fetched again (they are keyed by the orthophoto's
id and its COG's hash); a tile the server has not (outside the flight) is remembered as empty. Every file is
written to a temporary name and renamed, so a kill leaves no half tile. No Kivy here: the map screen reads
:class:`Basemap`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobile_app.sync import SyncClient

TILE_PX = 256
MAX_ZOOM = 22
#: How many tiles a sync keeps per project at most.
MAX_TILES = 400
#: The screen the zoom is fitted to (the tablet in landscape).
VIEW_PX = (1280, 800)

BBox = tuple[float, float, float, float]          # lon_min, lat_min, lon_max, lat_max


def world_px(lon: float, lat: float, z: int | float) -> tuple[float, float]:
    """Web Mercator pixel coordinates of a WGS84 point at zoom ``z`` (y grows southwards)."""
    size = TILE_PX * 2.0**z
    lat = max(-85.05112878, min(85.05112878, lat))
    s = math.sin(math.radians(lat))
    return (lon + 180.0) / 360.0 * size, (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * size


def lonlat(x: float, y: float, z: int | float) -> tuple[float, float]:
    """The WGS84 point at Web Mercator pixel ``x, y`` of zoom ``z``."""
    size = TILE_PX * 2.0**z
    lon = x / size * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / size))))
    return lon, lat


def fit_zoom(bbox: BBox, width_px: int, height_px: int, *, max_zoom: int = MAX_ZOOM) -> int:
    """The largest zoom at which ``bbox`` fits in ``width_px`` × ``height_px``."""
    for z in range(max_zoom, -1, -1):
        x0, y0 = world_px(bbox[0], bbox[3], z)
        x1, y1 = world_px(bbox[2], bbox[1], z)
        if x1 - x0 <= width_px and y1 - y0 <= height_px:
            return z
    return 0


def tiles_for(bbox: BBox, z: int) -> list[tuple[int, int]]:
    """The tiles ``(x, y)`` of zoom ``z`` that cover ``bbox``."""
    x0, y0 = world_px(bbox[0], bbox[3], z)
    x1, y1 = world_px(bbox[2], bbox[1], z)
    last = 2**z - 1
    xs = range(max(0, int(x0 // TILE_PX)), min(last, int(x1 // TILE_PX)) + 1)
    ys = range(max(0, int(y0 // TILE_PX)), min(last, int(y1 // TILE_PX)) + 1)
    return [(x, y) for y in ys for x in xs]


def _rings(geometry: dict[str, Any]) -> Iterator[list[list[float]]]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    for polygon in polygons:
        yield from polygon


def feature_bbox(features: list[dict[str, Any]]) -> BBox | None:
    """The WGS84 bounds of the features' polygons."""
    xs: list[float] = []
    ys: list[float] = []
    for f in features:
        for ring in _rings(f.get("geometry") or {}):
            xs.extend(p[0] for p in ring)
            ys.extend(p[1] for p in ring)
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def pad(bbox: BBox, share: float = 0.1, min_deg: float = 0.0005) -> BBox:
    """``bbox`` grown by ``share`` of its size on each side (at least ``min_deg``)."""
    dx = max((bbox[2] - bbox[0]) * share, min_deg)
    dy = max((bbox[3] - bbox[1]) * share, min_deg)
    return bbox[0] - dx, bbox[1] - dy, bbox[2] + dx, bbox[3] + dy


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class Basemap:
    """A project's basemap as kept on the device."""

    folder: Path
    project_code: str
    parcels: list[dict[str, Any]]
    orthophoto: dict[str, Any] | None
    zooms: list[int]
    tiles_kept: int

    def tile(self, z: int, x: int, y: int) -> Path | None:
        """The kept PNG of a tile, or None (not kept, or empty there)."""
        if self.orthophoto is None:
            return None
        path = self.folder / "tiles" / _ortho_key(self.orthophoto) / str(z) / str(x) / f"{y}.png"
        return path if path.is_file() else None

    def bbox(self) -> BBox | None:
        """The bounds of the assigned parcels."""
        return feature_bbox(self.parcels)

    def parcels_of(self, household_no: str) -> list[dict[str, Any]]:
        """The parcels of one household."""
        return [f for f in self.parcels if (f.get("properties") or {}).get("household_no") == household_no]

    def centroid(self, household_no: str) -> tuple[float, float] | None:
        """The mean vertex of a household's parcels (a point on a simple parcel), or None."""
        points = [p for f in self.parcels_of(household_no) for ring in _rings(f.get("geometry") or {})
                  for p in ring[:-1]]
        if not points:
            return None
        return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _ortho_key(ortho: dict[str, Any]) -> str:
    return f"{ortho['id']}-{str(ortho.get('cog_sha256') or ortho.get('sha256') or '')[:12]}"


@dataclass
class BasemapReport:
    """What one refresh did."""

    project_code: str
    parcels: int = 0
    orthophoto_id: int | None = None
    zooms: list[int] = field(default_factory=list)
    fetched: int = 0
    kept: int = 0
    empty: int = 0


class BasemapCache:
    """The basemaps of a store's folder (``basemap/PROJECT/``)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir) / "basemap"

    def folder(self, project_code: str) -> Path:
        """Where a project's basemap is kept."""
        return self.root / project_code

    def load(self, project_code: str) -> Basemap | None:
        """The kept basemap of a project, or None before the first refresh."""
        folder = self.folder(project_code)
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        parcels = json.loads((folder / "parcels.geojson").read_text(encoding="utf-8")).get("features", [])
        return Basemap(folder, project_code, parcels, meta.get("orthophoto"), list(meta.get("zooms", [])),
                       int(meta.get("tiles_kept", 0)))

    def refresh(self, client: SyncClient, project_code: str, *, max_tiles: int = MAX_TILES,
                view_px: tuple[int, int] = VIEW_PX) -> BasemapReport:
        """Fetch the parcels, the newest ingested orthophoto's record and the missing tiles around them."""
        report = BasemapReport(project_code)
        folder = self.folder(project_code)
        res = client.get(f"/projects/{project_code}/parcels")
        if res.status_code != 200:
            return report
        parcels = res.json()
        report.parcels = len(parcels.get("features", []))
        _write_atomic(folder / "parcels.geojson", json.dumps(parcels, ensure_ascii=False).encode("utf-8"))
        ortho = None
        listed = client.get("/orthophotos", params={"project": project_code})
        if listed.status_code == 200:
            ingested = [o for o in listed.json() if o.get("status") == "ingested"]
            # the crew works before demolition: the newest baseline flight, else the newest of any phase
            ingested.sort(key=lambda o: (o.get("phase") == "baseline", str(o.get("captured_on")), o["id"]),
                          reverse=True)
            ortho = ingested[0] if ingested else None
        bbox = feature_bbox(parcels.get("features", []))
        zooms: list[int] = []
        kept = 0
        if ortho is not None and bbox is not None:
            report.orthophoto_id = int(ortho["id"])
            area = pad(bbox)
            z0 = fit_zoom(area, *view_px)
            budget = max_tiles
            base = folder / "tiles" / _ortho_key(ortho)
            for z in range(z0, min(z0 + 2, MAX_ZOOM) + 1):
                wanted = tiles_for(area, z)
                if len(wanted) > budget:
                    break
                budget -= len(wanted)
                zooms.append(z)
                for x, y in wanted:
                    path = base / str(z) / str(x) / f"{y}.png"
                    empty = path.with_suffix(".none")
                    if path.is_file():
                        kept += 1
                        continue
                    if empty.is_file():
                        report.empty += 1
                        continue
                    tile = client.get(f"/tiles/{ortho['id']}/{z}/{x}/{y}.png")
                    if tile.status_code == 200:
                        _write_atomic(path, tile.content)
                        report.fetched += 1
                        kept += 1
                    elif tile.status_code == 404:
                        _write_atomic(empty, b"")
                        report.empty += 1
        report.zooms, report.kept = zooms, kept
        meta = {"orthophoto": ortho, "zooms": zooms, "tiles_kept": kept, "bbox": bbox}
        _write_atomic(folder / "meta.json", json.dumps(meta, ensure_ascii=False, default=str).encode("utf-8"))
        return report
