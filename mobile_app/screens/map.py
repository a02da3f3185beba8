"""The assigned parcels on the project's orthophoto, from the tiles kept on the device (mobile_app.basemap)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.graphics import Color, Line, Rectangle
from kivy.lang import Builder
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from mobile_app import basemap
from mobile_app.screens.common import FieldScreen

Builder.load_file(str(Path(__file__).with_name("map.kv")))

TILE_PX = 256


class ParcelMap(Widget):
    """Tiles and parcel outlines drawn on the canvas, centred on the parcels' bounds."""

    def show(self, kept: basemap.Basemap | None, household_no: str) -> str:
        """Draw the basemap; what it shows, in Chinese."""
        self.canvas.clear()
        self.clear_widgets()
        if kept is None or kept.bbox() is None:
            return "尚无离线底图：联网同步后自动下载"
        bbox = basemap.pad(kept.bbox())  # type: ignore[arg-type]
        w, h = max(int(self.width), 1), max(int(self.height), 1)
        z = basemap.fit_zoom(bbox, w, h)
        if kept.zooms:
            z = max((k for k in kept.zooms if k <= z), default=min(kept.zooms))
        # the parcels' bounds fill the view: tiles of zoom z drawn at scale s
        left, top = basemap.world_px(bbox[0], bbox[3], z)
        right, bottom = basemap.world_px(bbox[2], bbox[1], z)
        s = min(max(min(w / max(right - left, 1), h / max(bottom - top, 1)), 0.5), 8.0)
        cx, cy = (left + right) / 2, (top + bottom) / 2

        def screen(wx: float, wy: float) -> tuple[float, float]:
            return self.x + w / 2 + (wx - cx) * s, self.y + h / 2 - (wy - cy) * s

        tiles = 0
        with self.canvas:
            Color(0.85, 0.85, 0.82, 1)
            Rectangle(pos=self.pos, size=self.size)
            Color(1, 1, 1, 1)
            lon0, lat1 = basemap.lonlat(cx - w / 2 / s, cy - h / 2 / s, z)
            lon1, lat0 = basemap.lonlat(cx + w / 2 / s, cy + h / 2 / s, z)
            for tx, ty in basemap.tiles_for((lon0, lat0, lon1, lat1), z):
                path = kept.tile(z, tx, ty)
                if path is None:
                    continue
                x0, y0 = screen(tx * TILE_PX, (ty + 1) * TILE_PX)
                side = TILE_PX * s + 1                  # overlap by a pixel: no seams between tiles
                Rectangle(texture=CoreImage(str(path)).texture, pos=(x0, y0), size=(side, side))
                tiles += 1
            for feature in kept.parcels:
                props: dict[str, Any] = feature.get("properties") or {}
                mine = props.get("household_no") == household_no
                Color(*((1, 0.2, 0.1, 1) if mine else (1, 0.85, 0.0, 1)))
                for ring in basemap._rings(feature.get("geometry") or {}):
                    pts = [c for lon, lat in ring for c in screen(*basemap.world_px(lon, lat, z))]
                    Line(points=pts, width=3 if mine else 2, close=True)
        placed: list[tuple[float, float]] = []
        for feature in kept.parcels:
            hh = str((feature.get("properties") or {}).get("household_no") or "")
            points = [p for ring in basemap._rings(feature.get("geometry") or {}) for p in ring[:-1]]
            if not hh or not points:
                continue
            x, y = screen(*basemap.world_px(sum(p[0] for p in points) / len(points),
                                            sum(p[1] for p in points) / len(points), z))
            if any(abs(x - px) < 44 and abs(y - py) < 20 for px, py in placed):
                continue                                  # one label where parcels crowd
            placed.append((x, y))
            self.add_widget(Label(text=hh[-4:], center=(x, y), size=(80, 28), color=(1, 1, 1, 1),
                                  outline_width=2, outline_color=(0, 0, 0, 1), font_size="16sp"))
        photo = "正射影像" if kept.orthophoto else "无正射影像"
        return (f"已指派地块 {len(kept.parcels)} 块（标注户号末四位）· {photo} · 第 {z} 级，本机瓦片 {tiles} 张"
                "（离线可用）")


class MapScreen(FieldScreen):
    """The map of the assigned parcels."""

    def refresh(self) -> None:
        """Draw after layout, so the map knows its size."""
        from kivy.clock import Clock

        Clock.schedule_once(lambda _dt: self.draw(), 0)

    def draw(self) -> None:
        """Draw the first project's basemap with the open case's parcels highlighted."""
        app = self.app
        project = app.project_code or next((c.project_code for c in app.store.cases()), "")
        kept = app.basemaps.load(project) if project else None
        self.ids.info.text = self.ids.map.show(kept, app.household_no)
        self.ids.bar.title = f"地块地图 · {project}" + (f" · 本户 {app.household_no}（红框）" if app.household_no else "")
