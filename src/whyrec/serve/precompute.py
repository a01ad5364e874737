"""Reasons written ahead of time: every known shopper's top-k, through the served path, into the store's reason cache.

Each shopper's answer goes through `Pipeline.warm`, so the reasons are ranked, written, filtered and
cached exactly as the server would (same keys: shopper, item, model version and A/B arm), and the
server then answers from the cache. A shopper's fresh reasons are stored in one transaction, so a run
killed at any point leaves whole shoppers; a rerun finds them cached and writes only what is missing.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whyrec.errors import DataError

if TYPE_CHECKING:
    from whyrec.serve.pipeline import Pipeline


@dataclass
class Precomputed:
    """What a precompute run did."""

    users: int = 0
    reasons: int = 0  # written by this run
    cached: int = 0  # found in the cache already (an earlier run, or the server)
    replaced: int = 0  # of the users' top-k reasons, those the filters replaced by the fallback's or withheld
    seconds: float = 0.0
    peak_rss_mib: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_users(path: Path) -> list[str]:
    """Raw shopper ids, one per line (blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DataError("users file not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=path) from exc
    return [line.strip() for line in lines if line.strip()]


def chosen_users(known: list[str], listed: list[str] | None, file: Path | None) -> list[str]:
    """The listed shoppers (all must be known to the model; the first that is not is a DataError naming its row), else all known."""
    if listed is None:
        return known
    index = set(known)
    for row, user in enumerate(listed, start=1):
        if user not in index:
            raise DataError(f"shopper {user!r} is not known to the model", file=file, row=row, field="user")
    return listed


def precompute(pipeline: Pipeline, users: Iterable[str], k: int, on_user: Callable[[], None] | None = None) -> Precomputed:
    """Warm the reason cache for `users` (raw ids the model knows) with their top-k; counts of what was written."""
    started = time.perf_counter()
    main = pipeline.reasons.reasoner.name if pipeline.reasons.reasoner is not None else None
    done = Precomputed()
    for user in users:
        answer = pipeline.warm(user, k)
        done.users += 1
        done.cached += answer.cached
        done.reasons += len(answer.items) - answer.cached
        done.replaced += sum(r.reasoner != main for r in answer.items)
        if on_user is not None:
            on_user()
    done.seconds = round(time.perf_counter() - started, 3)
    done.peak_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB
    return done
