"""Sync status: what waits on the device and why, what the server refused and why, the last attempts."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from mobile_app import views
from mobile_app.screens.common import AMBER, RED, FieldScreen, WrapLabel

Builder.load_file(str(Path(__file__).with_name("sync.kv")))


class SyncScreen(FieldScreen):
    """views.sync_status laid out, and a button to sync now."""

    def refresh(self) -> None:
        """Show the status."""
        status = views.sync_status(self.app.store)
        self.ids.headline.text = status.headline
        box = self.ids.rows
        box.clear_widgets()
        for w in status.items:
            box.add_widget(WrapLabel(text=f"[b]{w.what}[/b]  [{w.state_zh}]\n{w.why}", markup=True,
                                     color=RED if w.state_zh == "被拒" else (0.1, 0.1, 0.1, 1)))
        if not status.items:
            box.add_widget(WrapLabel(text="本机没有等待上传的内容"))
        box.add_widget(WrapLabel(text="[b]最近同步[/b]", markup=True))
        for line in status.attempts or ["尚未同步"]:
            box.add_widget(WrapLabel(text=line, color=AMBER if "无法连接" in line else (0.3, 0.3, 0.3, 1)))

    def sync(self) -> None:
        """Sync now, then show what is left."""
        self.ids.headline.text = "正在同步…"
        report = self.app.sync_now()
        self.refresh()
        if report.outcome != "ok":
            self.ids.headline.text += f"（{views.OUTCOME_ZH.get(report.outcome, report.outcome)}）"
