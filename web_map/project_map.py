"""The inspectors' project map: parcels coloured by status over the scope (folium, local Leaflet)."""

from __future__ import annotations

from typing import cast

import folium
from branca.element import Figure, MacroElement

from supervision.alert_loop import STATE_ZH
from supervision.projects import PARCEL_STATUS_ZH
from web_map.security import add_nonce, text

STATUS_COLOURS = {"paid": "#2e7d32", "claimed": "#f9a825", "unclaimed": "#9e9e9e"}
LAND_CLASS_ZH = {"homestead": "宅基地", "farmland": "耕地", "collective_construction": "集体建设用地",
                 "enterprise": "企业用地", "other": "其他"}
STATIC_PREFIX = "/static/leaflet"


def _static_root(static_prefix: str) -> str:
    """The static folder that holds Leaflet's folder and the other vendored scripts."""
    return static_prefix.rsplit("/", 1)[0]


def _local_leaflet(m: folium.Map, static_prefix: str) -> None:
    """Serve Leaflet from this server (the map must work without internet access)."""
    m.default_js = [("leaflet", f"{static_prefix}/leaflet.js"),
                    ("jquery", f"{_static_root(static_prefix)}/jquery/jquery.min.js")]
    m.default_css = [("leaflet_css", f"{static_prefix}/leaflet.css")]


def _side_by_side(left: folium.TileLayer, right: folium.TileLayer, static_prefix: str) -> MacroElement:
    """folium's SideBySideLayers with the plugin served by this server (web_map/static)."""
    from folium.plugins import SideBySideLayers

    control = SideBySideLayers(left, right)
    base = f"{_static_root(static_prefix)}/leaflet-side-by-side"
    control.default_js = [("leaflet.sidebyside", f"{base}/leaflet-side-by-side.js")]
    control.default_css = [("leaflet.sidebyside.layout", f"{base}/layout.css"),
                           ("leaflet.sidebyside.range", f"{base}/range.css")]
    return control


def _legend_html() -> str:
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;background:{STATUS_COLOURS[k]};'
        f'margin-right:6px;border:1px solid #333"></span>{v}</div>' for k, v in PARCEL_STATUS_ZH.items())
    marks = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;border-radius:6px;background:{c};'
        f'margin-right:6px"></span>{SEVERITY_ZH[k]}</div>' for k, c in SEVERITY_COLOURS.items())
    return ('<div id="legend" style="position:fixed;bottom:30px;right:12px;z-index:1000;background:white;'
            'padding:8px 12px;border:1px solid #999;border-radius:4px;font:14px sans-serif">'
            f'<b>宗地状态</b>{items}<b>预警级别</b>{marks}</div>')


SEVERITY_COLOURS = {"report": "#c62828", "internal": "#ef6c00", "prompt": "#1565c0"}
SEVERITY_ZH = {"report": "报送纪委监委", "internal": "内部报警", "prompt": "提示"}


PHASE_ZH = {"baseline": "征收前影像", "after": "征收后影像"}


