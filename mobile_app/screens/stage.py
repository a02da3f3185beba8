"""A stage's checklist: each item's state (missing, captured, waiting to upload, uploaded, refused and why);
submit is disabled until the checklist is complete."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from mobile_app import field, views
from mobile_app.screens.common import AMBER, GREEN, GREY, RED, FieldScreen, WrapLabel

Builder.load_file(str(Path(__file__).with_name("stage.kv")))

STATE_COLOR = {"missing": RED, "captured": AMBER, "waiting": AMBER, "uploaded": GREEN, "refused": RED}


class ItemRow(BoxLayout):
    """One checklist item: its name, count, state and the capture button."""


class StageScreen(FieldScreen):
    """The open stage (views.stage_view)."""

    def refresh(self) -> None:
        """Lay out the checklist and set the submit button from the view."""
        app = self.app
        if not app.stage_code:
            return
        view = views.stage_view(app.store, app.project_code, app.household_no, app.stage_code)
        self.view = view
        self.ids.bar.title = f"{app.household_no} · {view.stage.name_zh}（{views.STAGE_STATE_ZH.get(view.stage.state, view.stage.state)}）"
        self.ids.progress.text = view.progress
        box = self.ids.rows
        box.clear_widgets()
        for row in view.rows:
            box.add_widget(self._row(row, view.workable))
        self.ids.submit.disabled = not view.submit_enabled
        self.ids.note.text = view.note or "清单已齐，可以提交"

    def _row(self, row: field.ChecklistRow, workable: bool) -> ItemRow:
        item = ItemRow()
        need = f"必填，至少 {row.min_count} 项" if row.mandatory else "选填"
        text = (f"[b]{row.name_zh}[/b]（{views.KIND_ZH.get(row.kind, row.kind)}，{need}）  "
                f"已有 {row.count}")
        if row.reasons:
            text += "\n被拒原因：" + "；".join(r.split(" / ")[0] for r in row.reasons)
        label = WrapLabel(text=text, markup=True)
        item.ids.info.add_widget(label)
        item.ids.state.text = views.ITEM_STATE_ZH[row.state]
        item.ids.state.color = STATE_COLOR[row.state]
        button: Button = item.ids.take
        button.text = "签名" if row.kind == "signature" else "采集"
        button.disabled = not workable
        button.bind(on_release=lambda _b, r=row: self.take(r))
        return item

    def take(self, row: field.ChecklistRow) -> None:
        """Capture an item: the signature pad for signatures, the capture screen for the rest."""
        self.app.item_code = row.code
        self.app.go("signature" if row.kind == "signature" else "capture")

    def submit(self) -> None:
        """Queue the submission (the gate is checked again in field.submit_stage, and on the server)."""
        why = self.app.submit()
        self.refresh()
        if why:
            self.ids.note.text = why
