"""One trained sample shop and one real `whyrec serve --page-writes` process for the serve tests (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import API_KEY, Server, start_server, stop, train_sample_shop


@pytest.fixture(scope="session")
def shop_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return train_sample_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="session")
def server(shop_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    artifact, store = shop_files
    running = start_server(artifact, store, tmp_path_factory.mktemp("log") / "server.log", API_KEY, "--page-writes")
    yield running
    stop(running)
