"""Shared test fixtures: the resources some tests need, and `whyrec` in-process.

A test that needs the real public datasets, the pretrained LM, Chromium, the English word list or Spark asks for its
fixture (`datasets_dir`, `smollm2_dir`, `chromium`, `english_words`, `spark_master`) or carries its marker (`datasets`,
`lm`, `browser`, `dictionary`, `spark`); the fixture adds the marker. Where a
resource is missing, its tests skip with one line; under CI (`CI=true`) they fail instead, so CI proves them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_helpers import Run

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"  # beside the repo, never copied into it
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, from `make setup`; Playwright drives it


def _datasets_missing() -> str | None:
    return None if DATASETS.is_dir() else f"real datasets not found at {DATASETS} (../shared/datasets beside the repo)"


def _lm_missing() -> str | None:
    from whyrec.errors import ArtifactError
    from whyrec.explain.lm import gguf_path

    try:
        gguf_path()
    except ArtifactError as exc:
        return str(exc)
    return None


def _browser_missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"Chromium not found at {CHROMIUM}: run `make setup` (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: run `make setup`"
    return None


def _dictionary_missing() -> str | None:
    from whyrec.explain.voice import DICTIONARY

    return None if DICTIONARY.is_file() else f"English word list not found at {DICTIONARY}: run `make setup` (wamerican)"


def _spark_missing() -> str | None:
    from whyrec.spark.session import JAVA_NEEDED, java_version

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: run `make setup`"
    java, major = java_version()
    if major is None or major < JAVA_NEEDED:
        found = "no Java" if major is None else f"Java {major}"
        return f"Spark needs Java {JAVA_NEEDED}+, found {found} ({java}): run `make setup` (openjdk-17-jre-headless)"
    return None


# marker -> (the fixture that hands the resource to a test, why the resource is missing or None)
RESOURCES: dict[str, tuple[str, Callable[[], str | None]]] = {
    "datasets": ("datasets_dir", _datasets_missing),
    "lm": ("smollm2_dir", _lm_missing),
    "browser": ("chromium", _browser_missing),
    "dictionary": ("english_words", _dictionary_missing),
    "spark": ("spark_master", _spark_missing),
}


@functools.cache
def missing(marker: str) -> str | None:
    """Why the resource behind `marker` is unavailable (None when it is there); checked once per run."""
    return RESOURCES[marker][1]()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not datasets"` sees the marks added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker, (fixture, _) in RESOURCES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.hookimpl(tryfirst=True)  # before any fixture is set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in RESOURCES:
        if item.get_closest_marker(marker) is None or (reason := missing(marker)) is None:
            continue
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{marker}: {reason} (CI=true: a missing resource fails the run)", pytrace=False)
        pytest.skip(f"{marker}: {reason}")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return DATASETS


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as an fp32 model folder, converted from the package's GGUF into the user cache once."""
    from whyrec.explain import lm

    return lm.ensure_converted()


@pytest.fixture(scope="session")
def chromium() -> Path:
    return CHROMIUM


@pytest.fixture(scope="session")
def english_words() -> Path:
    from whyrec.explain.voice import DICTIONARY

    return DICTIONARY


@pytest.fixture(scope="session")
def spark_master() -> str:
    """One local core: each Spark command starts its own JVM, so the tests stay few and small."""
    return "local[1]"


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
