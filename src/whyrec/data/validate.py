"""Row accounting for loaders: every row read is either kept or rejected with its reason.

With on_error="raise" the first bad row raises its DataError; with "skip" it is written,
with the reason, to a rejects file (JSON lines) so nothing is ever silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from whyrec.errors import DataError

OnError = Literal["raise", "skip"]


@dataclass(frozen=True)
class IngestReport:
    """What a load did: read == kept + rejected, always."""

    read: int
    kept: int
    rejected: int
    rejects_file: str | None

    def to_dict(self) -> dict:
        return asdict(self)


class RowSink:
    """Counts rows and routes bad ones; loaders call `kept()` or `reject()` once per row read."""

    def __init__(self, on_error: OnError = "raise") -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.read = 0
        self.kept_rows = 0
        self.rejects: list[dict] = []

    def kept(self) -> None:
        self.read += 1
        self.kept_rows += 1

    def reject(self, error: DataError, raw: str | None = None) -> None:
        """Count one bad row: raise it, or remember it for the rejects file."""
        if self.on_error == "raise":
            self.read += 1
            raise error
        self.set_aside(error, raw)

    def set_aside(self, error: DataError, raw: str | None = None) -> None:
        """Count one row that is not kept but is no error either (an exact repeat of a kept row):
        it goes to the rejects with its reason whatever `on_error` says, so read == kept + rejected holds."""
        self.read += 1
        self.rejects.append({"file": error.file, "row": error.row, "field": error.field, "reason": error.message, "raw": raw})

    def report(self, rejects_path: str | Path | None = None) -> IngestReport:
        """Write the rejects file (only when there are rejects and a path) and return the counts."""
        written = None
        if self.rejects and rejects_path is not None:
            path = Path(rejects_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as out:
                for rec in self.rejects:
                    out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            written = str(path)
        return IngestReport(self.read, self.kept_rows, len(self.rejects), written)
