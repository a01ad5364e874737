"""Fault injection: every file of a saved artifact truncated, emptied, replaced by garbage, and every array given
out-of-range values or the wrong shape, loaded through the CLI and the server's start.

Each must end as one clear line naming the damaged file (an ArtifactError, exit 2): never an internal
error, a traceback or a crash in native code. The kill -9 faults are in tests/serve/test_crashes.py.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import one_error_line
from whyrec.artifact import Artifact
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.errors import ArtifactError
from whyrec.explain.registry import make_reasoner
from whyrec.serve.pipeline import Pipeline

UNBOUNDED = ("timestamp", "rating")  # any time is a time, and NaN is the rating of an unrated event
GARBAGE = "\u00b2 not { a [ whyrec \x00 file \u00b2\n".encode()  # "²" passes str.isdigit, so index files get it too


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An MF + template artifact with a leave-last-out split, and its store."""
    folder = tmp_path_factory.mktemp("faults")
    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=4, n_users=60, n_items=40))
        dataset = db.read_dataset(name="shop")
    run = RunConfig(recommender="mf", reasoner="template", models={"mf": {"factors": 8, "iterations": 3, "num_threads": 1}})
    artifact = Artifact.train(dataset, run, store=str(store))
    artifact.reasoner = make_reasoner("template").fit(dataset)
    artifact.save(folder / "artifact")
    return folder / "artifact", store


def _files(artifact: Path) -> list[str]:
    return sorted(str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file())


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def _out_of_range(key: str) -> Callable[[Path], None]:
    """An integer array's largest entry pushed far past any count (floats get a NaN)."""

    def tamper(path: Path) -> None:
        arrays = _npz(path)
        a = arrays[key].copy()
        if a.dtype.kind == "f":
            a.flat[a.size // 2] = np.nan
        else:
            a.flat[int(np.argmax(a))] = min(int(a.max()) + 10_000, np.iinfo(a.dtype).max)
        arrays[key] = a
        _rewrite_npz(path, arrays)

    return tamper


def _wrong_shape(key: str) -> Callable[[Path], None]:
    """An array one row short (a 1-D array of one element becomes 2-D)."""

    def tamper(path: Path) -> None:
        arrays = _npz(path)
        a = arrays[key]
        arrays[key] = a[:-1] if len(a) > 1 else a.reshape(1, -1)
        _rewrite_npz(path, arrays)

    return tamper


def _whole_file(kind: str) -> Callable[[Path], None]:
    def tamper(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes({"truncated": data[: len(data) // 2], "emptied": b"", "garbage": GARBAGE}[kind])

    return tamper


def _index_of(high: int) -> Callable[[Path], None]:
    """An index file naming a row past the end of interactions.npz."""

    def tamper(path: Path) -> None:
        path.write_text(path.read_text().strip() + f" {high}\n")

    return tamper


def corpus(artifact: Path) -> list[tuple[str, str, Callable[[Path], None]]]:
    """(fault class, file, tamper) for every file and every array of the saved artifact."""
    cases = [(kind, name, _whole_file(kind)) for name in _files(artifact) for kind in ("truncated", "emptied", "garbage")]
    for name in ("interactions.npz", "recommender/weights.npz"):
        for key in _npz(artifact / name):
            if key not in UNBOUNDED:
                cases.append(("out-of-range", name, _out_of_range(key)))
            cases.append(("wrong-shape", name, _wrong_shape(key)))
    rows = int(Artifact.load(artifact).manifest()["dataset"]["interactions"])
    cases += [("out-of-range", f"split/{part}.index", _index_of(rows)) for part in ("train", "valid", "test")]
    return cases


def _damaged(pristine: tuple[Path, Path], tmp_path: Path, case: int) -> tuple[Path, str, str]:
    artifact, _ = pristine
    kind, name, tamper = corpus(artifact)[case]
    copy = tmp_path / "artifact"
    shutil.copytree(artifact, copy)
    tamper(copy / name)
    return copy, kind, name


def _names_the_file(message: str, name: str) -> bool:
    return f"{Path(name).name}:" in message or f"{Path(name).name}'" in message


N_CASES = 62  # len(corpus(...)): 13 files x 3 whole-file faults, 11 arrays x 1 or 2, 3 index files (checked below)


def test_the_corpus_covers_every_file_and_array(pristine: tuple[Path, Path]) -> None:
    artifact, _ = pristine
    cases = corpus(artifact)
    assert len(cases) == N_CASES
    assert {name for _, name, _ in cases} == set(_files(artifact))


@pytest.mark.parametrize("case", range(N_CASES))
def test_a_damaged_artifact_is_one_clear_error_through_the_cli(
    pristine: tuple[Path, Path], tmp_path: Path, cli, case: int
) -> None:
    copy, kind, name = _damaged(pristine, tmp_path, case)
    line = one_error_line(cli("recommend", "--artifact", copy, "--user", "U00001", "--json"))
    assert line.startswith("whyrec: error: ") and "internal error" not in line
    assert _names_the_file(line, name), (kind, name, line)


@pytest.mark.parametrize("case", range(N_CASES))
def test_a_damaged_artifact_stops_the_server_at_start(pristine: tuple[Path, Path], tmp_path: Path, case: int) -> None:
    copy, kind, name = _damaged(pristine, tmp_path, case)
    shutil.copy(pristine[1], tmp_path / "shop.sqlite")
    with pytest.raises(ArtifactError) as caught:
        Pipeline.open(copy, tmp_path / "shop.sqlite").close()
    assert _names_the_file(str(caught.value), name), (kind, name, str(caught.value))
