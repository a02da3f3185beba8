"""A project's parcels as Mapbox vector tiles on the map (folium's VectorGridProtobuf, served locally).

Above ``VECTOR_TILE_THRESHOLD`` parcels a page must not inline them as GeoJSON: the browser fetches the
tiles of ``/projects/{code}/tiles/parcels/{z}/{x}/{y}.pbf`` (PostGIS ``ST_AsMVT``, same sign-in: the page's
cookie) and draws them on canvas, coloured by the parcel's worst open alert.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from branca.element import MacroElement
from folium.plugins import VectorGridProtobuf
from jinja2 import Template

from supervision.projects import PARCEL_STATUS_ZH

#: Parcels above which the map draws vector tiles instead of inline GeoJSON.
VECTOR_TILE_THRESHOLD = 3000
STATIC_ROOT = "/static"
VECTOR_GRID_JS = "leaflet-vectorgrid/Leaflet.VectorGrid.bundled.min.js"
LAYER = "parcels"  # the layer name inside the tiles (api.routes.mvt.LAYER)
#: The tiles' zooms: none below (a district's parcels would be specks), overzoomed past the deepest.
MIN_ZOOM, MAX_NATIVE_ZOOM, MAX_ZOOM = 10, 18, 23
#: Below this zoom parcels are a few pixels wide: drawn without their outline (alerted ones keep theirs).
OUTLINE_ZOOM = 15
#: A parcel's fill: its worst open alert (``supervision.map_layers``), ``none`` without one. The map's legend.
SEVERITY_COLOURS = {"report": "#c62828", "internal": "#ef6c00", "prompt": "#1565c0", "none": "#b0bec5"}
SEVERITY_ZH = {"report": "报送纪委监委", "internal": "内部报警", "prompt": "提示", "none": "无未结预警"}


def parcel_tile_url(project_code: str) -> str:
    """The URL template of a project's parcel tiles."""
    return f"/projects/{quote(project_code, safe='')}/tiles/parcels/{{z}}/{{x}}/{{y}}.pbf"


def _options(fill_opacity: float) -> str:
    """VectorGrid options as JavaScript (the style is a function of each feature's attributes)."""
    sev = json.dumps(SEVERITY_COLOURS)
    return f"""{{
        "rendererFactory": L.canvas.tile,
        "interactive": true,
        "minZoom": {MIN_ZOOM}, "maxNativeZoom": {MAX_NATIVE_ZOOM}, "maxZoom": {MAX_ZOOM},
        "getFeatureId": function (f) {{ return f.properties.parcel_code; }},
        "vectorTileLayerStyles": {{
            "{LAYER}": function (p, zoom) {{
                var sev = {sev}, alerted = p.severity && p.severity !== "none";
                return {{"fill": true, "stroke": alerted || zoom >= {OUTLINE_ZOOM},
                         "weight": alerted ? 2 : 1, "color": alerted ? sev[p.severity] : "#333",
                         "fillColor": sev[p.severity] || sev.none,
                         "fillOpacity": {fill_opacity}, "opacity": 1}};
            }}
        }}
    }}"""


class _ParcelPopup(MacroElement):
    """A click on a parcel opens a popup of its attributes (set as text, never as HTML)."""

    _template = Template("""
        {% macro script(this, kwargs) -%}
        (function () {
            var sevZh = {{ this.severity_zh }}, statZh = {{ this.status_zh }};
            {{ this.layer.get_name() }}.on("click", function (e) {
                var p = e.layer.properties || {}, box = document.createElement("div");
                [["宗地代码", p.parcel_code], ["户号", p.household_no], ["面积(㎡)", p.area_m2],
                 ["状态", statZh[p.status] || p.status], ["最高未结预警", sevZh[p.severity] || p.severity],
                 ["未结预警", p.open_alerts]].forEach(function (row) {
                    var line = document.createElement("div");
                    line.textContent = row[0] + "：" + (row[1] === undefined || row[1] === null ? "" : row[1]);
                    box.appendChild(line);
                });
                L.popup().setLatLng(e.latlng).setContent(box).openOn({{ this.layer.get_name() }}._map);
            });
        })();
        {%- endmacro %}
    """)

    def __init__(self, layer: VectorGridProtobuf) -> None:
        super().__init__()
        self._name = "ParcelPopup"
        self.layer = layer
        self.severity_zh = json.dumps(SEVERITY_ZH, ensure_ascii=False)
        self.status_zh = json.dumps(PARCEL_STATUS_ZH, ensure_ascii=False)


def parcels_vector_layer(project_code: str, *, name: str = "宗地", fill_opacity: float = 0.55,
                         static_root: str = STATIC_ROOT, show: bool = True) -> VectorGridProtobuf:
    """The project's parcels as a VectorGridProtobuf layer (scripts from ``static_root``), with a popup.

    Add it to a ``folium.Map`` like any layer: ``parcels_vector_layer(code).add_to(m)``.
    """
    layer = VectorGridProtobuf(parcel_tile_url(project_code), name, _options(fill_opacity), overlay=True,
                               control=True, show=show)
    layer.default_js = [("vectorGrid", f"{static_root}/{VECTOR_GRID_JS}")]
    layer.add_child(_ParcelPopup(layer))
    return layer


def use_vector_tiles(feature_count: int, threshold: int = VECTOR_TILE_THRESHOLD) -> bool:
    """Whether a page of ``feature_count`` parcels should draw vector tiles instead of inline GeoJSON."""
    return feature_count > threshold
