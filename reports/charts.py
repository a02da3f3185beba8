"""The report's charts (matplotlib, Agg, CJK font): discrepancies, by village, trend, map of flagged buildings."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from reports.labels import cjk_font
from reports.snapshot import AREA_RULES

DPI = 150


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    path, _ = cjk_font()
    font_manager.fontManager.addfont(path)
    name = font_manager.FontProperties(fname=path).get_name()
    plt.rcParams["font.family"] = [name, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.hashsalt"] = "expro"
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def discrepancy_distribution(items: pd.DataFrame) -> bytes:
    """Histogram of the open area alerts' discrepancies (%), coloured by rule."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    area = items[items["is_open"] & items["rule_code"].isin(AREA_RULES)]
    pct = pd.to_numeric(area["evidence"].map(lambda e: (e or {}).get("discrepancy_pct")), errors="coerce")
    if pct.notna().any():
        values = pct.dropna().clip(upper=300)
        bins = np.linspace(0, max(50.0, float(values.max())), 25)
        ax.hist(values, bins=bins, color="#c0392b", edgecolor="white")
        ax.set_xlabel("多报面积占实测面积的比例（%，超过 300% 计为 300%）")
        ax.set_ylabel("房屋（幢）")
    else:
        _empty(ax, "本期无面积差异预警")
    extra = int((area["rule_code"] == "NOT_AT_BASELINE").sum())
    ax.set_title(f"面积差异分布（虚增面积 {int((area['rule_code'] == 'AREA_INFLATED').sum())} 幢；"
                 f"冻结前不存在 {extra} 幢，实测面积≈0 未计比例）" if extra else "面积差异分布")
    return _png(fig)


def by_village(figures: dict) -> bytes:
    """Open alerts and money at stake per village (bars, two axes)."""
    plt = _plt()
    villages = figures.get("by_village") or {}
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if not villages:
        _empty(ax, "本期无未办结预警")
        return _png(fig)
    names = list(villages)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [villages[n]["open"] for n in names], width=0.4, color="#2c7fb8", label="未办结预警（条）")
    ax.set_ylabel("预警（条）")
    ax2 = ax.twinx()
    ax2.bar(x + 0.2, [villages[n]["money_at_stake_yuan"] / 10_000 for n in names], width=0.4, color="#e6550d",
            label="涉及金额（万元）")
    ax2.set_ylabel("涉及金额（万元）")
    ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              fontsize=8, frameon=False)
    ax.set_title("各村未办结预警与涉及金额")
    return _png(fig)


def trend_chart(trend: list[dict]) -> bytes:
    """Open alerts and money at stake over the project's reports so far."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if not trend:
        _empty(ax, "尚无往期报告")
        return _png(fig)
    periods = [t["period"] for t in trend]
    ax.plot(periods, [t.get("open", 0) for t in trend], marker="o", color="#2c7fb8", label="未办结预警（条）")
    ax.plot(periods, [t.get("resolved", 0) for t in trend], marker="s", color="#31a354", label="较上期已解决（条）")
    ax.set_ylabel("预警（条）")
    ax2 = ax.twinx()
    ax2.plot(periods, [t.get("money_at_stake_yuan", 0) / 10_000 for t in trend], marker="^", color="#e6550d",
             linestyle="--", label="涉及金额（万元）")
    ax2.set_ylabel("涉及金额（万元）")
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3,
              fontsize=8, frameon=False)
    ax.set_title("历次报告趋势")
    return _png(fig)


def flagged_map(buildings: list[dict], parcels: list, ortho: dict | None) -> bytes:
    """The flagged buildings (outlines, red: open area alerts; orange: other open building alerts) over the
    newest orthophoto (read at a reduced resolution from its COG), or over the parcels when there is none."""
    import shapely

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    geoms = [shapely.from_wkb(b["wkb"]) for b in buildings]
    if not geoms:
        _empty(ax, "本期无被标记的房屋")
        return _png(fig)
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(geoms, dtype=object))
    pad = max(maxx - minx, maxy - miny) * 0.05 + 20
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    background = "宗地"
    if ortho is not None and ortho.get("cog_path") and Path(ortho["cog_path"]).is_file():
        image = _read_ortho(ortho["cog_path"], (minx, miny, maxx, maxy))
        if image is not None:
            ax.imshow(image, extent=(minx, maxx, miny, maxy), origin="upper")
            background = f"正射影像 {ortho['captured_on']}（{'征收前' if ortho['phase'] == 'baseline' else '征收后'}）"
    if background == "宗地":
        for wkb in parcels:
            _draw(ax, shapely.from_wkb(wkb), edge="#999999", face="#f2f2f2", lw=0.3)
    for b, g in zip(buildings, geoms):
        colour = "#e31a1c" if b["area_rule"] else "#ff7f00"
        _draw(ax, g, edge=colour, face=colour, lw=1.0, alpha=0.65)
        c = g.centroid
        ax.scatter([c.x], [c.y], s=60, facecolors="none", edgecolors=colour, linewidths=1.0)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("东坐标（米，项目坐标系）", fontsize=7)
    ax.set_ylabel("北坐标（米）", fontsize=7)
    ax.set_title(f"被标记的房屋（红：面积差异，橙：其他房屋预警；底图：{background}）", fontsize=9)
    return _png(fig)


def _draw(ax, geom, *, edge: str, face: str, lw: float, alpha: float = 1.0) -> None:
    import shapely

    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty:
            continue
        x, y = shapely.get_coordinates(poly.exterior).T
        ax.fill(x, y, facecolor=face, edgecolor=edge, linewidth=lw, alpha=alpha)


def _read_ortho(path: str, bounds: tuple[float, float, float, float], max_px: int = 1400):
    """RGB pixels of ``bounds`` from a COG at most ``max_px`` wide (an overview), or None outside the image."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    with rasterio.open(path) as src:
        window = from_bounds(*bounds, transform=src.transform)
        if window.width <= 0 or window.height <= 0:
            return None
        scale = min(1.0, max_px / max(window.width, window.height))
        shape = (min(3, src.count), max(1, int(window.height * scale)), max(1, int(window.width * scale)))
        data = src.read(indexes=list(range(1, shape[0] + 1)), window=window, out_shape=shape, boundless=True,
                        fill_value=255, resampling=Resampling.average)
    if data.dtype != np.uint8:
        hi = float(np.percentile(data, 99.5)) or 1.0
        data = np.clip(data / hi * 255, 0, 255).astype(np.uint8)
    if data.shape[0] == 1:
        data = np.repeat(data, 3, axis=0)
    return np.transpose(data, (1, 2, 0))
