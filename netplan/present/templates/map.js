/* netplan map runtime: draws the data layers of a netplan map from one JSON payload.
 *
 * Inlined into every map next to Leaflet; needs no network. Every string of the payload
 * that ends up as HTML (names, ids, popups, labels) was escaped in Python; raw strings
 * (site ids) are only ever set as DOM attributes, never parsed as HTML.
 */
(function () {
  "use strict";

  function pairs(flat) {
    var out = [];
    for (var k = 0; k + 1 < flat.length; k += 2) { out.push([flat[k], flat[k + 1]]); }
    return out;
  }

  function polygonLatLngs(geom) {  // [[ring flat, ...], ...] -> Leaflet nested latlngs
    return geom.map(function (poly) { return poly.map(pairs); });
  }

  function fmt(x, digits) {
    if (x === null || x === undefined || (typeof x === "number" && !isFinite(x))) { return "–"; }
    return Number(x).toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits
    });
  }

  function signed(x, digits) {
    if (x === null || x === undefined) { return "–"; }
    return (x > 0 ? "+" : "") + fmt(x, digits);
  }

  function quiet(el) {
    L.DomEvent.disableClickPropagation(el);
    L.DomEvent.disableScrollPropagation(el);
  }

  function panelControl(map, id, position) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    var Ctl = L.Control.extend({
      onAdd: function () { quiet(el); return el; }
    });
    var ctl = new Ctl({ position: position });
    ctl.addTo(map);
    return ctl;
  }

  function NetplanMap(map, groups, data) {
    this.map = map;
    this.groups = groups;
    this.data = data;
    this.markers = {};
    this.measure = null;
    this.zoneLayer = null;
    this.measureOfGroup = {};
    this.groupOfMeasure = {};
    var self = this;
    (data.measures || []).forEach(function (m) {
      var g = groups["measure_" + m.key];
      if (g) {
        self.measureOfGroup[L.stamp(g)] = m.key;
        self.groupOfMeasure[m.key] = g;
      }
    });
    var fallback = document.getElementById("netplan-fallback");
    if (fallback) { fallback.parentNode.removeChild(fallback); }
    map.createPane("netplanZones").style.zIndex = 350;
    map.createPane("netplanContext").style.zIndex = 380;
    this.zoneRenderer = L.canvas({ pane: "netplanZones", padding: 0.2 });
    this.drawContext();
    this.drawZones();
    this.drawOutlets();
    this.drawArrows();
    panelControl(map, "netplan-title", "topleft");
    panelControl(map, "netplan-kpi-panel", "topleft");
    panelControl(map, "netplan-legend", "bottomright");
    this.decorateLayerControl();
    map.on("baselayerchange", function (e) {
      var key = self.measureOfGroup[L.stamp(e.layer)];
      if (key !== undefined) { self.setMeasure(key); }
    });
    map.on("overlayadd overlayremove", function () { self.updateLegends(); });
    var start = data.default_measure;
    (data.measures || []).forEach(function (m) {
      var g = self.groupOfMeasure[m.key];
      if (g && map.hasLayer(g)) { start = m.key; }
    });
    this.setMeasure(start);
    this.bindViews();
  }

  NetplanMap.prototype.decorateLayerControl = function () {
    var heads = this.data.control_heads || {};
    var base = document.querySelector(".leaflet-control-layers-base");
    var over = document.querySelector(".leaflet-control-layers-overlays");
    function head(el, html) {
      if (!el || !html) { return; }
      var d = document.createElement("div");
      d.className = "netplan-lc-head";
      d.innerHTML = html;  // escaped in Python
      el.parentNode.insertBefore(d, el);
    }
    head(base, heads.base);
    head(over, heads.overlays);
  };

  NetplanMap.prototype.drawContext = function () {
    var d = this.data, g = this.groups, self = this;
    if (g.ring_zones && d.ring_zones) {
      d.ring_zones.forEach(function (rz, k) {
        var colors = d.ring_zone_colors || ["#888"];
        L.polygon(polygonLatLngs(rz.geom), {
          pane: "netplanContext", color: "#555", weight: 1, dashArray: "4 3",
          fillColor: colors[k % colors.length], fillOpacity: 0.18
        }).bindTooltip(rz.name, { sticky: true }).addTo(g.ring_zones);
      });
    }
    if (g.districts && d.districts) {
      d.districts.forEach(function (dist) {
        var p = L.polygon(polygonLatLngs(dist.geom), {
          pane: "netplanContext", color: "#444", weight: 1.6, fill: false, interactive: false
        });
        p.bindTooltip(dist.name, {
          permanent: true, direction: "center", className: "netplan-district-label",
          interactive: false
        });
        p.addTo(g.districts);
      });
    }
    if (g.ring_roads && d.ring_roads) {
      d.ring_roads.forEach(function (r) {
        r.geom.forEach(function (line) {
          L.polyline(pairs(line), {
            pane: "netplanContext", color: "#7a4b00", weight: 2.2, opacity: 0.85
          }).bindTooltip(r.name, { sticky: true }).addTo(g.ring_roads);
        });
      });
    }
    void self;
  };

  NetplanMap.prototype.drawZones = function () {
    var z = this.data.zones, self = this;
    if (!z) { return; }
    this.zoneLayer = L.layerGroup();
    this.zonePolys = [];
    for (var i = 0; i < z.geom.length; i++) {
      var p = L.polygon(polygonLatLngs(z.geom[i]), {
        renderer: this.zoneRenderer, pane: "netplanZones", weight: 0.4, color: "#ffffff",
        opacity: 0.6, fillOpacity: 0.68, fillColor: "#cccccc"
      });
      p.netplanZone = i;
      p.on("click", function (e) {
        L.popup({ maxWidth: 360 }).setLatLng(e.latlng)
          .setContent(self.zoneHtml(e.target.netplanZone)).openOn(self.map);
      });
      this.zonePolys.push(p);
      p.addTo(this.zoneLayer);
    }
  };

  NetplanMap.prototype.outletLabel = function (idx) {
    var o = this.data.outlets;
    if (idx === null || idx === undefined || idx < 0) { return "none (not served)"; }
    return o.name[idx] + " (" + o.id_html[idx] + ")";
  };

  NetplanMap.prototype.zoneHtml = function (i) {
    var z = this.data.zones, self = this;
    var v = z.val;
    var rows = z.rows.map(function (r) {
      var kind = r[0], label = r[1], val;
      if (kind === "num") {
        val = fmt(v[r[2]][i], r[3]) + (r[4] ? " " + r[4] : "");
      } else if (kind === "signed") {
        val = signed(v[r[2]][i], r[3]) + (r[4] ? " " + r[4] : "");
      } else if (kind === "pct") {
        var x = v[r[2]][i];
        val = (x === null || x === undefined) ? "–" : fmt(100 * x, r[3]) + " %";
      } else if (kind === "pair") {
        val = fmt(v[r[2]][i], r[4]) + " → " + fmt(v[r[3]][i], r[4]) + (r[5] ? " " + r[5] : "");
      } else if (kind === "outlet") {
        val = self.outletLabel(v[r[2]][i]);
      } else if (kind === "outlet_pair") {
        val = self.outletLabel(v[r[2]][i]) + " → " + self.outletLabel(v[r[3]][i]);
      } else if (kind === "lookup") {
        var t = z.tables[r[3]], k = v[r[2]][i];
        val = (k === null || k < 0) ? "–" : t[k];
      } else {
        val = "";
      }
      return "<tr><td>" + label + "</td><td>" + val + "</td></tr>";
    });
    return "<div class=\"netplan-pop\"><h4>" + z.title + " " + z.id[i] + "</h4>" +
      "<table><tbody>" + rows.join("") + "</tbody></table>" +
      (z.note ? "<p class=\"netplan-note\">" + z.note + "</p>" : "") + "</div>";
  };

  NetplanMap.prototype.setMeasure = function (key) {
    var z = this.data.zones, map = this.map;
    this.measure = key;
    var m = null;
    (this.data.measures || []).forEach(function (x) { if (x.key === key) { m = x; } });
    if (this.zoneLayer) {
      if (!m || !z.cls[key]) {
        if (map.hasLayer(this.zoneLayer)) { map.removeLayer(this.zoneLayer); }
      } else {
        var cls = z.cls[key], colors = m.colors;
        for (var i = 0; i < this.zonePolys.length; i++) {
          var c = cls[i];
          this.zonePolys[i].setStyle({
            fillColor: (c === null || c < 0) ? m.nodata : colors[c % colors.length],
            fillOpacity: (c === null || c < 0) ? m.nodata_opacity
              : (m.opacities ? m.opacities[c % m.opacities.length] : m.opacity)
          });
        }
        if (!map.hasLayer(this.zoneLayer)) { this.zoneLayer.addTo(map); }
      }
    }
    this.updateLegends();
    this.markView();
  };

  NetplanMap.prototype.updateLegends = function () {
    var self = this;
    var blocks = document.querySelectorAll(".netplan-measure-legend");
    Array.prototype.forEach.call(blocks, function (el) {
      var on = el.getAttribute("data-measure") === self.measure;
      el.classList.toggle("netplan-hidden", !on);
    });
    var layered = document.querySelectorAll("[data-layers]");
    Array.prototype.forEach.call(layered, function (el) {
      var keys = el.getAttribute("data-layers").split(" ");
      var on = keys.some(function (k) {
        var g = self.groups[k];
        return g && self.map.hasLayer(g);
      });
      el.classList.toggle("netplan-hidden", !on);
    });
  };

  NetplanMap.prototype.drawOutlets = function () {
    var o = this.data.outlets, self = this, icons = this.data.icons || {};
    if (!o) { return; }
    var layers = this.data.outlet_layers || {};
    Object.keys(layers).forEach(function (layerKey) {
      var group = self.groups[layerKey];
      if (!group) { return; }
      var byId = {};
      self.markers[layerKey] = byId;
      layers[layerKey].forEach(function (entry) {
        var i = entry[0], ic = icons[entry[1]];
        var icon = L.divIcon({
          html: ic.html, className: "netplan-outlet netplan-icon-" + entry[1],
          iconSize: [ic.size, ic.size], iconAnchor: [ic.size / 2, ic.size / 2],
          popupAnchor: [0, -ic.size / 2], tooltipAnchor: [ic.size / 2, 0]
        });
        var mk = L.marker([o.lat[i], o.lon[i]], {
          icon: icon, zIndexOffset: ic.z || 0, riseOnHover: true, keyboard: false
        });
        mk.bindPopup(o.popup[i], { maxWidth: 380 });
        mk.bindTooltip(o.name[i] + " · " + ic.label, { direction: "right" });
        var rawId = o.id[i];
        mk.on("add", function () {
          var el = mk.getElement();
          if (el) { el.setAttribute("data-site", rawId); el.setAttribute("data-layer", layerKey); }
        });
        mk.addTo(group);
        byId[rawId] = mk;
      });
    });
  };

  NetplanMap.prototype.drawArrows = function () {
    var g = this.groups.relocations, arrows = this.data.arrows;
    if (!g || !arrows) { return; }
    var color = this.data.arrow_color || "#e69f00";
    arrows.forEach(function (a) {
      L.polyline([[a[0], a[1]], [a[2], a[3]]], {
        color: color, weight: 3, opacity: 0.95, dashArray: "6 4"
      }).bindTooltip(a[5], { sticky: true }).addTo(g);
      var head = L.divIcon({
        className: "netplan-arrowhead",
        html: "<svg width=\"18\" height=\"18\" viewBox=\"-9 -9 18 18\">" +
          "<g transform=\"rotate(" + a[4] + ")\"><polygon points=\"8,0 -6,-6 -3,0 -6,6\" " +
          "fill=\"" + color + "\" stroke=\"#5a3d00\" stroke-width=\"1\"/></g></svg>",
        iconSize: [18, 18], iconAnchor: [9, 9]
      });
      // the head sits half-way, so that the new site's marker does not hide it
      L.marker([(a[0] + a[2]) / 2, (a[1] + a[3]) / 2], { icon: head, interactive: false,
        keyboard: false, zIndexOffset: -100 }).addTo(g);
    });
  };

  NetplanMap.prototype.setOverlay = function (key, on) {
    var g = this.groups[key];
    if (!g) { return; }
    if (on && !this.map.hasLayer(g)) { this.map.addLayer(g); }
    if (!on && this.map.hasLayer(g)) { this.map.removeLayer(g); }
  };

  NetplanMap.prototype.showMeasure = function (key) {
    var target = this.groupOfMeasure[key];
    if (!target) { return; }
    var self = this;
    Object.keys(this.groupOfMeasure).forEach(function (k) {
      var g = self.groupOfMeasure[k];
      if (g !== target && self.map.hasLayer(g)) { self.map.removeLayer(g); }
    });
    if (!this.map.hasLayer(target)) { this.map.addLayer(target); }
    this.setMeasure(key);
  };

  NetplanMap.prototype.applyView = function (name) {
    var v = (this.data.views || {})[name];
    if (!v) { return; }
    var self = this;
    Object.keys(v.overlays).forEach(function (k) { self.setOverlay(k, v.overlays[k]); });
    if (v.measure) { this.showMeasure(v.measure); }
    this.view = name;
    this.updateLegends();
    this.markView();
  };

  NetplanMap.prototype.bindViews = function () {
    var self = this;
    var buttons = document.querySelectorAll(".netplan-views button[data-view]");
    Array.prototype.forEach.call(buttons, function (b) {
      L.DomEvent.on(b, "click", function (e) {
        L.DomEvent.stop(e);
        self.applyView(b.getAttribute("data-view"));
      });
    });
    this.view = this.data.default_view || null;
    this.markView();
  };

  NetplanMap.prototype.markView = function () {
    var self = this;
    var buttons = document.querySelectorAll(".netplan-views button[data-view]");
    Array.prototype.forEach.call(buttons, function (b) {
      b.classList.toggle("netplan-active", b.getAttribute("data-view") === self.view);
    });
  };

  // The frame: the Leaflet map, one feature group per zone measure (base layers) and per
  // overlay, the optional tile layer, the layer list. Layer titles are escaped in Python.
  function buildFrame(data) {
    var frame = data.frame;
    var map = L.map("netplan-map", {
      center: [0, 0], zoom: 1, zoomControl: true, preferCanvas: false, zoomSnap: 0.25
    });
    L.control.scale().addTo(map);
    var groups = {}, base = {}, over = {};
    function add(list, into) {
      list.forEach(function (l) {  // [key, title (escaped HTML), shown at start]
        var g = L.featureGroup();
        groups[l[0]] = g;
        into[l[1]] = g;
        if (l[2]) { g.addTo(map); }
      });
    }
    add(frame.base, base);
    add(frame.overlays, over);
    if (frame.tiles) {
      var t = frame.tiles;
      var tiles = L.tileLayer(t.url, {
        minZoom: 0, maxZoom: 18, maxNativeZoom: 18, attribution: t.attribution,
        subdomains: t.subdomains
      });
      tiles.addTo(map);
      over[t.title] = tiles;
    }
    L.control.layers(base, over, { position: "topright", collapsed: false, autoZIndex: true })
      .addTo(map);
    map.fitBounds(frame.bounds);
    return { map: map, groups: groups };
  }

  window.netplanMap = function (data) {
    var frame = buildFrame(data);
    var app = new NetplanMap(frame.map, frame.groups, data);
    window.netplan = app;
    return app;
  };
}());
