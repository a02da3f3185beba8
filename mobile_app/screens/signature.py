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
    """Strokes follow the finger; ``strokes`` counts them."""

    strokes = 0

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        with self.canvas:
            Color(0.05, 0.05, 0.25, 1)
            touch.ud["line"] = Line(points=[*touch.pos], width=2.2)
        self.strokes += 1
        return True

    def on_touch_move(self, touch: Any) -> bool:
        line = touch.ud.get("line")
        if line is None or not self.collide_point(*touch.pos):
            return False
        line.points += [*touch.pos]
        return True

    def draw(self, points: list[tuple[float, float]]) -> None:
        """Draw one stroke through points given as fractions of the pad (used by the tour)."""
        with self.canvas:
            Color(0.05, 0.05, 0.25, 1)
            Line(points=[c for x, y in points for c in (self.x + x * self.width, self.y + y * self.height)],
                 width=2.2)
        self.strokes += 1

    def clear(self) -> None:
        """Wipe the pad."""
        self.canvas.clear()
        self.strokes = 0


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
