"""Everything one report prints, gathered once from a stored run: items, figures, trend, map layers, charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, text

from reports import charts
from reports.labels import (CHANGE_ZH, SEVERITY_ZH, STATE_ZH, SUBJECT_ZH, VERDICT_ZH, rule_titles)
from reports.snapshot import AREA_RULES, Run, load_items, trend


@dataclass
class ReportData:
    """A run with its items (and their change against the previous run), trend and rendered charts."""

    run: Run
    items: pd.DataFrame
    previous_period: str | None
    trend: list[dict]
    titles: dict[str, str]
    charts: dict[str, bytes] = field(default_factory=dict)

    @property
    def open_items(self) -> pd.DataFrame:
        """The alerts open at the run (in it, not closed)."""
        return self.items[self.items["in_run"] & self.items["is_open"]]

    @property
    def resolved_items(self) -> pd.DataFrame:
        """The alerts open at the previous run and not any more."""
        return self.items[self.items["change"] == "resolved"]

    def rules(self) -> list[str]:
        """Rule codes with an open or a resolved alert, ordered by code."""
        shown = self.items[(self.items["in_run"] & self.items["is_open"]) | (self.items["change"] == "resolved")]
        return sorted(shown["rule_code"].unique().tolist())

    def title(self, rule: str) -> str:
        """The Chinese title of ``rule`` (the code when the model is unknown)."""
        return self.titles.get(rule, rule)


def _decorate(items: pd.DataFrame) -> pd.DataFrame:
    out = items.copy()
    out["severity_zh"] = out["severity"].map(SEVERITY_ZH).fillna(out["severity"])
    out["subject_type_zh"] = out["subject_type"].map(SUBJECT_ZH).fillna(out["subject_type"])
    out["state_zh"] = out["state"].map(STATE_ZH).fillna(out["state"])
    out["verdict_zh"] = out["verdict"].map(VERDICT_ZH).fillna("")
    out["change_zh"] = out["change"].map(CHANGE_ZH).fillna("")
    return out


def gather(conn: Connection, run: Run, *, with_charts: bool = True) -> ReportData:
    """The report data of ``run`` (charts rendered unless ``with_charts`` is false)."""
    items = _decorate(load_items(conn, run.id, run.previous_run_id))
    previous = None
    if run.previous_run_id is not None:
        previous = conn.execute(text("SELECT period FROM report_run WHERE id = :i"),
                                {"i": run.previous_run_id}).scalar()
    data = ReportData(run=run, items=items, previous_period=previous, trend=trend(conn, run.project_id, run.period),
                      titles=rule_titles())
    if with_charts:
        data.charts = {
            "distribution": charts.discrepancy_distribution(items),
            "villages": charts.by_village(run.figures),
            "trend": charts.trend_chart(data.trend),
            "map": _map(conn, run, items),
        }
    return data


def _map(conn: Connection, run: Run, items: pd.DataFrame) -> bytes:
    open_buildings = items[items["in_run"] & items["is_open"] & (items["subject_type"] == "building")]
    keys = sorted(open_buildings["subject_key"].unique().tolist())
    area_keys = set(open_buildings.loc[open_buildings["rule_code"].isin(AREA_RULES), "subject_key"])
    rows = conn.execute(text("""
        SELECT b.parcel_code || '/' || b.building_no AS key, ST_AsBinary(ST_Force2D(b.geom)) AS wkb
        FROM building b WHERE b.project_id = :p AND b.parcel_code || '/' || b.building_no = ANY(:k)
        ORDER BY 1"""), {"p": run.project_id, "k": keys}).mappings().all()
    buildings = [{"key": r["key"], "wkb": bytes(r["wkb"]), "area_rule": r["key"] in area_keys} for r in rows]
    parcels: list = []
    ortho = None
    for row in conn.execute(text("""
        SELECT id, phase, captured_on, COALESCE(cog_path, source_path) AS cog_path FROM orthophoto
        WHERE project_id = :p AND status <> 'refused'
        ORDER BY phase = 'baseline' DESC, cog_path IS NOT NULL DESC, captured_on DESC, id DESC"""),
            {"p": run.project_id}).mappings():
        if row["cog_path"] and Path(row["cog_path"]).is_file():     # the COG, else the catalogued GeoTIFF
            ortho = dict(row)
            break
    if ortho is None and buildings:
        parcels = [bytes(w) for w in conn.execute(text("""
            WITH box AS (SELECT ST_Expand(ST_Extent(b.geom)::geometry, 50) AS g FROM building b
                         WHERE b.project_id = :p AND b.parcel_code || '/' || b.building_no = ANY(:k))
            SELECT ST_AsBinary(ST_Force2D(pa.geom)) FROM parcel pa, box
            WHERE pa.project_id = :p AND pa.geom && ST_SetSRID(box.g, ST_SRID(pa.geom))
            ORDER BY pa.id LIMIT 20000"""), {"p": run.project_id, "k": keys}).scalars()]
    return charts.flagged_map(buildings, parcels, ortho)
