"""netplan's exceptions: one small tree, each message says what, where and how to fix.

Every expected failure in netplan raises a subclass of :class:`NetplanError`; the CLI
turns them into a one-paragraph message on stderr and exit code 1 (a traceback only
with ``--debug``). Anything else escaping is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


class NetplanError(Exception):
    """Base class of every error netplan raises on purpose."""


class DataNotFoundError(NetplanError, FileNotFoundError):
    """An input file or the embedded dataset is missing."""


class LayerError(NetplanError, ValueError):
    """A layer failed validation; ``problems`` lists every problem found, not just the first.

    Parameters
    ----------
    layer
        The layer kind or name (``"branches"``, ``"zones"`` ...).
    problems
        One human-readable line per problem; each names the column or row, what was
        expected and what was found.
    source
        Where the layer came from (a path), if known.
    """

    def __init__(self, layer: str, problems: Sequence[str], source: str | None = None) -> None:
        self.layer = layer
        self.problems = list(problems)
        self.source = source
        where = f" ({printable(source)})" if source else ""
        lines = "\n".join(f"  - {printable(p)}" for p in self.problems)
        n = len(self.problems)
        super().__init__(
            f"layer '{layer}'{where} has {n} problem{'s' if n != 1 else ''}:\n{lines}"
        )


class ScenarioError(NetplanError, ValueError):
    """A scenario file is unreadable, has unknown keys or out-of-range values."""


class QueueingError(NetplanError, ValueError):
    """Invalid arguments to a queueing formula (negative rate, zero servers ...)."""


class InfeasibleError(NetplanError):
    """The planning model has no feasible solution; ``family`` names the likely culprit."""

    def __init__(self, message: str, family: str | None = None) -> None:
        self.family = family
        super().__init__(message)


class SolverError(NetplanError):
    """The solver failed or returned no usable solution."""


class SettingError(NetplanError, ValueError):
    """A solver setting cannot be honoured; ``setting`` names the keyword (``mip_gap``, ...)."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(message)


MAX_EXAMPLES = 10
"""How many examples (rows, keys, files ...) a message shows before a count of the rest."""


def examples(
    items: Sequence[str], *, total: int | None = None, limit: int = MAX_EXAMPLES,
    sep: str = ", ", unit: str = "",
) -> str:
    """``a, b, c and 2,999,990 more``: at most ``limit`` items, then a count of the rest.

    Every message that lists offending rows, keys or files goes through here, so that no
    input can make a message unboundedly long.

    Parameters
    ----------
    items
        The items (only the first ``limit`` are read).
    total
        How many there are in all, when ``items`` holds only the first ones.
    limit
        Most items shown.
    sep
        Between two items.
    unit
        Word counted in the tail (``"row"`` gives ``and 3 more rows``), default none.

    Returns
    -------
    str
        The items shown and the count of the rest.
    """
    n = len(items) if total is None else total
    shown = [str(x) for x in items[:limit]]
    rest = n - len(shown)
    if rest <= 0:
        return sep.join(shown)
    word = f" {unit}{'s' if rest != 1 else ''}" if unit else ""
    return sep.join(shown) + f" and {rest:,} more{word}"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Characters a terminal acts on (escape sequences, bidirectional overrides)."""


def printable(text: str) -> str:
    """``text`` with control characters made visible (``\\x1b``), for messages and terminals.

    Parameters
    ----------
    text
        User text (a key, a column name, a value).

    Returns
    -------
    str
        The text, each control character written as ``\\xNN`` or ``\\uNNNN``.
    """
    def show(m: re.Match[str]) -> str:
        code = ord(m.group(0))
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _CONTROL.sub(show, text)


def quoted(value: object, *, limit: int = 60) -> str:
    """``value``'s repr for a message (control characters escaped), cut when long.

    Parameters
    ----------
    value
        Any value quoted from the input.
    limit
        Longest repr shown whole.

    Returns
    -------
    str
        The repr, or its first ``limit`` characters and the full length.
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
