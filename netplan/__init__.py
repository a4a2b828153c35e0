"""netplan: plan a bank's branch network from geospatial layers.

Load is balanced across outlets sized to a waiting-time target (Erlang C), customers
travel less, and the plan (keep, open, close, upgrade, convert, relocate) stays within
budget. See the README for the two commands and a worked example.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("netplan-branches")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
