"""Shared test fixtures: where the real public datasets live (../shared/datasets beside the repo), and `whyrec` in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Run

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"real datasets expected at {DATASETS} (../shared/datasets beside the repo)")
    return DATASETS


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`whyrec ARGS` in this process through `cli.main`: same parsing, exit codes and streams, no interpreter start-up."""
    from whyrec.cli import main

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        argv = ["whyrec", *map(str, args)]
        monkeypatch.setattr(sys, "argv", argv)
        capsys.readouterr()  # drop what the test printed before
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)  # as the interpreter maps it
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return run
