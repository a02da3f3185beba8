"""The generated 核量单 and 协议书: Chinese text layer, figures and capitals, determinism, rendered pages."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from supervision.documents import (BuildingLine, CaseRecord, DocumentError, ItemLine, render_agreement,
                                   render_quantity_sheet, sha256_hex)
from supervision.numerals import yuan_in_capitals

def _record(**changes) -> CaseRecord:
    base = dict(
        project_code="HN-2025-01", project_name="浑南区李家村征收项目", village_name="李家村", household_no="H0007",
        head_name="单晓曾", head_id_number="210112********1234", case_type="residential",
        parcel_codes=("210112001001JC00007",),
        buildings=(BuildingLine("1", "brick_concrete", 2, D("168.40"), D("2800"), D("471520.00")),
                   BuildingLine("2", "simple", 1, D("24.55"), D("600"), D("14730.00"))),
        items=(ItemLine("attachment", "砖围墙", D("36"), "m2", D("80.50"), D("2898.00")),),
        surveyor_name="赵敏", surveyed_on=dt.date(2025, 4, 2))
    base.update(changes)
    return CaseRecord(**base)


def _text(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("render", [render_quantity_sheet, render_agreement])
def test_text_layer_shows_head_areas_and_totals(render, tmp_path: Path) -> None:
    rec = _record()
    text = _text(render(rec, "DOC-0001", dt.date(2025, 4, 2)), tmp_path, "doc.pdf")
    assert "单晓曾" in text and "DOC-0001" in text
    for b in rec.buildings:
        assert f"{b.floor_area_m2:.2f}" in text
    assert rec.total_yuan == D("489148.00")
    assert "489,148.00" in text
    assert yuan_in_capitals(rec.total_yuan) in text.replace(" ", "")
    assert "肆拾捌万玖仟壹佰肆拾捌元整" in text.replace(" ", "")


def test_same_record_same_document_and_a_changed_record_another(tmp_path: Path) -> None:
    rec = _record()
    a = render_quantity_sheet(rec, "HL-1", dt.date(2025, 4, 2))
    b = render_quantity_sheet(_record(), "HL-1", dt.date(2025, 4, 2))
    assert a == b and sha256_hex(a) == sha256_hex(b)
    assert _text(a, tmp_path, "a.pdf") == _text(b, tmp_path, "b.pdf")
    changed = render_quantity_sheet(_record(head_name="单晓增"), "HL-1", dt.date(2025, 4, 2))
    assert sha256_hex(changed) != sha256_hex(a)


def test_font_is_embedded_and_pages_render(tmp_path: Path) -> None:
    path = tmp_path / "agreement.pdf"
    path.write_bytes(render_agreement(_record(), "XY-1", dt.date(2025, 5, 1)))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(" yes " in f" {line} " for line in rows), fonts
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    img = np.asarray(Image.open(tmp_path / "page.png").convert("L"))
    dark = int((img < 128).sum())
    assert dark > 2000, "the page is blank"


def test_an_empty_record_is_refused() -> None:
    with pytest.raises(DocumentError, match="H0007"):
        render_quantity_sheet(_record(buildings=(), items=()), "HL-2", dt.date(2025, 4, 2))