def build_project_map(project: dict, parcels: dict, scope: dict | None, alerts: dict | None = None, *,
                      orthophotos: list[dict] | None = None, static_prefix: str = STATIC_PREFIX,
                      nonce: str | None = None) -> str:
    """The HTML page of one project's map: scope outline and parcels coloured by status, Chinese labels.

    ``orthophotos`` (ingested flights: id, phase, captured_on, max_zoom) become tile layers served by
    ``/tiles``; the newest baseline flight is shown at first, the others can be switched on. Every value
    from the data is escaped (``web_map.security.text``); with ``nonce`` every ``<script>`` carries it, for
    the page's Content-Security-Policy.
    """
    features = parcels.get("features", [])
    m = folium.Map(location=[41.75, 123.45], zoom_start=15, tiles=None, control_scale=True,
                   prefer_canvas=True)
    _local_leaflet(m, static_prefix)
    root = cast(Figure, m.get_root())
    root.header.add_child(folium.Element(
        f"<title>{text(project['name'])} · 征收监督地图</title><meta charset='utf-8'>"))
    root.html.add_child(folium.Element(
        f'<div id="title" style="position:fixed;top:12px;left:60px;z-index:1000;background:white;'
        f'padding:6px 12px;border:1px solid #999;border-radius:4px;font:16px sans-serif">'
        f'<b>{text(project["name"])}</b>（{text(project["code"])}）· 预公告（冻结）日期 '
        f'{text(project["pre_announcement_date"])} · 宗地 {len(features)} 宗</div>'))
    flights = orthophotos or []
    newest = {phase: next((o["id"] for o in flights if o["phase"] == phase), None) for phase in PHASE_ZH}
    side_by_side = newest["baseline"] is not None and newest["after"] is not None
    layers: dict[int, folium.TileLayer] = {}
    for o in flights:
        layers[o["id"]] = cast(folium.TileLayer, folium.TileLayer(
            tiles=f"/tiles/{o['id']}/{{z}}/{{x}}/{{y}}.png", attr=f"Expro 正射影像 {o['id']}",
            name=text(f"{PHASE_ZH.get(o['phase'], o['phase'])} {o['captured_on']}"), overlay=True,
            show=o["id"] == newest["baseline"] or (side_by_side and o["id"] == newest["after"]),
            max_zoom=23, max_native_zoom=o.get("max_zoom") or 21, min_zoom=0,
        ).add_to(m))
    before, after = newest["baseline"], newest["after"]
    if before is not None and after is not None:  # before on the left, after on the right of a slider
        _side_by_side(layers[before], layers[after], static_prefix).add_to(m)
    if scope is not None:
        folium.GeoJson(scope, name="征收范围",
                       style_function=lambda _: {"color": "#c62828", "weight": 3, "fill": False,
                                                 "dashArray": "6 4"}).add_to(m)
    for feature in features:   # the tooltip puts these into innerHTML: escaped text only
        props = feature["properties"]
        props["status_zh"] = text(PARCEL_STATUS_ZH.get(props["status"], props["status"]))
        props["land_class_zh"] = text(LAND_CLASS_ZH.get(props["land_class"], props["land_class"]))
        for key in ("parcel_code", "household_no"):
            props[key] = text(props.get(key))
    fill_opacity = 0.3 if orthophotos else 0.55   # let the flight show through the parcels
    if features:
        folium.GeoJson(
            parcels, name="宗地",
            style_function=lambda f: {"color": "#333", "weight": 1, "fillOpacity": fill_opacity,
                                      "fillColor": STATUS_COLOURS.get(f["properties"]["status"], "#9e9e9e")},
            tooltip=folium.GeoJsonTooltip(fields=["parcel_code", "land_class_zh", "household_no", "area_m2",
                                                  "status_zh"],
                                          aliases=["宗地代码", "地类", "户号", "面积(㎡)", "状态"]),
        ).add_to(m)
    has_alerts = bool(alerts and alerts.get("features"))
    if alerts is not None and has_alerts:
        layer = folium.FeatureGroup(name=f"预警（{len(alerts['features'])}）")
        for f in alerts["features"]:
            p = f["properties"]
            lon, lat = f["geometry"]["coordinates"]
            colour = SEVERITY_COLOURS.get(p["severity"], "#555")
            popup = (f"<b>{text(p['rule_code'])}</b>（{text(SEVERITY_ZH.get(p['severity'], p['severity']))}）<br>"
                     f"{text(p['message'])}<br>状态：{text(STATE_ZH.get(p['state'], p['state']))}"
                     f" · 预警编号 {text(p['id'])}")
            folium.CircleMarker([lat, lon], radius=7, color="#fff", weight=2, fill=True, fill_color=colour,
                                fill_opacity=0.95, tooltip=text(p["rule_code"]),
                                popup=folium.Popup(popup, max_width=360)).add_to(layer)
        layer.add_to(m)
    if has_alerts or orthophotos:
        folium.LayerControl(collapsed=False).add_to(m)
    bounds = _bounds(scope, features)
    if bounds:
        m.fit_bounds(bounds)
    root.html.add_child(folium.Element(_legend_html()))
    page = root.render()
    return page if nonce is None else add_nonce(page, nonce)


def _bounds(scope: dict | None, features: list[dict]) -> list[list[float]] | None:
    coords: list[tuple[float, float]] = []

    def walk(obj: object) -> None:
        if isinstance(obj, (list, tuple)) and len(obj) == 2 and all(isinstance(v, (int, float)) for v in obj):
            coords.append((float(obj[0]), float(obj[1])))
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item)

    if scope is not None:
        walk(scope["coordinates"])
    else:
        for f in features:
            walk(f["geometry"]["coordinates"])
    if not coords:
        return None
    xs, ys = zip(*coords)
    return [[min(ys), min(xs)], [max(ys), max(xs)]]
