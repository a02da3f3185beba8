"""The inspectors' project map (folium, local Leaflet): parcels coloured by their worst open alert, claimed
building outlines against measured footprints (baseline and after), both flights with a swipe, alerts, a
layer control, a legend and a search box, all in Simplified Chinese.

Every layer is registered in ``window.exproMap.layers`` under a stable key (:data:`LAYER_KEYS`) and the
flights' tiles carry the CSS classes ``expro-flight-baseline`` / ``expro-flight-after``, so a browser test or
a later script finds them without folium's generated names.
"""

from __future__ import annotations

import json
from typing import cast
from urllib.parse import quote

import folium
from branca.element import Figure, MacroElement
from jinja2 import Template

from supervision.alert_loop import STATE_ZH
from supervision.projects import PARCEL_STATUS_ZH
from web_map.security import add_nonce, text
from web_map.vector_tiles import SEVERITY_COLOURS, SEVERITY_ZH, parcels_vector_layer

LAND_CLASS_ZH = {"homestead": "宅基地", "farmland": "耕地", "collective_construction": "集体建设用地",
                 "enterprise": "企业用地", "other": "其他"}
STATIC_PREFIX = "/static/leaflet"
PHASE_ZH = {"baseline": "征收前影像", "after": "征收后影像"}
#: Outline styles of the claimed buildings and the measured footprints (the legend shows them).
BUILDING_STYLE = {"color": "#d81b60", "weight": 2, "fill": False, "dashArray": "5 3"}
FOOTPRINT_STYLES = {"baseline": {"color": "#00e5ff", "weight": 2, "fillColor": "#00e5ff", "fillOpacity": 0.15},
                    "after": {"color": "#ffd600", "weight": 3, "fillColor": "#ffd600", "fillOpacity": 0.15}}
FOOTPRINT_ZH = {"baseline": "实测基底（征收前）", "after": "实测基底（征收后）"}
SOURCE_ZH = {"survey": "测绘", "imagery": "影像提取"}
#: In a vector-tile page, more open alerts than this are not drawn as markers (each marker and its popup is
#: page script): the parcels' colour carries the worst one and a click on a parcel counts them.
ALERT_MARKER_LIMIT = 500
#: Keys of ``window.exproMap.layers``.
LAYER_KEYS = ("scope", "parcels", "buildings", "footprints_baseline", "footprints_after", "alerts",
              "flight_baseline", "flight_after")

#: The swipe's divider and range sit above the map pane (z-index 999); an open popup lives inside the map
#: pane (z-index 400), so it would be cut by the divider: while a popup is open they go beneath the map pane.
_CSS = """<style>
.expro-popup-open .leaflet-sbs-divider, .expro-popup-open .leaflet-sbs-range { z-index: 399 !important; }
#title, #legend, #search { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
  "Microsoft YaHei", sans-serif; }
#search { position: fixed; top: 52px; left: 60px; z-index: 1000; background: white; padding: 6px 8px;
  border: 1px solid #999; border-radius: 4px; font-size: 14px; width: 300px; box-sizing: border-box; }
#search input { width: 240px; font-size: 14px; padding: 2px 4px; }
#search-results { margin: 4px 0 0; padding: 0; list-style: none; max-height: 220px; overflow-y: auto; }
#search-results li { cursor: pointer; padding: 2px 4px; border-top: 1px solid #eee; }
#search-results li:hover { background: #e3f2fd; }
#legend .swatch { display: inline-block; width: 14px; height: 14px; margin-right: 6px; vertical-align: -2px; }
</style>"""


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


