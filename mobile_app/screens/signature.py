"""A signature pad drawn on a Kivy canvas and kept as a PNG capture of the open signature item."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kivy.graphics import Color, Line
from kivy.lang import Builder
from kivy.uix.widget import Widget

from mobile_app import views
from mobile_app.screens.common import GREEN, RED, FieldScreen

Builder.load_file(str(Path(__file__).with_name("signature.kv")))


class SignaturePad(Widget):
    """Strokes follow the finger; kept as fractions of the pad so that a new layout redraws them in place."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.lines: list[list[tuple[float, float]]] = []
        self.bind(pos=lambda *_: self._redraw(), size=lambda *_: self._redraw())

    @property
    def strokes(self) -> int:
        """How many strokes are on the pad."""
        return len(self.lines)

    def _fraction(self, pos: tuple[float, float]) -> tuple[float, float]:
        return (pos[0] - self.x) / max(self.width, 1), (pos[1] - self.y) / max(self.height, 1)

    def _redraw(self) -> None:
        self.canvas.clear()
        with self.canvas:
            Color(0.05, 0.05, 0.25, 1)
            for stroke in self.lines:
                Line(points=[c for x, y in stroke for c in (self.x + x * self.width, self.y + y * self.height)],
                     width=2.2)

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        touch.ud["stroke"] = [self._fraction(touch.pos)]
        self.lines.append(touch.ud["stroke"])
        self._redraw()
        return True

    def on_touch_move(self, touch: Any) -> bool:
        stroke = touch.ud.get("stroke")
        if stroke is None or not self.collide_point(*touch.pos):
            return False
        stroke.append(self._fraction(touch.pos))
        self._redraw()
        return True

    def draw(self, points: list[tuple[float, float]]) -> None:
        """Add one stroke through points given as fractions of the pad (used by the tour)."""
        self.lines.append(list(points))
        self._redraw()

    def clear(self) -> None:
        """Wipe the pad."""
        self.lines = []
        self._redraw()


class SignatureScreen(FieldScreen):
    """The pad, the position against the limit, and keep."""

    def refresh(self) -> None:
        """Name the item and show the position check."""
        app = self.app
        if not app.item_code:
            return
        items = {i.code: i for i in app.store.items(app.project_code, app.household_no, app.stage_code)}
        item = items.get(app.item_code)
        self.ids.bar.title = f"签名 · {item.name_zh if item else app.item_code}"
        limit = app.store.case(app.project_code, app.household_no).accuracy_limit_m
        check = views.position_check(app.fix, "signature", limit)
        self.ids.position.text = check.text
        self.ids.position.color = GREEN if check.ok else RED
        self.ids.result.text = ""

    def save(self) -> None:
        """Save the pad as PNG and keep it as a capture."""
        pad: SignaturePad = self.ids.pad
        if not pad.strokes:
            self.ids.result.text = "请先签名"
            return
        folder = Path(tempfile.mkdtemp(prefix="signature-", dir=self.app.data_dir))
        path = folder / "signature.png"
        pad.export_to_png(str(path))
        why = self.app.take_capture(path)
        path.unlink(missing_ok=True)
        folder.rmdir()
        if why:
            self.ids.result.text = f"未保存：{why}"
            return
        pad.clear()
        self.app.go("stage")
