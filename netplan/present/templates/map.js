/* netplan map runtime: draws a netplan map from one JSON payload and runs its side panel.
 *
 * Inlined into every map next to Leaflet; needs no network. Every string of the payload
 * that ends up as HTML (names, ids, popups, labels) was escaped in Python; raw strings
 * (site ids) are only ever set as DOM attributes, never parsed as HTML. A search query is
 * escaped the same way before it is compared with the escaped names.
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

  var ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#x27;" };

  function escHtml(s) {  // as Python's html.escape(s, quote=True)
    return String(s).replace(/[&<>"']/g, function (c) { return ESCAPES[c]; });
  }

  function all(selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector));
  }

  function NetplanMap(map, groups, data) {
    this.map = map;
    this.groups = groups;
    this.data = data;
    this.markers = {};
    this.measure = null;
    this.zoneLayer = null;
    this.hidden = {};
    this.district = "";
    this.query = "";
    this.selected = null;
    this.rows = {};
    var o = data.outlets || { id: [] };
    this.iconOf = {};
    var self = this;
    this.indexIcons();
    if (data.phases) {  // a phased plan: the page's own layers are its last phase's
      this.phase = data.phases.length - 1;
      this.phaseBase = { layers: data.outlet_layers, popup: o.popup, arr: o.arr, wait: o.wait,
        arrows: data.arrows };
    }
    map.createPane("netplanBase").style.zIndex = 250;
    map.createPane("netplanZones").style.zIndex = 350;
    map.createPane("netplanCatch").style.zIndex = 370;
    map.createPane("netplanContext").style.zIndex = 380;
    map.createPane("netplanFocus").style.zIndex = 390;
    map.createPane("netplanPoints").style.zIndex = 420;
    map.createPane("netplanLabels").style.zIndex = 590;
    this.zoneRenderer = L.canvas({ pane: "netplanZones", padding: 0.2 });
    this.catchRenderer = L.canvas({ pane: "netplanCatch", padding: 0.2 });
    // one canvas per pane would take the clicks meant for the zones' canvas below it:
    // the points are SVG, and the catchment's canvas lets clicks through (map.css)
    this.pointRenderer = L.svg({ pane: "netplanPoints", padding: 0.2 });
    this.catchLayer = L.layerGroup().addTo(map);
    this.drawContext();
    this.drawPoints();
    this.drawZones();
    this.drawFocus();
    this.drawOutlets();
    this.drawArrows();
    this.bindPanel();
    if (data.phases && data.phase_default !== this.phase) { this.setPhase(data.phase_default); }
    var checked = document.querySelector("input[name=netplan-measure]:checked");
    this.setMeasure(checked ? checked.value : data.default_measure);
    this.view = data.default_view || null;
    this.markView();
    this.applyFilters();
    // the table of outlets fills once the map has drawn its first frame
    requestAnimationFrame(function () {
      setTimeout(function () {
        self.buildTable(o);
        self.applyFilters();
        self.showPhase();
        document.body.classList.add("netplan-ready");
      }, 0);
    });
  }

  NetplanMap.prototype.indexIcons = function () {
    var self = this, layers = this.data.outlet_layers || {};
    this.iconOf = {};
    Object.keys(layers).forEach(function (k) {
      self.iconOf[k] = {};
      layers[k].forEach(function (e) { self.iconOf[k][e[0]] = e[1]; });
    });
  };

  // --- phases (a phased plan) -------------------------------------------------------------

  // Show the network after phase k: its markers, popups, figures, arrows, table and KPIs.
  NetplanMap.prototype.setPhase = function (k) {
    var ph = this.data.phases, self = this;
    if (!ph || k < 0 || k >= ph.length || k === this.phase) { return; }
    var p = ph[k], b = this.phaseBase, o = this.data.outlets;
    this.phase = k;
    this.data.outlet_layers = p.layers || b.layers;
    o.popup = p.popup || b.popup;
    o.arr = p.arr || b.arr;
    o.wait = p.wait || b.wait;
    this.data.arrows = p.arrows || b.arrows;
    this.indexIcons();
    this.map.closePopup();
    this.clearPick();
    Object.keys(this.markers).forEach(function (key) {
      if (self.groups[key]) { self.groups[key].clearLayers(); }
    });
    this.markers = {};
    if (this.groups.relocations) { this.groups.relocations.clearLayers(); }
    this.drawOutlets();
    this.drawArrows();
    if (this.tableRows) {
      var col = this.sortCol, asc = this.sortAsc;
      this.buildTable(o);
      this.sortTable(col, asc);
    }
    this.applyFilters();
    this.showPhase();
  };

  // The slider, the KPI panel (the phase's own kpis.json, drawn in Python) and the line
  // of figures read from the phase's behaviour block.
  NetplanMap.prototype.showPhase = function () {
    var ph = this.data.phases;
    if (!ph) { return; }
    var p = ph[this.phase], k = this.phase;
    var slider = document.getElementById("netplan-phase");
    if (slider) {
      slider.value = String(k);
      slider.setAttribute("aria-valuetext", String(p.year));
    }
    all("#netplan-phases button[data-phase]").forEach(function (btn) {
      var on = Number(btn.getAttribute("data-phase")) === k;
      btn.classList.toggle("netplan-active", on);
      btn.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var body = document.getElementById("netplan-kpi-body");
    if (body) { body.innerHTML = p.kpi_html; }  // netplan's own markup, escaped in Python
    all("[data-count]").forEach(function (el) {
      el.textContent = fmt((p.counts || {})[el.getAttribute("data-count")] || 0, 0);
    });
    var status = document.getElementById("netplan-phase-status");
    if (status) {
      var after = (p.behaviour || {}).after;
      status.textContent = "After phase " + p.year + " (" + (k + 1) + " of " + ph.length +
        "): " + (after ? "counter wait " + fmt(after.counter_mean_wait_min, 1) + " min, " +
          fmt(100 * after.share_customers_wait_over_target, 1) + " % of customers wait over " +
          "the target, " + fmt(after.overloaded_outlets, 0) + " outlets overloaded" :
          "no behaviour figures") + ". Actions this phase: " +
        p.done + ".";  // plain text, set as text
    }
  };

  NetplanMap.prototype.bindPhases = function () {
    var self = this, slider = document.getElementById("netplan-phase");
    if (!this.data.phases) { return; }
    if (slider) {
      slider.addEventListener("input", function () { self.setPhase(Number(slider.value)); });
    }
    all("#netplan-phases button[data-phase]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        self.setPhase(Number(btn.getAttribute("data-phase")));
      });
    });
  };

  // --- drawing ------------------------------------------------------------------------

  NetplanMap.prototype.drawContext = function () {
    var d = this.data, g = this.groups;
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
      var land = L.canvas({ pane: "netplanBase", padding: 0.2 });
      d.districts.forEach(function (dist) {
        // the study's own background: districts filled as land, under the zones
        L.polygon(polygonLatLngs(dist.geom), {
          renderer: land, pane: "netplanBase", stroke: false, fillColor: "#fbfaf6",
          fillOpacity: 1, interactive: false
        }).addTo(g.districts);
        var p = L.polygon(polygonLatLngs(dist.geom), {
          pane: "netplanContext", color: "#444", weight: 1.6, fill: false, interactive: false
        });
        p.bindTooltip(dist.name, {
          permanent: true, direction: "center", className: "netplan-district-label",
          interactive: false, pane: "netplanLabels"  // under the outlets' markers
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
  };

  NetplanMap.prototype.drawPoints = function () {
    var self = this;
    function points(key, style) {
      var p = self.data[key], g = self.groups[key];
      if (!p || !g) { return; }
      for (var i = 0; i < p.lat.length; i++) {
        L.circleMarker([p.lat[i], p.lon[i]], Object.assign({
          renderer: self.pointRenderer, pane: "netplanPoints"
        }, style)).bindTooltip(p.name[i] + " (" + p.id[i] + ")").addTo(g);
      }
    }
    points("metro", { radius: 3, stroke: false, fillColor: "#1f4e9a", fillOpacity: 0.9 });
    points("candidates", { radius: 4.5, color: "#555", weight: 1.4, dashArray: "2 1.5",
      fill: true, fillOpacity: 0 });
  };

  NetplanMap.prototype.drawFocus = function () {
    var f = this.data.focus;
    if (!f) { return; }
    var world = [[-89, -179], [-89, 179], [89, 179], [89, -179]];
    var holes = [];
    f.geom.forEach(function (poly) { holes.push(pairs(poly[0])); });
    L.polygon([world].concat(holes), {
      pane: "netplanFocus", stroke: false, fillColor: "#ffffff", fillOpacity: 0.55,
      interactive: false
    }).addTo(this.map);
    L.polygon(polygonLatLngs(f.geom), {
      pane: "netplanFocus", color: "#111", weight: 3, fill: false, interactive: false
    }).addTo(this.map);
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

  NetplanMap.prototype.zoneValue = function (r, i) {
    var z = this.data.zones, v = z.val, kind = r[0];
    if (kind === "num") { return fmt(v[r[2]][i], r[3]) + (r[4] ? " " + r[4] : ""); }
    if (kind === "signed") { return signed(v[r[2]][i], r[3]) + (r[4] ? " " + r[4] : ""); }
    if (kind === "pair") {
      return fmt(v[r[2]][i], r[4]) + " → " + fmt(v[r[3]][i], r[4]) + (r[5] ? " " + r[5] : "");
    }
    if (kind === "outlet") { return this.outletLabel(v[r[2]][i]); }
    if (kind === "outlet_pair") {
      return this.outletLabel(v[r[2]][i]) + " → " + this.outletLabel(v[r[3]][i]);
    }
    if (kind === "lookup") {
      var t = z.tables[r[3]], k = v[r[2]][i];
      return (k === null || k < 0) ? "–" : t[k];
    }
    return "";
  };

  NetplanMap.prototype.zoneHtml = function (i) {
    var z = this.data.zones, self = this;
    var rows = z.rows.map(function (r) {
      return "<tr><td>" + r[1] + "</td><td>" + self.zoneValue(r, i) + "</td></tr>";
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
          var c = cls[i], none = (c === null || c < 0);
          var op = none ? m.nodata_opacity
            : (m.opacities ? m.opacities[c % m.opacities.length] : m.opacity);
          this.zonePolys[i].setStyle({
            fillColor: none ? m.nodata : colors[c % colors.length], fillOpacity: op,
            opacity: op > 0 ? 0.6 : 0
          });
        }
        if (!map.hasLayer(this.zoneLayer)) { this.zoneLayer.addTo(map); }
      }
    }
    all("input[name=netplan-measure]").forEach(function (r) { r.checked = r.value === key; });
    this.updateLegends();
  };

  NetplanMap.prototype.updateLegends = function () {
    var self = this;
    all(".netplan-measure-legend").forEach(function (el) {
      el.classList.toggle("netplan-hidden", el.getAttribute("data-measure") !== self.measure);
    });
    all("[data-layers]").forEach(function (el) {
      var on = el.getAttribute("data-layers").split(" ").some(function (k) {
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
      var byIdx = {};
      self.markers[layerKey] = byIdx;
      layers[layerKey].forEach(function (entry) {
        var i = entry[0], ic = icons[entry[1]];
        var icon = L.divIcon({
          html: ic.html, className: "netplan-outlet netplan-icon-" + entry[1],
          iconSize: [ic.size, ic.size], iconAnchor: [ic.size / 2, ic.size / 2],
          popupAnchor: [0, -ic.size / 2], tooltipAnchor: [ic.size / 2, 0]
        });
        // the action's stacking order outweighs the latitude Leaflet stacks by
        var mk = L.marker([o.lat[i], o.lon[i]], {
          icon: icon, zIndexOffset: (ic.z || 0) * 20, riseOnHover: true, keyboard: false
        });
        mk.bindPopup(o.popup[i], { maxWidth: 380, autoPanPadding: [10, 10] });
        mk.bindTooltip(o.name[i] + " · " + ic.label, { direction: "right" });
        var rawId = o.id[i];
        mk.on("add", function () {
          var el = mk.getElement();
          if (el) {
            el.setAttribute("data-site", rawId);
            el.setAttribute("data-layer", layerKey);
            el.classList.toggle("netplan-picked", self.selected === i);
          }
        });
        mk.on("click", function () { self.pick(i, false); });
        mk.addTo(group);
        byIdx[i] = mk;
      });
    });
    if (!this.popupBound) {
      this.map.on("popupclose", function () { self.clearPick(); });
      this.popupBound = true;
    }
  };

  NetplanMap.prototype.drawArrows = function () {
    var g = this.groups.relocations, arrows = this.data.arrows;
    this.arrowParts = [];
    if (!g || !arrows) { return; }
    var color = this.data.arrow_color || "#e69f00", self = this;
    arrows.forEach(function (a) {
      var line = L.polyline([[a[0], a[1]], [a[2], a[3]]], {
        color: color, weight: 3, opacity: 0.95, dashArray: "6 4"
      }).bindTooltip(a[5], { sticky: true });
      var head = L.divIcon({
        className: "netplan-arrowhead",
        html: "<svg width=\"18\" height=\"18\" viewBox=\"-9 -9 18 18\">" +
          "<g transform=\"rotate(" + a[4] + ")\"><polygon points=\"8,0 -6,-6 -3,0 -6,6\" " +
          "fill=\"" + color + "\" stroke=\"#5a3d00\" stroke-width=\"1\"/></g></svg>",
        iconSize: [18, 18], iconAnchor: [9, 9]
      });
      // the head sits half-way, so that the new site's marker does not hide it
      var mid = L.marker([(a[0] + a[2]) / 2, (a[1] + a[3]) / 2], { icon: head,
        interactive: false, keyboard: false, zIndexOffset: -100 });
      line.addTo(g);
      mid.addTo(g);
      self.arrowParts.push([a[6], line, mid]);
    });
  };

  // --- find and filter ------------------------------------------------------------------

  NetplanMap.prototype.buildTable = function (o) {
    var t = this.data.table, body = document.querySelector("#netplan-table tbody");
    this.tableRows = [];
    this.rows = {};
    if (!t || !body) { return; }
    var icons = this.data.icons || {}, self = this, html = [];
    var skip = t.skip || [];
    var entries = (this.data.outlet_layers[t.layer] || []).filter(function (e) {
      return skip.indexOf(e[1]) < 0;  // outlets shown only for context have no row
    }).sort(function (a, b) {
      return ((icons[b[1]].z || 0) - (icons[a[1]].z || 0)) || (a[0] - b[0]);  // changes first
    });
    entries.forEach(function (e) {
      var i = e[0], ic = icons[e[1]];
      var cells = t.cols.map(function (c) {
        if (c[0] === "icon") {
          return "<td class=\"netplan-act\">" + ic.html + ic.label + "</td>";
        }
        if (c[0] === "name") {
          return "<td>" + o.name[i] + " <span class=\"netplan-id\">" + o.id_html[i] +
            "</span></td>";
        }
        return "<td class=\"netplan-num\">" + fmt(o[c[1]][i], 1) + "</td>";
      });
      html.push("<tr data-i=\"" + i + "\">" + cells.join("") + "</tr>");
      self.tableRows.push({ i: i, z: -(ic.z || 0) });
    });
    // one parse for every row: netplan's icons and Python-escaped names only
    body.innerHTML = html.join("");
    Array.prototype.forEach.call(body.rows, function (tr, k) {
      var r = self.tableRows[k];
      r.tr = tr;
      self.rows[r.i] = tr;
      tr.setAttribute("data-site", o.id[r.i]);  // the raw id, as an attribute
    });
    if (!this.tableBound) {
      body.addEventListener("click", function (e) {
        var tr = e.target.closest("tr[data-i]");
        if (tr) { self.pick(Number(tr.getAttribute("data-i")), true); }
      });
      this.tableBound = true;
    }
    this.sortCol = 0;
    this.sortAsc = true;
    this.markSort();
  };

  NetplanMap.prototype.markSort = function () {
    var col = this.sortCol, asc = this.sortAsc;
    all("#netplan-table th button").forEach(function (b) {
      var k = Number(b.getAttribute("data-sort"));
      if (k === col) { b.setAttribute("aria-sort", asc ? "ascending" : "descending"); }
      else { b.removeAttribute("aria-sort"); }
    });
  };

  NetplanMap.prototype.sortKey = function (row, col) {
    var c = this.data.table.cols[col], o = this.data.outlets;
    if (c[0] === "icon") { return row.z; }
    if (c[0] === "name") { return o.name[row.i]; }
    return o[c[1]][row.i];
  };

  NetplanMap.prototype.sortTable = function (col, asc) {
    var self = this, body = document.querySelector("#netplan-table tbody");
    this.tableRows.sort(function (a, b) {
      var x = self.sortKey(a, col), y = self.sortKey(b, col);
      if (x === null || x === undefined) { return (y === null || y === undefined) ? a.i - b.i : 1; }
      if (y === null || y === undefined) { return -1; }
      var c = (typeof x === "string") ? x.localeCompare(y) : x - y;
      return (c === 0 ? a.i - b.i : (asc ? c : -c));
    });
    var frag = document.createDocumentFragment();
    this.tableRows.forEach(function (r) { frag.appendChild(r.tr); });
    body.appendChild(frag);
    this.sortCol = col;
    this.sortAsc = asc;
    this.markSort();
  };

  NetplanMap.prototype.districtOk = function (i) {
    return this.district === "" || String(this.data.outlets.d[i]) === this.district;
  };

  NetplanMap.prototype.searchOk = function (i) {
    if (!this.query) { return true; }
    var o = this.data.outlets;
    return o.name[i].toLowerCase().indexOf(this.query) >= 0 ||
      o.id_html[i].toLowerCase().indexOf(this.query) >= 0;
  };

  NetplanMap.prototype.applyFilters = function () {
    var self = this, t = this.data.table || {};
    Object.keys(this.markers).forEach(function (layerKey) {
      var group = self.groups[layerKey], icons = self.iconOf[layerKey];
      Object.keys(self.markers[layerKey]).forEach(function (k) {
        var i = Number(k), mk = self.markers[layerKey][k];
        var on = self.districtOk(i) && !(layerKey === t.layer && self.hidden[icons[i]]);
        if (on && !group.hasLayer(mk)) { group.addLayer(mk); }
        if (!on && group.hasLayer(mk)) { group.removeLayer(mk); }
      });
    });
    var acts = this.iconOf[t.layer] || {};
    (this.arrowParts || []).forEach(function (p) {
      var on = self.districtOk(p[0]) && !self.hidden[acts[p[0]]];
      [p[1], p[2]].forEach(function (l) {
        var g = self.groups.relocations;
        if (on && !g.hasLayer(l)) { g.addLayer(l); }
        if (!on && g.hasLayer(l)) { g.removeLayer(l); }
      });
    });
    var shown = 0;
    (this.tableRows || []).forEach(function (r) {
      var on = self.districtOk(r.i) && self.searchOk(r.i) && !self.hidden[acts[r.i]];
      r.tr.hidden = !on;
      if (on) { shown += 1; }
    });
    var count = document.getElementById("netplan-table-count");
    if (count) {
      count.textContent = shown + " of " + (this.tableRows || []).length + " shown";
    }
  };

  NetplanMap.prototype.firstShown = function () {
    var rows = this.tableRows || [];
    for (var k = 0; k < rows.length; k++) { if (!rows[k].tr.hidden) { return rows[k].i; } }
    return null;
  };

  NetplanMap.prototype.markerOf = function (i) {
    var t = this.data.table || {}, self = this;
    var order = [t.layer].concat(Object.keys(this.markers).filter(function (k) {
      return k !== t.layer;
    }));
    for (var k = 0; k < order.length; k++) {
      var byIdx = this.markers[order[k]], g = this.groups[order[k]];
      var mk = byIdx && byIdx[i];
      if (mk && g && self.map.hasLayer(g) && g.hasLayer(mk)) { return mk; }
    }
    return null;
  };

  // Select outlet i: its row, its marker, its popup (from the table) and its catchment.
  NetplanMap.prototype.pick = function (i, fromTable) {
    var o = this.data.outlets;
    if (fromTable) {
      var ll = L.latLng(o.lat[i], o.lon[i]);
      this.map.setView(ll, Math.max(this.map.getZoom(), 13), { animate: false });
      var mk = this.markerOf(i);
      if (mk) { mk.openPopup(); } else {
        L.popup({ maxWidth: 380 }).setLatLng(ll).setContent(o.popup[i]).openOn(this.map);
      }
    }
    this.selected = i;
    all("#netplan-table tr.netplan-selected").forEach(function (tr) {
      tr.classList.remove("netplan-selected");
    });
    var row = this.rows[i];
    if (row) {
      row.classList.add("netplan-selected");
      if (!fromTable && !row.hidden) { row.scrollIntoView({ block: "nearest" }); }
    }
    all(".netplan-outlet.netplan-picked").forEach(function (el) {
      el.classList.remove("netplan-picked");
    });
    all(".netplan-outlet[data-site]").forEach(function (el) {
      if (el.getAttribute("data-site") === o.id[i]) { el.classList.add("netplan-picked"); }
    });
    this.showCatchment(i);
  };

  NetplanMap.prototype.clearPick = function () {
    this.selected = null;
    this.catchLayer.clearLayers();
    all(".netplan-outlet.netplan-picked").forEach(function (el) {
      el.classList.remove("netplan-picked");
    });
    var status = document.getElementById("netplan-status");
    if (status) { status.innerHTML = ""; }
  };

  // The zones whose customers go to outlet i: [[zone, share %], ...] and the note saying how.
  NetplanMap.prototype.catchmentOf = function (i) {
    var z = this.data.zones, out = [];
    if (!z) { return [out, ""]; }
    var list = (z.catch || [])[i] || [];
    for (var k = 0; k + 1 < list.length; k += 2) { out.push([list[k], list[k + 1]]); }
    if (out.length) { return [out, "catch"]; }
    var keys = z.catch_keys || [];
    for (var n = 0; n < keys.length; n++) {
      var v = z.val[keys[n]];
      for (var j = 0; j < v.length; j++) { if (v[j] === i) { out.push([j, 100]); } }
      if (out.length) { return [out, keys[n]]; }
    }
    return [out, ""];
  };

  NetplanMap.prototype.showCatchment = function (i) {
    var z = this.data.zones, self = this;
    this.catchLayer.clearLayers();
    var found = this.catchmentOf(i), zones = found[0];
    var residents = 0;
    zones.forEach(function (e) {
      var p = e[1] / 100;
      residents += (z.val.pop[e[0]] || 0) * p;
      L.polygon(polygonLatLngs(z.geom[e[0]]), {
        renderer: self.catchRenderer, pane: "netplanCatch", color: "#4a2a7a", weight: 1.2,
        fillColor: "#7b3294", fillOpacity: 0.15 + 0.5 * p, interactive: false
      }).addTo(self.catchLayer);
    });
    var status = document.getElementById("netplan-status");
    if (!status) { return; }
    var o = this.data.outlets, notes = (z && z.catch_notes) || {};
    status.innerHTML = zones.length ?  // escaped names and netplan's own notes only
      "Catchment of " + o.name[i] + " (" + o.id_html[i] + "): " + zones.length +
      " zones, about " + fmt(residents, 0) + " residents; " + (notes[found[1]] || "") : "";
  };

  // --- panel ------------------------------------------------------------------------------

  NetplanMap.prototype.setOverlay = function (key, on) {
    var g = this.groups[key];
    if (!g) { return; }
    if (on && !this.map.hasLayer(g)) { this.map.addLayer(g); }
    if (!on && this.map.hasLayer(g)) { this.map.removeLayer(g); }
    all("input[data-overlay]").forEach(function (b) {
      if (b.getAttribute("data-overlay") === key) { b.checked = on; }
    });
    this.updateLegends();
  };

  NetplanMap.prototype.applyView = function (name) {
    var v = (this.data.views || {})[name];
    if (!v) { return; }
    var self = this;
    Object.keys(v.overlays).forEach(function (k) { self.setOverlay(k, v.overlays[k]); });
    this.hidden = {};
    (v.hide || []).forEach(function (k) { self.hidden[k] = true; });
    all("input[data-filter]").forEach(function (b) {
      b.checked = !self.hidden[b.getAttribute("data-filter")];
    });
    if (v.measure) { this.setMeasure(v.measure); }
    this.view = name;
    this.applyFilters();
    this.markView();
  };

  NetplanMap.prototype.markView = function () {
    var self = this;
    all(".netplan-views button[data-view]").forEach(function (b) {
      b.classList.toggle("netplan-active", b.getAttribute("data-view") === self.view);
    });
  };

  NetplanMap.prototype.addTileToggle = function () {
    var t = this.data.frame.tiles, list = document.getElementById("netplan-layers");
    if (!t || !list) { return; }
    var item = document.createElement("div");
    item.className = "netplan-layer";
    // the title and attribution are netplan's own, escaped in Python
    item.innerHTML = "<label class=\"netplan-choice\"><input type=\"checkbox\" " +
      "data-overlay=\"tiles\" checked><span>" + t.title + "</span></label>" +
      "<div class=\"netplan-legend-block netplan-note\" data-layers=\"tiles\">" +
      t.attribution + "</div>";
    list.appendChild(item);
  };

  NetplanMap.prototype.bindPanel = function () {
    var self = this, map = this.map;
    this.addTileToggle();
    this.bindPhases();
    var toggle = document.getElementById("netplan-side-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var closed = document.body.classList.toggle("netplan-collapsed");
        toggle.setAttribute("aria-expanded", closed ? "false" : "true");
        map.invalidateSize();
      });
    }
    all("input[name=netplan-measure]").forEach(function (r) {
      r.addEventListener("change", function () { if (r.checked) { self.setMeasure(r.value); } });
    });
    all("input[data-overlay]").forEach(function (b) {
      b.addEventListener("change", function () {
        self.setOverlay(b.getAttribute("data-overlay"), b.checked);
      });
    });
    all("input[data-filter]").forEach(function (b) {
      b.addEventListener("change", function () {
        self.hidden[b.getAttribute("data-filter")] = !b.checked;
        self.view = null;
        self.markView();
        self.applyFilters();
      });
    });
    all(".netplan-views button[data-view]").forEach(function (b) {
      b.addEventListener("click", function () { self.applyView(b.getAttribute("data-view")); });
    });
    all("#netplan-table th button").forEach(function (b) {
      b.addEventListener("click", function () {
        var k = Number(b.getAttribute("data-sort"));
        self.sortTable(k, self.sortCol === k ? !self.sortAsc : true);
      });
    });
    var search = document.getElementById("netplan-search");
    if (search) {
      search.addEventListener("input", function () {
        self.query = escHtml(search.value.trim().toLowerCase());
        self.applyFilters();
      });
      search.addEventListener("keydown", function (e) {
        if (e.key !== "Enter") { return; }
        e.preventDefault();
        var i = self.firstShown();
        if (i !== null) { self.pick(i, true); }
      });
    }
    var district = document.getElementById("netplan-district");
    if (district) {
      district.addEventListener("change", function () {
        self.district = district.value;
        self.applyFilters();
      });
    }
  };

  // The frame: the Leaflet map, one feature group per overlay, the optional tile layer.
  function buildFrame(data) {
    var frame = data.frame;
    var map = L.map("netplan-map", {
      center: [0, 0], zoom: 1, zoomControl: true, preferCanvas: false, zoomSnap: 0.25
    });
    L.control.scale().addTo(map);
    var groups = {};
    frame.overlays.forEach(function (l) {  // [key, title (escaped HTML), shown at start]
      var g = L.featureGroup();
      groups[l[0]] = g;
      if (l[2]) { g.addTo(map); }
    });
    if (frame.tiles) {
      var t = frame.tiles;
      groups.tiles = L.tileLayer(t.url, {
        minZoom: 0, maxZoom: 18, maxNativeZoom: 18, attribution: t.attribution,
        subdomains: t.subdomains || "abc"
      }).addTo(map);
    }
    map.fitBounds(frame.bounds, { padding: [8, 8] });
    return { map: map, groups: groups };
  }

  window.netplanMap = function (data) {
    var frame = buildFrame(data);
    var app = new NetplanMap(frame.map, frame.groups, data);
    window.netplan = app;
    return app;
  };
}());