def _legend_html(has_flights: bool, note: str = "") -> str:
    items = "".join(
        f'<div data-severity="{k}"><span class="swatch" style="background:{c};border:1px solid #333"></span>'
        f'{SEVERITY_ZH[k]}</div>' for k, c in SEVERITY_COLOURS.items())
    lines = (f'<div><span class="swatch" style="border:2px dashed {BUILDING_STYLE["color"]}"></span>登记房屋轮廓（申报）</div>'
             + "".join(f'<div><span class="swatch" style="border:2px solid {s["color"]};background:{s["color"]}33">'
                       f'</span>{FOOTPRINT_ZH[p]}</div>' for p, s in FOOTPRINT_STYLES.items())
             + '<div><span class="swatch" style="border:2px dashed #c62828"></span>征收范围</div>')
    statuses = "、".join(PARCEL_STATUS_ZH.values())
    status = f"<div>宗地状态（悬停宗地查看）：{statuses}</div>"
    swipe = "<div>拖动中线：左侧征收前、右侧征收后影像</div>" if has_flights else ""
    return ('<div id="legend" style="position:fixed;bottom:30px;right:12px;z-index:1000;background:white;'
            'padding:8px 12px;border:1px solid #999;border-radius:4px;font-size:14px;line-height:1.5">'
            f'<b>宗地（按最高未结预警着色）</b>{items}{status}{note}<b>房屋与基底</b>{lines}{swipe}</div>')


def _search_html() -> str:
    return ('<div id="search"><label>查找 <input id="search-input" type="search" '
            'placeholder="户号、宗地代码或姓（张*）" autocomplete="off" maxlength="40"></label>'
            '<ul id="search-results"></ul></div>')


#: The page's own script: layer registry, popup above the swipe, search box. ``%s`` are filled with JSON.
_PAGE_JS = """
(function () {
    var map = %(map)s;
    window.exproMap = {map: map, mode: %(mode)s, layers: {%(layers)s}};
    map.on("popupopen", function () { map.getContainer().classList.add("expro-popup-open"); });
    map.on("popupclose", function () { map.getContainer().classList.remove("expro-popup-open"); });
    var input = document.getElementById("search-input"), list = document.getElementById("search-results");
    var url = %(search_url)s, timer = null, hit = null;
    function show(r) {
        var b = L.latLngBounds(r.bounds);
        map.fitBounds(b, {maxZoom: 19});
        if (hit) { map.removeLayer(hit); }
        hit = L.rectangle(b, {color: "#000", weight: 3, fill: false, dashArray: "2 4", interactive: false}).addTo(map);
        window.exproMap.layers.search_hit = hit;
        var box = document.createElement("div");
        [["户号", r.household_no], ["宗地代码", r.parcel_code], ["户主", r.head_name_masked]].forEach(function (row) {
            var line = document.createElement("div");
            line.textContent = row[0] + "：" + (row[1] || "");
            box.appendChild(line);
        });
        box.className = "expro-search-popup";
        L.popup().setLatLng(b.getCenter()).setContent(box).openOn(map);
    }
    function search(q, go) {
        fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
            .then(function (res) { return res.ok ? res.json() : {results: []}; })
            .then(function (data) {
                list.replaceChildren();
                if (!data.results.length) {
                    var none = document.createElement("li");
                    none.textContent = "未找到";
                    list.appendChild(none);
                }
                data.results.forEach(function (r) {
                    var li = document.createElement("li");
                    li.textContent = r.household_no + " · " + r.parcel_code + (r.head_name_masked ? " · " + r.head_name_masked : "");
                    li.dataset.parcel = r.parcel_code;
                    li.addEventListener("click", function () { show(r); });
                    list.appendChild(li);
                });
                if (go && data.results.length) { show(data.results[0]); }
            });
    }
    input.addEventListener("input", function () {
        clearTimeout(timer);
        var q = input.value.trim();
        if (!q) { list.replaceChildren(); return; }
        timer = setTimeout(function () { search(q, false); }, 250);
    });
    input.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && input.value.trim()) { clearTimeout(timer); search(input.value.trim(), true); }
    });
})();
"""


