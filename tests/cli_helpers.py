"""Running `whyrec` from tests (the venv's console script) and reading what a run printed.

The in-process runner is the `cli` fixture in conftest.py; both return a CompletedProcess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

WHYREC = Path(sys.executable).parent / "whyrec"  # the console script of the venv running the tests
Run = Callable[..., subprocess.CompletedProcess[str]]


def whyrec(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`whyrec ARGS` as a real subprocess, as users and scripts run it."""
    return subprocess.run([str(WHYREC), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def one_json(proc: subprocess.CompletedProcess[str]) -> dict:
    """The single JSON object a --json run must print, and nothing else on stdout."""
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def one_error_line(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single stderr line of a failed run with exit `code` (2: bad input), nothing on stdout."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]
