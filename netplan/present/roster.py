"""The staffing heat map: counters to open, hour x outlet, as one offline HTML page.

The markup and the script are netplan's own constants; the data (outlet ids, counters,
waits, the summary) enters the page only as JSON inside a
``<script type="application/json">`` element (:func:`netplan.present.page.script_json`)
and is put on screen with ``textContent`` and ``title``, never as markup.
"""

from __future__ import annotations

from typing import Any

from netplan.planning.staffing import Staffing
from netplan.present.page import document, script_json

__all__ = ["heatmap_html"]

_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}
table.sum td{padding:2px 10px}
#grid{display:grid;gap:1px;margin-top:1em;font-size:11px}
#grid div{padding:1px 3px;text-align:center;white-space:nowrap}
#grid .id{text-align:left}
#grid .short{outline:2px solid #b00}
.legend span{display:inline-block;width:1.6em;text-align:center;margin-right:2px}
"""

_SCRIPT = """
(function(){
  var d = JSON.parse(document.getElementById('roster-data').textContent);
  var sum = document.getElementById('summary');
  d.summary_rows.forEach(function(r){
    var tr = document.createElement('tr');
    r.forEach(function(v){
      var td = document.createElement('td'); td.textContent = v; tr.appendChild(td);
    });
    sum.appendChild(tr);
  });
  document.getElementById('rule').textContent = d.rule_note;
  var grid = document.getElementById('grid');
  grid.style.gridTemplateColumns = 'minmax(6em,max-content) repeat(' + d.hours.length + ',3em)';
  function cell(text, cls){var c=document.createElement('div');c.textContent=text;
    if(cls){c.className=cls;} grid.appendChild(c); return c;}
  cell('outlet', 'id');
  d.hours.forEach(function(h){cell(h);});
  var top = Math.max(1, d.max_counters);
  d.outlets.forEach(function(o){
    cell(o.id, 'id');
    o.open.forEach(function(n, j){
      var c = cell(String(n), o.short[j] ? 'short' : '');
      var t = n / top;
      c.style.background = 'rgb(' + Math.round(255 - 200*t) + ',' + Math.round(255 - 120*t)
        + ',' + Math.round(255 - 40*t) + ')';
      c.title = o.id + ' ' + d.hours[j] + ': ' + n + ' counter(s), ' + o.arrivals[j]
        + ' arrivals/h, wait ' + o.wait[j] + ' min' + (o.short[j] ? ' (short: needs '
        + o.need[j] + ')' : '');
    });
  });
})();
"""

_BODY = """<h1>Counters to open, hour by hour</h1>
<p id="rule"></p>
<table class="sum"><tbody id="summary"></tbody></table>
<p>Each cell: counters to open at the outlet in that hour (darker = more); a red frame marks
an hour that needs more counters than the outlet has (only building relieves it). Hover a
cell for its arrivals and expected wait.</p>
<div id="grid"></div>
"""


def heatmap_html(result: Staffing, *, title: str = "netplan staffing") -> str:
    """The heat map page of a roster.

    Parameters
    ----------
    result
        The staffing (:func:`netplan.planning.staffing.staff`).
    title
        The page title (plain text).

    Returns
    -------
    str
        A standalone HTML document.
    """
    r = result.roster
    n_h = len(result.hours)
    s = result.summary
    outlets: list[dict[str, Any]] = []
    for k in range(len(r) // n_h if n_h else 0):
        block = r.iloc[k * n_h:(k + 1) * n_h]
        outlets.append({
            "id": str(block["outlet_id"].iloc[0]),
            "open": [int(x) for x in block["counters_open"]],
            "need": [int(x) for x in block["counters_needed"]],
            "short": [bool(x) for x in block["short"]],
            "arrivals": [round(float(x), 1) for x in block["arrivals_per_h"]],
            "wait": [round(float(x), 1) for x in block["wait_min"]],
        })
    data = {
        "hours": s["hours"],
        "max_counters": int(r["counters_open"].max()) if len(r) else 0,
        "rule_note": (f"Arrivals from the behaviour model (rule {s['rule']}) times each "
                      "outlet's hourly profile from its queue log; waits are the model's "
                      "(Erlang A) at the counters opened."),
        "summary_rows": [
            ["staff hours, every installed counter all day", s["staff_hours_installed"]],
            ["staff hours, flat roster (busiest hour's counters all day)",
             s["staff_hours_flat"]],
            ["staff hours, hour by hour", s["staff_hours_hourly"]],
            ["staff hours, own staff + floaters", s["staff_hours_with_floaters"]],
            ["outlet-hours short of counters", s["short_outlet_hours"]],
            ["counter mean wait (min)", s["counter_mean_wait_min"]],
        ],
        "outlets": outlets,
    }
    body = (_BODY + '<script type="application/json" id="roster-data">'
            + script_json(data) + "</script>")
    return document(title=title, css=_CSS, body_html=body, script=_SCRIPT)