class _PageScript(MacroElement):
    """The page's own script, after every layer's (a last child of the map)."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.js }}{% endmacro %}")

    def __init__(self, js: str) -> None:
        super().__init__()
        self._name = "ExproPage"
        self.js = js


def _escape_props(features: list[dict], keys: tuple[str, ...]) -> None:
    """Tooltips put these into innerHTML: escaped text only."""
    for feature in features:
        props = feature["properties"]
        for key in keys:
            if key in props:
                props[key] = text(props[key])


def build_project_map(project: dict, parcels: dict | None, scope: dict | None, alerts: dict | None = None, *,
                      parcel_count: int | None = None, buildings: dict | None = None,
                      footprints: dict[str, dict | None] | None = None, orthophotos: list[dict] | None = None,
                      static_prefix: str = STATIC_PREFIX, nonce: str | None = None) -> str:
    """The HTML page of one project's map, Chinese labels throughout.

    Parameters
    ----------
    parcels
        The parcels as GeoJSON (``supervision.map_layers.parcels_geojson``: status, ``severity`` of the worst
        open alert, masked head name), inlined; ``None`` to draw them from the vector tiles instead (a project
        above ``VECTOR_TILE_THRESHOLD`` parcels), then ``parcel_count`` gives the title's count.
    buildings, footprints
        Claimed building outlines and measured footprints per phase (``baseline``, ``after``) as GeoJSON; a
        layer each, switchable; ``None`` leaves the layer out.
    orthophotos
        Ingested flights (id, phase, captured_on, max_zoom), tile layers from ``/tiles``: the newest baseline
        and after flights side by side with a swipe, the others switchable.
    nonce
        Every ``<script>`` carries it, for the page's Content-Security-Policy. Every value from the data is
        escaped (``web_map.security.text``).
    """
    features = parcels.get("features", []) if parcels is not None else []
    count = len(features) if parcels is not None else (parcel_count or 0)
    m = folium.Map(location=[41.75, 123.45], zoom_start=15, tiles=None, control_scale=True,
                   prefer_canvas=True)
    _local_leaflet(m, static_prefix)
    root = cast(Figure, m.get_root())
    root.header.add_child(folium.Element(
        f"<title>{text(project['name'])} · 征收监督地图</title><meta charset='utf-8'>{_CSS}"))
    root.html.add_child(folium.Element(
        f'<div id="title" style="position:fixed;top:12px;left:60px;z-index:1000;background:white;'
        f'padding:6px 12px;border:1px solid #999;border-radius:4px;font-size:16px">'
        f'<b>{text(project["name"])}</b>（{text(project["code"])}）· 预公告（冻结）日期 '
        f'{text(project["pre_announcement_date"])} · 宗地 {count} 宗</div>'))
    registry: dict[str, str] = {}
    flights = orthophotos or []
    newest = {phase: next((o["id"] for o in flights if o["phase"] == phase), None) for phase in PHASE_ZH}
    side_by_side = newest["baseline"] is not None and newest["after"] is not None
    layers: dict[int, folium.TileLayer] = {}
    for o in flights:
        is_newest = o["id"] == newest.get(o["phase"])
        layers[o["id"]] = cast(folium.TileLayer, folium.TileLayer(
            tiles=f"/tiles/{o['id']}/{{z}}/{{x}}/{{y}}.png", attr=f"Expro 正射影像 {o['id']}",
            name=text(f"{PHASE_ZH.get(o['phase'], o['phase'])} {o['captured_on']}"), overlay=True,
            show=o["id"] == newest["baseline"] or (side_by_side and o["id"] == newest["after"]),
            max_zoom=23, max_native_zoom=o.get("max_zoom") or 21, min_zoom=0,
            class_name=f"expro-flight expro-flight-{o['phase']}" + (" expro-flight-newest" if is_newest else ""),
        ).add_to(m))
        if is_newest:
            registry[f"flight_{o['phase']}"] = layers[o["id"]].get_name()
    before, after = newest["baseline"], newest["after"]
    if before is not None and after is not None:  # before on the left, after on the right of a slider
        _side_by_side(layers[before], layers[after], static_prefix).add_to(m)
    if scope is not None:
        registry["scope"] = folium.GeoJson(
            scope, name="征收范围", style_function=lambda _: {"color": "#c62828", "weight": 3, "fill": False,
                                                           "dashArray": "6 4"}).add_to(m).get_name()
    fill_opacity = 0.35 if orthophotos else 0.55   # let the flight show through the parcels
    if parcels is None:
        registry["parcels"] = parcels_vector_layer(project["code"], name="宗地（按最高未结预警）",
                                                   fill_opacity=fill_opacity,
                                                   static_root=_static_root(static_prefix)).add_to(m).get_name()
    elif features:
        for feature in features:
            props = feature["properties"]
            props["status_zh"] = PARCEL_STATUS_ZH.get(props["status"], props["status"])
            props["land_class_zh"] = LAND_CLASS_ZH.get(props["land_class"], props["land_class"])
            props["severity_zh"] = SEVERITY_ZH.get(props.get("severity", "none"), props.get("severity"))
            props.setdefault("head_name_masked", "")
        _escape_props(features, ("parcel_code", "household_no", "head_name_masked", "status_zh", "land_class_zh",
                                 "severity_zh"))
        registry["parcels"] = folium.GeoJson(
            parcels, name="宗地（按最高未结预警）",
            style_function=lambda f: {"color": "#333", "weight": 1, "fillOpacity": fill_opacity,
                                      "fillColor": SEVERITY_COLOURS.get(f["properties"].get("severity", "none"),
                                                                        SEVERITY_COLOURS["none"])},
            tooltip=folium.GeoJsonTooltip(fields=["parcel_code", "land_class_zh", "household_no", "head_name_masked",
                                                  "area_m2", "status_zh", "severity_zh", "open_alerts"],
                                          aliases=["宗地代码", "地类", "户号", "户主", "面积(㎡)", "状态",
                                                   "最高未结预警", "未结预警数"]),
        ).add_to(m).get_name()
    for phase, fc in (footprints or {}).items():
        if fc is None:
            continue
        for f in fc["features"]:
            f["properties"]["source_zh"] = SOURCE_ZH.get(f["properties"].get("source"), f["properties"].get("source"))
        _escape_props(fc["features"], ("footprint_id", "source_zh"))
        style = FOOTPRINT_STYLES[phase]
        registry[f"footprints_{phase}"] = folium.GeoJson(
            fc, name=f"{FOOTPRINT_ZH[phase]}（{len(fc['features'])}）", style_function=lambda _, s=style: s,
            tooltip=folium.GeoJsonTooltip(fields=["footprint_id", "source_zh", "area_m2", "height_m"],
                                          aliases=["基底编号", "来源", "基底面积(㎡)", "高度(m)"])
            if fc["features"] else None,
        ).add_to(m).get_name()
    if buildings is not None:   # over the footprints: the claim is the thing to judge
        _escape_props(buildings["features"], ("parcel_code", "building_no", "household_no", "structure_type"))
        registry["buildings"] = folium.GeoJson(
            buildings, name=f"登记房屋轮廓（申报，{len(buildings['features'])}）",
            style_function=lambda _: BUILDING_STYLE,
            tooltip=folium.GeoJsonTooltip(fields=["parcel_code", "building_no", "storeys", "claimed_floor_area_m2",
                                                  "outline_area_m2"],
                                          aliases=["宗地代码", "房屋编号", "层数", "申报建筑面积(㎡)", "轮廓面积(㎡)"])
            if buildings["features"] else None,
        ).add_to(m).get_name()
    n_alerts = len(alerts["features"]) if alerts is not None and alerts.get("features") else 0
    markers = n_alerts and (parcels is not None or n_alerts <= ALERT_MARKER_LIMIT)
    if alerts is not None and markers:
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
        registry["alerts"] = layer.add_to(m).get_name()
    folium.LayerControl(collapsed=False).add_to(m)
    bounds = _bounds(scope, features)
    if bounds:
        m.fit_bounds(bounds)
    note = "" if markers or not n_alerts else (
        f"<div id='alert-note'>未结预警 {n_alerts} 条，过多不逐条标注：见宗地颜色，点击宗地查看</div>")
    root.html.add_child(folium.Element(_legend_html(bool(flights), note)))
    root.html.add_child(folium.Element(_search_html()))
    _PageScript(_PAGE_JS % {
        "map": m.get_name(), "mode": json.dumps("vector" if parcels is None else "inline"),
        "layers": ", ".join(f"{json.dumps(k)}: {v}" for k, v in registry.items()),
        "search_url": json.dumps(f"/projects/{quote(project['code'], safe='')}/map/search")}).add_to(m)
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
