"""Train/valid/test splits as data: index files plus the protocol and seed that made them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whyrec.errors import DataError

SPLIT_FORMAT = 1


@dataclass(frozen=True)
class Split:
    """Row indices into one table of a Dataset ("interactions" or "reviews")."""

    protocol: str
    seed: int | None
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    table: str = "interactions"

    def save(self, out_dir: str | Path) -> Path:
        """Write train/valid/test.index (PETER's format: space-separated row numbers) and split.json."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for part in ("train", "valid", "test"):
            (out / f"{part}.index").write_text(" ".join(map(str, getattr(self, part).tolist())) + "\n")
        meta = {"format": SPLIT_FORMAT, "protocol": self.protocol, "seed": self.seed, "table": self.table}
        (out / "split.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, split_dir: str | Path) -> Split:
        d = Path(split_dir)
        meta_path = d / "split.json"
        if not meta_path.exists():
            raise DataError("not a split folder (no split.json)", file=d)
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != SPLIT_FORMAT:
            raise DataError(f"split format {meta.get('format')} != {SPLIT_FORMAT}", file=meta_path, field="format")
        parts = {part: read_index_file(d / f"{part}.index") for part in ("train", "valid", "test")}
        return cls(meta["protocol"], meta["seed"], table=meta.get("table", "interactions"), **parts)


def read_index_file(path: str | Path) -> np.ndarray:
    """Read a PETER-style index file: non-negative integers separated by whitespace."""
    p = Path(path)
    if not p.exists():
        raise DataError("index file missing", file=p)
    tokens = p.read_text().split()
    out = np.empty(len(tokens), dtype=np.int64)
    for i, tok in enumerate(tokens):
        if not tok.isdigit():
            raise DataError(f"not a non-negative integer: {tok!r}", file=p, row=i + 1, field="index")
        out[i] = int(tok)
    return out
