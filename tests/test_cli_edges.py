"""CLI edges: each gives one clear line and exit 2 before any long work, and creates no folder it was not asked for."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cli_helpers import Run, one_error_line, one_json


@pytest.fixture()
def trained(tmp_path: Path, cli: Run) -> tuple[Path, Path]:
    store, art = tmp_path / "shop" / "shop.sqlite", tmp_path / "art"
    one_json(cli("ingest", "--format", "sample", "--store", store, "--json"))
    one_json(cli("train", "--store", store, "--recommender", "pop", "--reasoner", "template", "--out", art, "--json"))
    return art, store


def _not_writable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make `folder` (and files in it) read-only as whyrec sees it; chmod would not stop root, who runs these tests in CI."""
    real = os.access

    def access(path: str | os.PathLike, mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and Path(path).resolve().is_relative_to(folder.resolve()):
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_a_file_as_the_artifact_is_one_line(trained: tuple[Path, Path], cli: Run) -> None:
    art, _ = trained
    line = one_error_line(cli("recommend", "--artifact", art / "artifact.json", "--user", "U00001"))
    assert "a file, not an artifact folder" in line


def test_a_report_into_a_missing_folder_is_refused_before_evaluating(
    trained: tuple[Path, Path], cli: Run, tmp_path: Path
) -> None:
    art, _ = trained
    target = tmp_path / "nonexistent" / "dir" / "r.html"
    manifest = (art / "artifact.json").stat().st_mtime_ns
    line = one_error_line(cli("evaluate", "--artifact", art, "--report", target))
    assert "does not exist" in line and not (tmp_path / "nonexistent").exists()
    assert (art / "artifact.json").stat().st_mtime_ns == manifest, "refused before the evaluation ran (it rewrites the metrics)"


def test_a_report_into_a_read_only_folder_is_refused_before_evaluating(
    trained: tuple[Path, Path], cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art, _ = trained
    (tmp_path / "locked").mkdir()
    _not_writable(monkeypatch, tmp_path / "locked")
    assert "permission denied" in one_error_line(cli("evaluate", "--artifact", art, "--report", tmp_path / "locked" / "r.html"))


def test_a_store_in_a_read_only_folder(
    trained: tuple[Path, Path], cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store = trained
    _not_writable(monkeypatch, store.parent)
    assert one_json(cli("stats", "--store", store, "--json"))["users"] > 0, "reading needs no write access"
    line = one_error_line(cli("ingest", "--format", "sample", "--store", store.parent / "new.sqlite"))
    assert "cannot create a store here" in line and not (store.parent / "new.sqlite").exists()
    assert "read-only" in one_error_line(cli("ingest", "--format", "sample", "--store", store))


def test_the_artifact_records_its_store_by_absolute_path_and_says_when_it_moved(
    trained: tuple[Path, Path], cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art, store = trained
    recorded = json.loads((art / "artifact.json").read_text())["dataset"]["store"]
    assert recorded == str(store.resolve())
    shutil.move(store, tmp_path / "moved.sqlite")
    monkeypatch.chdir(tmp_path)
    line = one_error_line(cli("explain", "--artifact", art, "--user", "U00001", "--plot", tmp_path / "p.png"))
    assert "has moved" in line and str(store.resolve()) in line
    assert "has moved" in one_error_line(cli("evaluate", "--artifact", art))
