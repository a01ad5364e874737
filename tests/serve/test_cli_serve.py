"""`whyrec serve`: where the key comes from, keyed reads, and one-line errors before any server starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import Run, one_error_line, whyrec

from .server import start_server, stop


def test_key_from_the_config_file_and_keyed_reads(shop_files: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, store = shop_files
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\napi_key = "from-the-config-file"\nkeyed_reads = true\nmax_k = 3\n')
    server = start_server(artifact, store, tmp_path / "server.log", None, "--config", str(config))
    try:
        with server.client("from-the-config-file") as c:
            assert len(c.get("/v1/users/U00200/recommendations", params={"k": 50}).json()["items"]) == 3
            assert c.post("/v1/feedback", json={"user": "U00200", "item": "SKU00001", "kind": "like"}).status_code == 200
        with server.client(None) as c:
            assert c.get("/v1/users/U00200/recommendations").status_code == 401, "keyed_reads: reads need the key"
            assert c.get("/healthz").status_code == 200
    finally:
        stop(server)


def test_environment_key_wins_over_the_config_file(shop_files: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, store = shop_files
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\napi_key = "from-the-config-file"\n')
    server = start_server(artifact, store, tmp_path / "server.log", "from-the-environment", "--config", str(config))
    try:
        body = {"user": "U00201", "item": "SKU00001", "kind": "like"}
        with server.client("from-the-config-file") as c:
            assert c.post("/v1/feedback", json=body).status_code == 401
        with server.client("from-the-environment") as c:
            assert c.post("/v1/feedback", json=body).status_code == 200
    finally:
        stop(server)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[serve]\nmax_k = 0.5\n", "[serve] field 'max_k'"),
        ("[serve]\nport = 1\n", "[serve] field 'port'"),
        ("[serve\n", "invalid TOML"),
    ],
)
def test_a_bad_config_is_one_error_line(
    shop_files: tuple[Path, Path], tmp_path: Path, cli: Run, toml: str, expected: str
) -> None:
    artifact, store = shop_files
    config = tmp_path / "serve.toml"
    config.write_text(toml)
    assert expected in one_error_line(cli("serve", "--artifact", artifact, "--store", store, "--config", config))


def test_missing_artifact_or_store_is_one_error_line(shop_files: tuple[Path, Path], tmp_path: Path, cli: Run) -> None:
    artifact, store = shop_files
    assert "artifact.json missing" in one_error_line(cli("serve", "--artifact", tmp_path, "--store", store))
    assert "no store here" in one_error_line(cli("serve", "--artifact", artifact, "--store", tmp_path / "none.sqlite"))


def test_a_damaged_artifact_stops_the_server_with_one_line(shop_files: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, store = shop_files
    shutil.copytree(artifact, tmp_path / "artifact")
    weights = tmp_path / "artifact" / "recommender" / "weights.npz"
    with np.load(weights, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["_seen_indices"][0] = 1_000_000  # an item index past the end: native fold-in code would read out of bounds
    np.savez(weights, **arrays)
    proc = whyrec("serve", "--artifact", tmp_path / "artifact", "--store", store, "--port", "1")
    line = one_error_line(proc)
    assert "weights.npz" in line and "_seen_indices" in line and "Traceback" not in proc.stderr
