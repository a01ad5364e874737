"""The `whyrec` command line: one thin function per stage (see DESIGN.md, "The CLI").

Heavy modules are imported inside commands so `whyrec --help` answers instantly.
Errors print one line on stderr: exit 2 for bad input, 1 for internal failure.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from whyrec.errors import WhyrecError

app = typer.Typer(help="whyrec: recommendations that say why.", no_args_is_help=True, add_completion=False)


def emit(payload: dict[str, Any], as_json: bool, human: str) -> None:
    """Exactly one JSON object on stdout with --json; a human summary otherwise."""
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        typer.echo(human)


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


if __name__ == "__main__":
    main()
