"""Speed of the light paths against their targets: template reasons, the sample shop, a bulk store write, `whyrec --help`.

These were timed asserts in unit tests, where a loaded machine fails them and an idle one hides a slowdown; here each
prints its figure, its target and the ratio (above 1 meets it). Median of --repeats after a warm-up:

- template reasons per second for 5,000 requests on the fitted sample shop (serving writes them inline): ≥ 1,000;
- seconds to generate the default sample shop (`make demo` and many tests start from it): ≤ 2;
- seconds to write 200,000 interactions to a new store (a per-row transaction would take minutes): ≤ 30;
- seconds for `whyrec --help` in a fresh process (the CLI imports no torch or pandas to answer it): ≤ 1.

    .venv/bin/python benchmarks/light_paths.py [--repeats 5] [--json]

Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from prompt_lm_speed import timed  # a sibling script, not a package
from whyrec.data.sample import generate_sample
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.store import Store
from whyrec.explain.base import ReasonRequest
from whyrec.explain.template import TemplateReasoner


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of `run` over `repeats` calls after one warm-up call."""
    run()
    return timed(run, repeats)


def template_rate(repeats: int) -> float:
    """Template reasons per second for 5,000 (user, item) requests on the fitted sample shop."""
    shop = generate_sample()
    model = TemplateReasoner().fit(shop)
    rng = np.random.default_rng(0)
    requests = [
        ReasonRequest(int(u), int(i))
        for u, i in zip(rng.integers(0, shop.n_users, 5000), rng.integers(0, shop.n_items, 5000), strict=True)
    ]
    return len(requests) / median_seconds(lambda: model.generate(requests), repeats)


def bulk_write_seconds(repeats: int) -> float:
    """Seconds to write 200,000 random view events over 10,000 users and 5,000 items to a new store."""
    rng = np.random.default_rng(0)
    n = 200_000
    inter = pd.DataFrame(
        {
            "user": rng.integers(0, 10_000, n),
            "item": rng.integers(0, 5_000, n),
            "timestamp": rng.integers(10**9, 2 * 10**9, n),
            "event": "view",
            "rating": np.nan,
        }
    )
    data = Dataset(inter, IdMap.from_raw(f"u{i}" for i in range(10_000)), IdMap.from_raw(f"i{i}" for i in range(5_000)))
    with tempfile.TemporaryDirectory() as folder:
        runs = iter(range(repeats + 1))

        def write() -> None:
            with Store(Path(folder) / f"bulk{next(runs)}.sqlite") as store:
                store.write_dataset(data)

        return median_seconds(write, repeats)


def help_seconds(repeats: int) -> float:
    """Seconds for the installed `whyrec --help` (the console script beside this interpreter), as a shell runs it."""
    command = [str(Path(sys.executable).with_name("whyrec")), "--help"]
    return median_seconds(lambda: subprocess.run(command, capture_output=True, check=True), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # (name, figure, target, unit, higher is better)
    rows = [
        ("template reasons", template_rate(args.repeats), 1000.0, "per s", True),
        ("sample shop", median_seconds(generate_sample, args.repeats), 2.0, "s", False),
        ("store write, 200k events", bulk_write_seconds(args.repeats), 30.0, "s", False),
        ("whyrec --help", help_seconds(args.repeats), 1.0, "s", False),
    ]
    table = [
        {"path": name, "figure": round(figure, 3), "target": target, "unit": unit,
         "ratio": round(figure / target if higher else target / figure, 2)}
        for name, figure, target, unit, higher in rows
    ]  # fmt: skip
    if args.json:
        print(json.dumps(table))
        return
    print(f"median of {args.repeats} after a warm-up; ratio above 1 meets the target\n")
    print("| path | figure | target | ratio |\n|---|---|---|---|")
    for row in table:
        better = "≥" if row["unit"] == "per s" else "≤"
        print(
            f"| {row['path']} | {row['figure']:g} {row['unit']} | {better} {row['target']:g} {row['unit']} | {row['ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
