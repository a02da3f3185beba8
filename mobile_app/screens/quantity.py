"""The building quantity form: structure, storeys, dimensions → area, checked as typed; the server's prompts
from the per-case check shown as soon as the record comes back."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from mobile_app import field, views
from mobile_app.screens.common import GREEN, RED, FieldScreen, WrapLabel

Builder.load_file(str(Path(__file__).with_name("quantity.kv")))

STRUCTURE_BY_ZH = {zh: code for code, zh in views.STRUCTURE_ZH.items()}


class QuantityScreen(FieldScreen):
    """Collects building lines; views.check_building_form checks them."""

    def refresh(self) -> None:
        """Show the record's state, the server's prompts and the lines not yet saved."""
        app = self.app
        if not app.household_no:
            return
        self.ids.bar.title = f"核量 · {app.household_no}"
        self.ids.structure.values = [views.STRUCTURE_ZH[c] for c in field.STRUCTURES]
        if not hasattr(self, "lines"):
            self.lines: list[dict] = []
        status = views.quantity_status(app.store.quantity_record(app.project_code, app.household_no))
        self.ids.status.text = f"核量记录：{status.state_zh}"
        prompts = self.ids.prompts
        prompts.clear_widgets()
        for text in status.prompts:
            prompts.add_widget(WrapLabel(text=f"服务器提示：{text}", color=RED))
        self.show_lines(status.lines)
        self.check()

    def values(self) -> dict[str, str]:
        """What the form holds, with the structure as its code."""
        ids = self.ids
        return {"building_no": ids.building_no.text, "structure_type": STRUCTURE_BY_ZH.get(ids.structure.text, ""),
                "storeys": ids.storeys.text, "length_m": ids.length_m.text, "width_m": ids.width_m.text,
                "unit_price_yuan": ids.unit_price_yuan.text}

    def check(self) -> views.FormCheck:
        """Check the form as typed: an error under each field, the area once it can be computed."""
        result = views.check_building_form(self.values())
        for key in views.FORM_FIELDS:
            self.ids[f"err_{key}"].text = result.errors.get(key, "")
        self.ids.area.text = result.area_text or "填写长、宽、层数后自动计算面积"
        self.ids.area.color = GREEN if result.line else (0.3, 0.3, 0.3, 1)
        self.ids.add.disabled = result.line is None
        self.ids.save.disabled = not self.lines
        return result

    def show_lines(self, saved: list[dict]) -> None:
        """The lines added on this screen (and the saved record's)."""
        box = self.ids.lines
        box.clear_widgets()
        for line in saved + self.lines:
            structure = views.STRUCTURE_ZH.get(line.get("structure_type") or "", "")
            box.add_widget(WrapLabel(text=f"{line['building_no']}  {structure}  {line.get('storeys')} 层  "
                                          f"{line['quantity']} ㎡  {line['amount_yuan']} 元"))

    def add(self) -> None:
        """Add the checked line to the record being made."""
        result = self.check()
        if result.line is None:
            return
        self.lines.append(result.line)
        for key in ("building_no", "storeys", "length_m", "width_m"):
            self.ids[key].text = ""
        self.refresh()

    def save(self) -> None:
        """Queue the record (sent at the next sync; the per-case check's prompts come back with it)."""
        why = self.app.record_quantities(self.lines)
        if why:
            self.ids.status.text = f"未保存：{why}"
            self.ids.status.color = RED
            return
        self.lines = []
        self.refresh()
