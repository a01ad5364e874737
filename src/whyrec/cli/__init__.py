"""The `whyrec` command line: one thin module per stage (see DESIGN.md, "The CLI").

Heavy modules are imported inside commands so `whyrec --help` answers instantly.
Errors print one line on stderr: exit 2 for bad input, 1 for internal failure.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

from whyrec.cli.common import app
from whyrec.errors import WhyrecError

# Each stage's module registers its commands on `app` when imported, in the order `whyrec --help` lists them.
for _stage in ("data", "train", "recommend", "evaluate", "serve", "reasons", "ab", "spark"):
    import_module(f"whyrec.cli.{_stage}")


def main() -> None:
    """Entry point: run the app, turning whyrec errors into one line and an exit code."""
    try:
        app(standalone_mode=False, prog_name="whyrec")
    except WhyrecError as exc:
        sys.stderr.write(f"whyrec: error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's own usage errors come through here too
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            sys.stderr.write(_click_error(exc) + "\n")
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        sys.stderr.write(f"whyrec: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(1)


def _click_error(exc: Any) -> str:
    """Click's own errors (usage, bad values) in whyrec's one-line style, naming the help to read."""
    import click

    message = exc.format_message()
    if isinstance(exc, click.UsageError) and "Did you mean" in exc.message:
        message = exc.message  # typer already added the suggestion that click's format_message adds again
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"whyrec: error: {message}{where}"
