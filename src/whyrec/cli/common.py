"""What every `whyrec` command shares: the app, the --json flag, one-object output, metric lines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="whyrec: recommendations that say why.", no_args_is_help=True, add_completion=False)


def _print_version(value: bool) -> None:
    if value:
        from whyrec import __version__

        typer.echo(f"whyrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """whyrec: recommendations that say why."""


def emit(payload: dict[str, Any], as_json: bool, human: str) -> None:
    """Exactly one JSON object on stdout with --json; a human summary otherwise."""
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        typer.echo(human)


def note(text: str) -> None:
    """A notice for people on stderr (`whyrec: note: ...`); --json runs carry it in the payload instead."""
    typer.echo(f"whyrec: note: {text}", err=True)


def output_file(path: Path, option: str) -> Path:
    """`path` if a file can be written there; a ConfigError before any long work otherwise. Creates no folder."""
    from whyrec.errors import ConfigError

    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"{option}: {path} is a folder; give a file name")
    if not folder.is_dir():
        raise ConfigError(f"{option}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{option}: cannot write {path} (permission denied)")
    return path


JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout (progress goes to stderr).")]


def ranking_line(ranking: dict[str, Any]) -> str:
    keys = [k for k in ("hr@10", "ndcg@10", "mrr", "coverage@10") if k in ranking]
    return "  ".join(f"{k} {ranking[k]:.4f}" for k in keys) + f"  ({ranking['users']} test users)"


# The reasons' text metrics a human summary shows, in DESIGN.md's order.
TEXT_KEYS = ("bleu1", "bleu4", "rouge1_f", "rouge2_f", "rougeL_f", "usr", "fmr", "fcr", "div", "distinct2", "grounding")


def text_line(text: dict[str, Any]) -> str:
    """The training-time text metrics of the artifact's reasoner, one line (BLEU/ROUGE x100, the rest 0-1)."""
    shown = "  ".join(f"{k} {text[k]:.4f}" for k in TEXT_KEYS if isinstance(text.get(k), float | int))
    where = f"reasons on the {text.get('split', 'test reviews')} (seed {text.get('seed', '-')})"
    return f"{where}: {shown}  ({text['n']} test reviews)" if shown else f"{where}: no test reviews to score"
