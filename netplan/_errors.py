"""netplan's exceptions: one small tree, each message says what, where and how to fix.

Every expected failure in netplan raises a subclass of :class:`NetplanError`; the CLI
turns them into a one-paragraph message on stderr and exit code 1 (a traceback only
with ``--debug``). Anything else escaping is a bug.
"""

from __future__ import annotations

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
        where = f" ({source})" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
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
