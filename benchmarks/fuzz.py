"""Fuzz the HTTP API from its own OpenAPI schema with schemathesis, against a real `whyrec serve` process.

Trains the demo pipeline on the sample shop in a temporary folder (as benchmarks/serve.py does),
starts the server with an API key, and runs `st run` with that key on every operation: by default
every check (no 5xx, documented status codes, schema-valid requests accepted and invalid ones
refused, deleted resources gone, ...), then reports how many requests the server answered with 500
according to its own log. Exit status is schemathesis's.

    .venv/bin/python benchmarks/fuzz.py --max-examples 20 --max-time 400
    .venv/bin/python benchmarks/fuzz.py --checks not_a_server_error   # only "never a 5xx"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve import API_KEY, build_shop, start  # benchmarks/serve.py, beside this file

ST = Path(sys.executable).with_name("st")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=100, help="generated cases per operation")
    parser.add_argument("--checks", default="all", help="schemathesis checks (comma-separated, or 'all')")
    parser.add_argument("--max-time", type=int, default=600, help="time budget of the whole run, seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="whyrec-fuzz-") as tmp:
        folder = Path(tmp)
        print("training the demo pipeline on the sample shop ...", file=sys.stderr)
        artifact, store = build_shop(folder)
        log = folder / "server.log"
        proc, url = start(artifact, store, log)
        started = time.perf_counter()
        try:
            run = subprocess.run(
                [
                    str(ST),
                    "run",
                    f"{url}/openapi.json",
                    "--header",
                    f"Authorization: Bearer {API_KEY}",
                    "--checks",
                    args.checks,
                    "--max-examples",
                    str(args.max_examples),
                    "--seed",
                    str(args.seed),
                    "--max-time",
                    str(args.max_time),
                    "--workers",
                    "2",
                    "--no-color",
                ],
                check=False,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        errors = log.read_text(encoding="utf-8", errors="replace").count("internal error on")
    print(
        f"\nschemathesis exit {run.returncode} after {time.perf_counter() - started:.0f} s; "
        f"server log: {errors} internal errors (500)"
    )
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
