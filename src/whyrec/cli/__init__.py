"""The `whyrec` command line: one thin module per stage (see DESIGN.md, "The CLI").

Heavy modules are imported inside commands so `whyrec --help` answers instantly.
Errors print one line on stderr: exit 2 for bad input, 1 for internal failure.
"""

from __future__ import annotations

import sys
from importlib import import_module

from whyrec.cli.common import app
from whyrec.errors import WhyrecError

# Each stage's module registers its commands on `app` when imported, in the order `whyrec --help` lists them.
for _stage in ("data", "train", "recommend", "evaluate", "serve", "reasons", "ab", "spark"):
    import_module(f"whyrec.cli.{_stage}")


def main() -> None:
    """Entry point: run the app, turning whyrec errors into one line and an exit code."""
    try:
        app(standalone_mode=False)
    except WhyrecError as exc:
        sys.stderr.write(f"whyrec: error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's own usage errors come through here too
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        sys.stderr.write(f"whyrec: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(1)
