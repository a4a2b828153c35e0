"""netplan's command line: thin wrappers, one library call each.

Domain errors (:class:`netplan._errors.NetplanError`) are printed as one paragraph on
stderr with exit code 1; ``--debug`` shows the traceback. Heavy imports stay inside the
commands so that ``netplan --help`` is instant. Each command group is one module here;
importing it registers its commands on :data:`app`.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

from rich.markup import escape

from netplan._errors import NetplanError, printable
from netplan.cli._app import _STATE, app, err, mark_process_start

__all__ = ["app", "main"]
#: The command modules, in the order ``--help`` lists their commands; importing one
#: registers its commands on :data:`app`. A new command group is one module and one name here.
COMMAND_MODULES: tuple[str, ...] = ("planning", "present", "data", "study", "queues",
                                     "classic", "whatif")
for _name in COMMAND_MODULES:
    importlib.import_module(f"netplan.cli.{_name}")

# --- exit handling -------------------------------------------------------------------
_EXIT_INTERRUPTED = 130  # after Ctrl-C: 128 + SIGINT, as shells report it


def _interrupted() -> NoReturn:
    """Ctrl-C: one line, exit code 130, no traceback (outputs are staged: nothing written)."""
    err.print("interrupted, nothing written", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    highs = sys.modules.get("netplan.optimize.highs")
    if highs is not None and highs.solver_stopping():  # do not wait for HiGHS to stop
        os._exit(_EXIT_INTERRUPTED)
    sys.exit(_EXIT_INTERRUPTED)


def main() -> None:
    """Entry point of the ``netplan`` console script."""
    mark_process_start()  # a --time-limit counts the start-up too
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a command (typer handles it inside)
        _interrupted()
    except SystemExit as exc:
        if exc.code == _EXIT_INTERRUPTED:  # typer's silent exit after Ctrl-C in a command
            _interrupted()
        raise
    except NetplanError as exc:
        if _STATE["debug"]:
            raise
        text = "\n".join(map(printable, str(exc).split("\n")))  # no raw escape sequences
        err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:  # disk full, no permission, ... while reading or writing files
        if _STATE["debug"]:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(f'{exc.strerror or exc}{where}')}: the "
                  "operating system refused a file operation; check that the path exists, "
                  "that you may write there and that the disk has room (--debug shows the "
                  "traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)
