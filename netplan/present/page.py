"""The fixed page frames of the map and the report, and the only ways data enter them.

Data never become code. A page is assembled from constant markup; user data go in only
as HTML-escaped text (:func:`netplan.present.texts.esc`, applied where each fragment is
built) or as one JSON document inside ``<script type="application/json">``
(:func:`script_json`). No template engine ever sees a user's string, so a name such as
``{{ 6*7 }}`` or ``{% if %}`` is just text.

Leaflet's JS and CSS are inlined (vendored from the npm package ``leaflet`` 1.9.4,
BSD-2-Clause, under ``templates/vendor/leaflet``) with the map's own ``map.css`` and
``map.js``: a page loads nothing from the network.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from netplan.present.texts import esc

__all__ = ["document", "inline_script", "map_page", "script_json"]

#: Characters that could end or confuse a ``<script>`` element or a JS string literal.
_JSON_ESCAPES: tuple[tuple[str, str], ...] = (
    ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
    ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
)


def script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>``, ``&``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes, so no
    string of the data can close the element (``</script>``) or open a comment, and the
    text is valid JavaScript too.

    Parameters
    ----------
    obj : Any
        A JSON-serialisable value (no NaN or infinity).

    Returns
    -------
    str
        The JSON text, byte-stable for the same input (keys in insertion order).
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _JSON_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def inline_script(code: str) -> str:
    """One of netplan's own scripts (a packaged file, never data) as a ``<script>`` element.

    Parameters
    ----------
    code : str
        JavaScript source shipped with netplan.

    Returns
    -------
    str
        ``<script>…</script>``, with any ``</script`` inside the code neutralised.
    """
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def _template_path(name: str) -> Any:
    return resources.files("netplan.present").joinpath("templates", *name.split("/"))


@cache
def _asset(name: str) -> str:
    text: str = _template_path(name).read_text(encoding="utf-8")
    return text


@cache
def _leaflet_css() -> str:
    css = _asset("vendor/leaflet/leaflet.css")
    for img in ("layers.png", "layers-2x.png", "marker-icon.png"):
        data = base64.b64encode(_template_path(f"vendor/leaflet/images/{img}").read_bytes())
        css = css.replace(f"url(images/{img})",
                          f"url(data:image/png;base64,{data.decode('ascii')})")
    return css


@cache
def _leaflet_js() -> str:
    lines = _asset("vendor/leaflet/leaflet.js").splitlines()
    return "\n".join(line for line in lines if not line.startswith("//# sourceMappingURL"))


_MAP_INIT = ('netplanMap(JSON.parse(document.getElementById("netplan-data").textContent));')


def map_page(*, title: str, panels_html: str, data: Mapping[str, Any]) -> str:
    """A whole map page: Leaflet, the map's script, the side panel and the data payload.

    The layout is fixed markup styled from the ``<head>``: the side panel beside the map
    (below it on a narrow screen), collapsible with its toggle button, so the panel never
    covers the map and nothing shows unstyled while the page loads. The notice that the
    map needs JavaScript is a ``<noscript>``: it shows only when it is true.

    Parameters
    ----------
    title : str
        Plain text for ``<title>`` (escaped here).
    panels_html : str
        The side panel's sections (:mod:`netplan.present.panels`): markup built by
        netplan in which every user string is already escaped. Inserted as it is, never
        parsed as a template.
    data : Mapping
        The payload ``templates/map.js`` draws (layers, layer list, bounds, tiles).

    Returns
    -------
    str
        The HTML document; the same input gives the same bytes.
    """
    return "".join((
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{esc(title)}</title>\n",
        f"<style>{_leaflet_css()}</style>\n",
        f"<style>{_asset('map.css')}</style>\n",
        inline_script(_leaflet_js()), "\n",
        inline_script(_asset("map.js")), "\n",
        '</head>\n<body>\n<div id="netplan-app">\n'
        '<aside id="netplan-side" aria-label="Map panel">\n'
        '<button type="button" id="netplan-side-toggle" aria-expanded="true" '
        'aria-controls="netplan-side-body"><span class="netplan-open-label">Show panel'
        '</span><span class="netplan-close-label">Hide panel</span></button>\n'
        '<div id="netplan-side-body">\n', panels_html, "\n</div>\n</aside>\n"
        '<div id="netplan-map"><noscript><p class="netplan-noscript">The map needs '
        "JavaScript; the figures in the panel are still readable.</p></noscript></div>\n"
        "</div>\n",
        f'<script type="application/json" id="netplan-data">{script_json(data)}</script>\n',
        inline_script(_MAP_INIT), "\n</body>\n</html>\n",
    ))


def document(*, title: str, css: str, body_html: str, script: str) -> str:
    """A plain standalone HTML document (the report).

    Parameters
    ----------
    title : str
        Plain text for ``<title>`` (escaped here).
    css : str
        netplan's own style sheet (a constant).
    body_html : str
        Markup built by netplan in which every user string is already escaped.
    script : str
        netplan's own script (a constant).

    Returns
    -------
    str
        The HTML document.
    """
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{body_html}\n"
        f"{inline_script(script)}\n</body>\n</html>\n"
    )
