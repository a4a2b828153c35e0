"""netplan's command line: thin wrappers, one library call each.

Domain errors (:class:`netplan._errors.NetplanError`) are printed as one paragraph on
stderr with exit code 1; ``--debug`` shows the traceback. Heavy imports stay inside the
commands so that ``netplan --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from netplan import __version__
from netplan._errors import NetplanError

app = typer.Typer(
    name="netplan",
    help="Plan a bank's branch network: balance load, cut travel and waiting time, within budget.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
)
layers_app = typer.Typer(help="Check and convert layers.", no_args_is_help=True)
app.add_typer(layers_app, name="layers")
queue_log_app = typer.Typer(help="Analyse hourly queue logs of outlets.", no_args_is_help=True)
app.add_typer(queue_log_app, name="queue-log")

out = Console()
err = Console(stderr=True)
_STATE: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"netplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    _STATE["debug"] = debug


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (UTF-8, stable key order as given)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


# --- commands -------------------------------------------------------------------------
# Each command lives below as a thin wrapper. Helpers: add a command with a small
# insertion above the marker line, never rewrite this file.

# --- end of commands ------------------------------------------------------------------


def main() -> None:
    """Entry point of the ``netplan`` console script."""
    try:
        app()
    except NetplanError as exc:
        if _STATE["debug"]:
            raise
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
