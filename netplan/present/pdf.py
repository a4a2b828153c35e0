"""The report as a PDF, printed by headless Chromium (the report's own A4 landscape style).

The page is written to a temporary folder and Chromium, started with a list of
arguments (no shell), prints it there with a fresh profile and every background network
feature off; the PDF's bytes are read back and the folder deleted. No Chromium on the
machine: a :class:`~netplan._errors.NetplanError` that says how to get one, raised before
anything is written.

A PDF is not byte-stable from run to run (Chromium stamps its creation date); its
content is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from netplan._errors import NetplanError

__all__ = ["BROWSER_NAMES", "find_chromium", "html_to_pdf", "render_with_chromium"]

#: Executables tried, in order (the first found on PATH or in /usr/bin wins).
BROWSER_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome",
                                  "google-chrome-stable")
#: The environment variable that names a browser explicitly.
BROWSER_ENV = "NETPLAN_CHROMIUM"
#: Flags that keep Chromium from reaching any network service of its own.
_QUIET_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
TIMEOUT_S = 300.0


def find_chromium() -> Path | None:
    """The Chromium (or Chrome) executable to print with, or ``None``.

    ``$NETPLAN_CHROMIUM`` wins when set; then :data:`BROWSER_NAMES` on ``PATH`` and in
    ``/usr/bin``.

    Returns
    -------
    Path or None
    """
    given = os.environ.get(BROWSER_ENV)
    if given:
        path = Path(given)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for name in BROWSER_NAMES:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin")
        if found:
            return Path(found)
    return None


def require_chromium(option: str = "--pdf", purpose: str = "to print the report",
                     instead: str = "print report.html from a browser (A4 landscape)") -> Path:
    """The browser of :func:`find_chromium`, or a clear error saying how to install one.

    Parameters
    ----------
    option : str
        The command-line option that needs the browser, for the message.
    purpose : str
        What it needs the browser for.
    instead : str
        What the user can do without it, besides leaving out ``option``.

    Returns
    -------
    Path

    Raises
    ------
    NetplanError
        When none is found.
    """
    browser = find_chromium()
    if browser is not None:
        return browser
    where = (f"${BROWSER_ENV}={os.environ[BROWSER_ENV]} is not an executable file"
             if os.environ.get(BROWSER_ENV) else
             f"none of {', '.join(BROWSER_NAMES)} is on PATH or in /usr/bin")
    raise NetplanError(
        f"{option} needs headless Chromium {purpose}, but {where}; install it "
        "(Debian/Ubuntu: apt-get install chromium), or set NETPLAN_CHROMIUM to a Chromium "
        f"or Chrome executable, or leave out {option}" + (f" and {instead}" if instead else "")
    )


def html_to_pdf(html: str, *, timeout_s: float = TIMEOUT_S) -> bytes:
    """Print an HTML page (a standalone document) to PDF bytes with headless Chromium.

    Parameters
    ----------
    html : str
        The page; it must not load anything (netplan's report does not).
    timeout_s : float
        Give up after this many seconds.

    Returns
    -------
    bytes
        The PDF.

    Raises
    ------
    NetplanError
        No Chromium, or Chromium failed or timed out (with the end of its messages).
    """
    return render_with_chromium(
        require_chromium(), html, output="report.pdf", what="print the report",
        flags=("--no-pdf-header-footer",), output_flag="--print-to-pdf", timeout_s=timeout_s)


def render_with_chromium(
    browser: Path, html: str, *, output: str, what: str, flags: tuple[str, ...],
    output_flag: str, timeout_s: float,
) -> bytes:
    """Open a standalone page in headless Chromium and return the file it renders.

    The page goes to a temporary folder with a fresh profile, Chromium runs from a list of
    arguments (no shell) with every background network feature off, and the folder is
    deleted afterwards.

    Parameters
    ----------
    browser : Path
        The executable (:func:`find_chromium`).
    html : str
        The page; it must not load anything from a network.
    output : str
        File name of what Chromium writes (``report.pdf``, ``map.png``).
    what : str
        What Chromium is asked to do, for messages ("print the report").
    flags : tuple of str
        Further Chromium flags (window size, ...).
    output_flag : str
        The flag that names the output (``--print-to-pdf``, ``--screenshot``).
    timeout_s : float
        Give up after this many seconds.

    Returns
    -------
    bytes
        The file's bytes.

    Raises
    ------
    NetplanError
        Chromium failed, timed out or wrote nothing (with the end of its messages).
    """
    with tempfile.TemporaryDirectory(prefix="netplan-chromium-") as tmp:
        folder = Path(tmp)
        page, result = folder / "page.html", folder / output
        page.write_text(html, encoding="utf-8")
        argv = [str(browser), *_QUIET_FLAGS, f"--user-data-dir={folder / 'profile'}",
                *flags, f"{output_flag}={result}", page.as_uri()]
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise NetplanError(f"Chromium ({browser}) did not {what} within {timeout_s:g} s; "
                               "try again on a less busy machine") from None
        except OSError as exc:
            raise NetplanError(f"cannot start Chromium ({browser}): {exc}") from None
        if done.returncode != 0 or not result.is_file() or result.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            raise NetplanError(f"Chromium ({browser}) did not {what} (exit code "
                               f"{done.returncode}): " + (" | ".join(tail) or "no message"))
        return result.read_bytes()
