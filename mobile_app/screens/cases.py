"""My assigned cases: searched, with their stage and what is due, overdue first."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from mobile_app import views
from mobile_app.screens.common import FieldScreen, RowButton

Builder.load_file(str(Path(__file__).with_name("cases.kv")))


def row_text(row: views.CaseRow) -> str:
    """One case as its row shows it."""
    due = f"截止 {row.due_on}" if row.due_on else "无截止日期"
    flag = "[color=ffb0a0][b]逾期[/b][/color]  " if row.overdue else ""
    waiting = f"  ·  待上传 {row.waiting}" if row.waiting else ""
    mine = "" if row.assigned else "  ·  已不再指派给我"
    return (f"{flag}[b]{row.household_no}[/b]  {row.project_code}  {row.case_type_zh}\n"
            f"{row.stage_zh}（{row.stage_state_zh}）  ·  {due}{waiting}{mine}")


class CasesScreen(FieldScreen):
    """The list of my cases (views.case_rows)."""

    def refresh(self) -> None:
        """List the cases matching the search box."""
        rows = views.case_rows(self.app.store, self.ids.search.text)
        box = self.ids.rows
        box.clear_widgets()
        for row in rows:
            button = RowButton(text=row_text(row), locked=not row.assigned)
            button.bind(on_release=lambda _b, r=row: self.open(r))
            box.add_widget(button)
        self.ids.count.text = f"共 {len(rows)} 户" + ("" if rows else "（请先同步）")

    def open(self, row: views.CaseRow) -> None:
        """Open a case."""
        self.app.project_code, self.app.household_no = row.project_code, row.household_no
        self.app.go("case")
