"""Spark vs one process: MLlib ALS (local[2]) against implicit's ALS, and how train and reasons cost grows. NOT a test.

    .venv/bin/python benchmarks/spark.py --out benchmarks/spark_results.json --plot benchmarks/spark_scaling.png
    .venv/bin/python benchmarks/spark.py --datasets sports --scales 1 --out /tmp/quick.json   # a quick run

Every stage is the `whyrec` command a user runs, in its own process, timed from start to exit:
1. Quality: P5 Sports and Yelp ingested into a store, then `whyrec train --recommender mf` (implicit, 2 threads)
   and `whyrec spark train --master local[2]` at equal rank, iterations, regularisation and alpha, no reasoner;
   NDCG@10 and HR@10 are whyrec's full-ranking leave-last-out evaluation of each artifact. implicit is run
   at two seeds, so its seed-to-seed spread is the noise the Spark figure is compared against.
2. Scaling: the bundled sample shop at 1x, 4x, 16x shoppers: train (with the template reasoner) and reasons
   for every shopper (k = 10, into the store's cache) by `whyrec reasons precompute` and `whyrec spark reasons`,
   both from the implicit-trained artifact, each on its own copy of the store.
Peak memory is the peak summed RSS of the command's whole process tree (Python, the JVM, Spark's Python
workers), sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = REPO.parent / "shared" / "datasets"
WHYREC = [sys.executable, "-c", "import sys; from whyrec.cli import main; sys.argv[0] = 'whyrec'; main()"]
SAMPLE_USERS, SAMPLE_ITEMS = 400, 300  # generate_sample's defaults: the 1x shop


def _tree_rss(root: int) -> int:
    """Summed resident set (bytes) of `root` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1]: the parent's pid
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # fields[21]: rss in pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def run(args: list[str]) -> dict:
    """`whyrec ARGS --json` in a child process: its JSON, wall seconds and peak tree RSS (MiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([*WHYREC, *map(str, args), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"whyrec {' '.join(map(str, args))}: exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
    result = json.loads(out.strip().splitlines()[-1])
    print(
        f"{time.strftime('%H:%M:%S')} whyrec {' '.join(map(str, args[:2]))}: {wall:.1f} s, {peak / 2**20:.0f} MiB",
        file=sys.stderr,
    )
    return {"result": result, "wall_s": round(wall, 2), "peak_mib": round(peak / 2**20, 1)}


def mf_config(path: Path, rank: int, iterations: int, regularization: float, alpha: float, seed: int) -> Path:
    path.write_text(
        f"seed = {seed}\nreasoner = 'template'\n[models.mf]\nalgorithm = 'als'\nfactors = {rank}\niterations = {iterations}\n"
        f"regularization = {regularization}\nalpha = {alpha}\nnum_threads = 2\n"
    )
    return path


def quality(name: str, work: Path, a: argparse.Namespace) -> list[dict]:
    """implicit (two seeds) and Spark ALS on one P5 set: full-ranking NDCG@10 / HR@10, wall time, peak memory."""
    store = work / f"{name}.db"
    subprocess.run([*WHYREC, "ingest", "--format", "p5", "--store", store, DATASETS_DIR / "p5-sequential" / name], check=True)
    rows = []
    for engine, seed in (("implicit", 42), ("implicit", 43), ("spark local[2]", 42)):
        config = mf_config(work / f"{name}-{seed}.toml", a.rank, a.iterations, a.regularization, a.alpha, seed)
        out = work / f"{name}-{engine.split()[0]}-{seed}"
        common = ["--store", store, "--out", out, "--config", config, "--reasoner", ""]
        if engine == "implicit":
            done = run(["train", *common, "--recommender", "mf"])
        else:
            done = run(["spark", "train", *common, "--master", "local[2]", "--conf", f"spark.driver.memory={a.driver_memory}"])
        ranking = done["result"]["metrics"]["ranking"]
        rows.append(
            {
                "dataset": name,
                "engine": engine,
                "seed": seed,
                "users": done["result"]["users"],
                "items": done["result"]["items"],
                "train_rows": done["result"]["train_rows"],
                "ndcg@10": ranking["ndcg@10"],
                "hr@10": ranking["hr@10"],
                "test_users": ranking["users"],
                "wall_s": done["wall_s"],
                "peak_mib": done["peak_mib"],
            }
        )
    return rows


def scaling(scale: int, work: Path, a: argparse.Namespace) -> list[dict]:
    """Train and reasons, one process vs Spark local[2], on the sample shop with `scale` times its shoppers."""
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store

    store = work / f"sample-{scale}x.db"
    dataset = generate_sample(seed=0, n_users=SAMPLE_USERS * scale, n_items=SAMPLE_ITEMS)
    with Store(store) as db:
        db.write_dataset(dataset)
    config = mf_config(work / "sample.toml", a.rank, a.iterations, a.regularization, a.alpha, 42)
    conf = ["--master", "local[2]", "--conf", f"spark.driver.memory={a.driver_memory}"]
    art = work / f"sample-{scale}x-implicit"
    stages = {
        ("train", "implicit"): ["train", "--store", store, "--out", art, "--config", config, "--recommender", "mf"],
        ("train", "spark local[2]"): [
            "spark",
            "train",
            "--store",
            store,
            "--out",
            work / f"sample-{scale}x-spark",
            "--config",
            config,
            *conf,
        ],
    }
    rows = []
    for (stage, engine), args in stages.items():
        done = run(args)
        rows.append(
            {
                "scale": scale,
                "users": dataset.n_users,
                "interactions": len(dataset.interactions),
                "stage": stage,
                "engine": engine,
                "wall_s": done["wall_s"],
                "peak_mib": done["peak_mib"],
            }
        )
    for engine in ("implicit", "spark local[2]"):
        copy = work / f"sample-{scale}x-{engine.split()[0]}-reasons.db"
        shutil.copy(store, copy)
        if engine == "implicit":
            done = run(["reasons", "precompute", "--artifact", art, "--store", copy, "-k", "10"])
        else:
            done = run(["spark", "reasons", "--artifact", art, "--store", copy, "-k", "10", *conf])
        rows.append(
            {
                "scale": scale,
                "users": dataset.n_users,
                "interactions": len(dataset.interactions),
                "stage": "reasons",
                "engine": engine,
                "wall_s": done["wall_s"],
                "peak_mib": done["peak_mib"],
                "reasons": done["result"]["reasons"],
            }
        )
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for stage, style in (("train", "-"), ("reasons", "--")):
        for engine, colour in (("implicit", "tab:blue"), ("spark local[2]", "tab:orange")):
            pts = sorted((r["users"], r["wall_s"], r["peak_mib"]) for r in rows if r["stage"] == stage and r["engine"] == engine)
            if not pts:
                continue
            label = f"{stage}: {'one process' if engine == 'implicit' else engine}"
            axes[0].plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour, marker="o", label=label)
            axes[1].plot([p[0] for p in pts], [p[2] for p in pts], style, color=colour, marker="o", label=label)
    for ax, ylabel in zip(axes, ("wall time (s)", "peak RSS of the process tree (MiB)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("shoppers (sample shop, 1x / 4x / 16x)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def tables(results: dict) -> str:
    lines = [
        "| set | engine | seed | users | items | NDCG@10 | HR@10 | test users | wall s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["quality"]:
        lines.append(
            f"| {r['dataset']} | {r['engine']} | {r['seed']} | {r['users']:,} | {r['items']:,} | {r['ndcg@10']:.4f} | {r['hr@10']:.4f} | {r['test_users']:,} | {r['wall_s']:.0f} | {r['peak_mib']:.0f} |"
        )
    lines += ["", "| shoppers | interactions | stage | engine | wall s | peak MiB |", "|---|---|---|---|---|---|"]
    for r in results["scaling"]:
        lines.append(
            f"| {r['users']:,} | {r['interactions']:,} | {r['stage']} | {r['engine']} | {r['wall_s']:.0f} | {r['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="sports,yelp", help="P5 sets for the quality comparison ('' for none)")
    parser.add_argument("--scales", default="1,4,16", help="sample-shop shopper multiples for the scaling run ('' for none)")
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=10.0, help="implicit's meaning; Spark's regParam is derived")
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--driver-memory", default="2g", help="Spark driver (and, in local mode, executor) JVM heap")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "spark_results.json")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "spark_scaling.png")
    a = parser.parse_args()
    results: dict = {"settings": {k: v for k, v in vars(a).items() if k not in ("out", "plot")}, "quality": [], "scaling": []}
    with tempfile.TemporaryDirectory(prefix="whyrec-spark-bench-") as tmp:
        work = Path(tmp)
        for name in filter(None, a.datasets.split(",")):
            results["quality"] += quality(name, work, a)
        for scale in (int(s) for s in filter(None, a.scales.split(","))):
            results["scaling"] += scaling(scale, work, a)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    if results["scaling"]:
        plot(results["scaling"], a.plot)
    print(tables(results))


if __name__ == "__main__":
    main()
