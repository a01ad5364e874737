"""Shared test fixtures: where the real public datasets live (../shared/datasets beside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"real datasets expected at {DATASETS} (../shared/datasets beside the repo)")
    return DATASETS
