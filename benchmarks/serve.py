"""Load on the HTTP API: a real `whyrec serve` process on loopback, concurrent httpx clients, bounded in count and time.

Phases, in order, over the sample shop (MF + --reasoner, the demo pipeline) unless --artifact/--store are given:
  cold   every request is a user's first recommendations: reasons and attributions are generated
  warm   the same users again: reasons come from the store's reason cache
  mixed  concurrent clients: 70% recommendations, 10% profiles, 15% event batches (which change that user's
         ranking and attributions; only items new to their top-k need reasons written), 5% feedback
With several client counts (--clients 2,8) each count gets its own --users users for cold and warm (so every cold
request is uncached), and the mixed phase runs at the largest count.
Prints a Markdown table (clients, count, errors, p50/p95/p99 ms, throughput); --out writes it as JSON.

    .venv/bin/python benchmarks/serve.py --requests 1200 --clients 8
    .venv/bin/python benchmarks/serve.py --reasoner prompt_lm --clients 2,8 --users 24 --requests 200
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

WHYREC = Path(sys.executable).with_name("whyrec")
API_KEY = "benchmark-key"


def build_shop(folder: Path, reasoner: str) -> tuple[Path, Path]:
    """The bundled sample shop in a store and the demo pipeline (its recommender and model settings) trained on it."""
    from whyrec.artifact import Artifact
    from whyrec.cli.serve import DEMO_MODELS, DEMO_RECOMMENDER
    from whyrec.config import RunConfig
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store

    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
        dataset = db.read_dataset(name="shop")
    run = RunConfig(recommender=DEMO_RECOMMENDER, reasoner=reasoner, models=DEMO_MODELS)
    artifact = Artifact.train(dataset, run, store=str(store))
    artifact.save(folder / "artifact")
    return folder / "artifact", store


def start(artifact: Path, store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "WHYREC_API_KEY": API_KEY}
    proc = subprocess.Popen(
        [str(WHYREC), "serve", "--artifact", str(artifact), "--store", str(store), "--port", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("server did not start within 180 s")


class Recorder:
    """Latencies and errors per request kind, from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, float, bool]] = []  # (kind, seconds, ok)
        self.errors: list[str] = []

    def timed(self, kind: str, send: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = send()
            ok = response.status_code < 400
            if not ok:
                self.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        except httpx.HTTPError as exc:
            response, ok = None, False
            self.errors.append(f"{kind}: {type(exc).__name__}")
        with self.lock:
            self.rows.append((kind, time.perf_counter() - started, ok))
        return response


def summarise(phase: str, rec: Recorder, wall: float) -> list[dict[str, Any]]:
    out = []
    kinds = sorted({k for k, _, _ in rec.rows})
    for kind in [*kinds, "all"] if len(kinds) > 1 else kinds:
        rows = [r for r in rec.rows if kind in ("all", r[0])]
        ms = np.array([s for _, s, _ in rows]) * 1000
        out.append(
            {
                "phase": phase,
                "kind": kind,
                "requests": len(rows),
                "errors": sum(not ok for _, _, ok in rows),
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "p99_ms": float(np.percentile(ms, 99)),
                "req_per_s": len(rows) / wall,
            }
        )
    return out


def run_users(url: str, users: list[str], clients: int, k: int) -> tuple[Recorder, float]:
    """Each user's recommendations once, spread over `clients` threads."""
    rec = Recorder()
    shards = [users[i::clients] for i in range(clients)]

    def work(shard: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            for u in shard:
                rec.timed("recommend", lambda u=u: c.get(f"/v1/users/{u}/recommendations", params={"k": k}))

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(s,)) for s in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rec, time.perf_counter() - started


def run_mixed(
    url: str, users: list[str], items: list[str], requests: int, clients: int, k: int, seconds: float, seed: int
) -> tuple[Recorder, float]:
    """`requests` mixed requests over `clients` threads, stopping early after `seconds`."""
    rec = Recorder()
    deadline = time.monotonic() + seconds
    counter = iter(range(requests))
    take = threading.Lock()

    def work(worker: int) -> None:
        rng = random.Random(seed * 1000 + worker)
        with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
            while time.monotonic() < deadline:
                with take:
                    n = next(counter, None)
                if n is None:
                    return
                user, roll = rng.choice(users), rng.random()
                if roll < 0.70:
                    rec.timed("recommend", functools.partial(c.get, f"/v1/users/{user}/recommendations", params={"k": k}))
                elif roll < 0.80:
                    rec.timed("profile", functools.partial(c.get, f"/v1/users/{user}/profile"))
                elif roll < 0.95:
                    events = [
                        {
                            "user": user,
                            "item": rng.choice(items),
                            "event": rng.choice(["view", "click", "cart", "purchase"]),
                            "timestamp": 1_900_000_000 + n * 10 + j,
                        }
                        for j in range(rng.randint(1, 5))
                    ]
                    rec.timed("events", functools.partial(c.post, "/v1/events", json={"events": events}))
                else:
                    body = {"user": user, "item": rng.choice(items), "kind": rng.choice(["like", "dismiss"])}
                    rec.timed("feedback", functools.partial(c.post, "/v1/feedback", json=body))

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rec, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, help="artifact folder (default: train the demo pipeline on the sample shop)")
    parser.add_argument("--store", type=Path, help="its store (a copy is not made: events are added to it)")
    parser.add_argument("--reasoner", default="template", help="the reasoner of the demo pipeline trained without --artifact")
    parser.add_argument("--users", type=int, default=300, help="distinct users in the cold and warm phases, per client count")
    parser.add_argument("--requests", type=int, default=1200, help="requests in the mixed phase")
    parser.add_argument("--clients", default="8", help="concurrent client threads; a comma list runs each count")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=300, help="the mixed phase stops after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    with tempfile.TemporaryDirectory(prefix="whyrec-serve-bench-") as tmp:
        folder = Path(tmp)
        if args.artifact is None:
            print(f"training the demo pipeline ({args.reasoner}) on the sample shop ...", file=sys.stderr)
            artifact, store = build_shop(folder, args.reasoner)
        else:
            artifact, store = args.artifact, args.store
        proc, url = start(artifact, store, folder / "server.log")
        try:
            with httpx.Client(base_url=url, timeout=60) as c:
                users = c.get("/v1/users", params={"limit": args.users * len(counts)}).json()["users"]
                reasoner = c.get("/v1/model").json().get("reasoner")
            items = [line for line in (artifact / "items.txt").read_text(encoding="utf-8").splitlines()]
            rows: list[dict[str, Any]] = []
            errors: list[str] = []
            for n, clients in enumerate(counts):
                group = users[n * args.users : (n + 1) * args.users]
                for phase in ("cold", "warm"):
                    rec, wall = run_users(url, group, clients, args.k)
                    rows += [{"clients": clients, **r} for r in summarise(phase, rec, wall)]
                    errors += rec.errors
            most = max(counts)
            rec, wall = run_mixed(url, users, items, args.requests, most, args.k, args.max_seconds, args.seed)
            rows += [{"clients": most, **r} for r in summarise("mixed", rec, wall)]
            errors += rec.errors
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"reasoner {reasoner}, k = {args.k}, {args.users} users per client count; server: whyrec serve on loopback\n")
    print("| clients | phase | kind | requests | errors | p50 ms | p95 ms | p99 ms | req/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['clients']} | {r['phase']} | {r['kind']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['req_per_s']:.1f} |"
        )
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps({"reasoner": reasoner, "rows": rows, "errors": errors[:50]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
