"""Kill -9 at chosen disk operations of a forget or an artifact save, in a clean helper process.

Run as `python tests/crash_points.py JOB.json`. The helper imports whyrec once, then for each kill
point N copies the pristine artifact (and store) into its own folder and forks a child that counts
every disk operation (file writes, renames, fsyncs, removals, store transactions) and SIGKILLs
itself just before the Nth. The helper is single-threaded when it forks, so the children are sound.
It prints one JSON object: the number of operations a full run makes and, per point, whether the
child was killed. The test then restarts on each folder and checks nothing was lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from whyrec.artifact import Artifact
from whyrec.data.store import Store

_PATCHED: list[tuple[Any, str, Callable]] = [
    (os, "replace", os.replace),
    (os, "rename", os.rename),
    (os, "fsync", os.fsync),
    (shutil, "rmtree", shutil.rmtree),
    (np, "savez", np.savez),
    (Path, "write_bytes", Path.write_bytes),
    (Path, "write_text", Path.write_text),
    (Path, "mkdir", Path.mkdir),
    (Path, "open", Path.open),
    (Store, "forget_user", Store.forget_user),
    (Store, "clear_forgets", Store.clear_forgets),
]


def _count_and_kill_at(point: int | None, counter: list[int]) -> None:
    """Wrap every disk operation so the `point`-th one (1-based) is never made: the process dies just before it."""

    def wrap(original: Callable) -> Callable:
        def counted(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            if point is not None and counter[0] == point:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        return counted

    for owner, name, original in _PATCHED:
        setattr(owner, name, wrap(original))


def _forget(folder: Path, user: str) -> None:
    from whyrec.serve.pipeline import Pipeline

    pipeline = Pipeline.open(folder / "artifact", folder / "shop.sqlite")
    counter = [0]
    _count_and_kill_at(_POINT, counter)
    pipeline.forget(user)
    _report(counter[0])
    pipeline.close()


def _save(folder: Path, new: Path) -> None:
    replacement = Artifact.load(new)
    counter = [0]
    _count_and_kill_at(_POINT, counter)
    replacement.save(folder / "artifact")
    _report(counter[0])


def _report(ops: int) -> None:
    with open(os.environ["CRASH_POINTS_OPS"], "w") as f:
        f.write(str(ops))


_POINT: int | None = None


def _run_child(job: dict[str, Any], folder: Path, point: int | None) -> str:
    """Fork a child that runs the job in `folder` and dies at `point`; 'killed' or 'completed'."""
    global _POINT
    pid = os.fork()
    if pid == 0:
        try:
            _POINT = point
            if job["mode"] == "forget":
                _forget(folder, job["user"])
            else:
                _save(folder, Path(job["new"]))
            os._exit(0)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return "killed"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "completed"
    return f"failed ({status})"


def _fresh(job: dict[str, Any], folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(job["artifact"], folder / "artifact")
    if job.get("store"):
        shutil.copy(job["store"], folder / "shop.sqlite")
    return folder


def main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    work = Path(job["work"])
    ops_file = work / "ops.txt"
    os.environ["CRASH_POINTS_OPS"] = str(ops_file)
    full = _run_child(job, _fresh(job, work / "full"), None)
    ops = int(ops_file.read_text()) if full == "completed" else 0
    wanted = job.get("points")  # None: every operation
    points = list(range(1, ops + 1)) if wanted is None else [p for p in wanted if 1 <= p <= ops]
    outcome = {p: _run_child(job, _fresh(job, work / str(p)), p) for p in points}
    print(json.dumps({"full": full, "ops": ops, "points": outcome}))


if __name__ == "__main__":
    main(sys.argv[1])
