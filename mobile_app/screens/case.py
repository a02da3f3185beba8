"""A case: its stages in order; only the open one can be worked on, the later ones are locked."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from mobile_app import views
from mobile_app.screens.common import FieldScreen, RowButton

Builder.load_file(str(Path(__file__).with_name("case.kv")))


def row_text(row: views.StageRow) -> str:
    """One stage as its row shows it."""
    due = f"  ·  截止 {row.due_on}" if row.due_on else ""
    flag = "  [color=ffb0a0][b]逾期[/b][/color]" if row.overdue else ""
    lock = "（未开放，须先完成前面的环节）" if row.locked else ""
    now = "  [b]← 当前环节[/b]" if row.workable else ""
    return (f"{row.position}. [b]{row.name_zh}[/b]  {row.state_zh}{lock}{now}\n"
            f"必填 {row.done}/{row.mandatory} 项已齐{due}{flag}")


class CaseScreen(FieldScreen):
    """The open case's stages (views.stage_rows)."""

    def refresh(self) -> None:
        """List the stages; locked ones cannot be pressed."""
        app = self.app
        if not app.household_no:
            return
        case = app.store.case(app.project_code, app.household_no)
        self.ids.bar.title = f"案件 {case.household_no} · {views.CASE_TYPE_ZH.get(case.case_type, case.case_type)}"
        box = self.ids.rows
        box.clear_widgets()
        for row in views.stage_rows(app.store, app.project_code, app.household_no):
            button = RowButton(text=row_text(row), locked=row.locked, disabled=row.locked)
            button.bind(on_release=lambda _b, r=row: self.open(r))
            box.add_widget(button)

    def open(self, row: views.StageRow) -> None:
        """Open a stage's checklist."""
        self.app.stage_code = row.code
        self.app.go("stage")
