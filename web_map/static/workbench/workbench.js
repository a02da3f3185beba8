/* The alert workbench's map: the project's alerts, the chosen alert's subject (claimed outline) and the
   footprints measured in both flights over the flights' tiles. Data come from the page's JSON element. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("wb-data").textContent);
  var map = L.map("wbmap", {zoomControl: true});
  window.workbenchMap = map;
  var base = {}, overlays = {};
  var first = null;
  (data.flights || []).forEach(function (f) {
    var name = (f.phase === "baseline" ? "征收前影像 " : "征收后影像 ") + f.captured_on;
    var layer = L.tileLayer("/tiles/" + f.id + "/{z}/{x}/{y}.png",
                            {maxZoom: 22, maxNativeZoom: f.max_zoom, attribution: "征收监督系统"});
    base[name] = layer;
    if (first === null) { first = layer; }
  });
  if (first !== null) { first.addTo(map); }
  var colours = {prompt: "#f9a825", internal: "#ef6c00", report: "#c62828"};
  var alerts = L.geoJSON(data.alerts || {type: "FeatureCollection", features: []}, {
    pointToLayer: function (feature, latlng) {
      var p = feature.properties;
      return L.circleMarker(latlng, {radius: p.id === data.chosen ? 9 : 6, color: "#fff", weight: 1,
                                     fillColor: colours[p.severity] || "#888", fillOpacity: 0.9});
    },
    onEachFeature: function (feature, layer) {
      var p = feature.properties;
      layer.bindTooltip("预警 " + p.id + " " + p.rule_code);
      layer.on("click", function () {
        var params = new URLSearchParams(window.location.search);
        params.set("alert", p.id);
        window.location.search = params.toString();
      });
    }
  }).addTo(map);
  overlays["预警"] = alerts;
  var fitted = null;
  if (data.subject) {
    var subject = L.geoJSON(data.subject, {style: {color: "#e53935", weight: 3, fill: false}}).addTo(map);
    overlays["申报轮廓"] = subject;
    fitted = subject.getBounds();
  }
  [["baseline", "征收前实测轮廓", "#ffd600"], ["after", "征收后实测轮廓", "#00e5ff"]].forEach(function (t) {
    var fc = (data.footprints || {})[t[0]];
    if (fc && fc.features && fc.features.length) {
      overlays[t[1]] = L.geoJSON(fc, {style: {color: t[2], weight: 2, fill: false, dashArray: "4 3"}}).addTo(map);
    }
  });
  L.control.layers(base, overlays, {collapsed: false}).addTo(map);
  if (fitted && fitted.isValid()) {
    map.fitBounds(fitted.pad(1.5), {maxZoom: 20});
  } else if (alerts.getLayers().length) {
    map.fitBounds(alerts.getBounds().pad(0.3), {maxZoom: 18});
  } else if (data.bounds) {
    map.fitBounds([[data.bounds[1], data.bounds[0]], [data.bounds[3], data.bounds[2]]]);
  } else {
    map.setView([41.7, 123.5], 12);
  }
  document.body.setAttribute("data-map-ready", "1");
})();
