"""Helpers for the serve tests: a trained sample shop and a real `whyrec serve` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from whyrec.artifact import Artifact
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.evaluate.protocol import evaluate_artifact
from whyrec.explain.registry import make_reasoner

API_KEY = "test-key-0123456789"
WHYREC = Path(sys.executable).with_name("whyrec")


@dataclass
class Server:
    url: str
    artifact: Path
    store: Path
    process: subprocess.Popen
    log: Path

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def train_sample_shop(folder: Path) -> tuple[Path, Path]:
    """The bundled sample shop in a store, and an MF + template artifact trained from it."""
    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
        dataset = db.read_dataset(name="shop")
    run = RunConfig(recommender="mf", reasoner="template", models={"mf": {"factors": 16, "iterations": 8, "num_threads": 1}})
    artifact = Artifact.train(dataset, run, store=str(store))
    evaluate_artifact(artifact)
    artifact.reasoner = make_reasoner("template").fit(dataset)
    artifact.save(folder / "artifact")
    return folder / "artifact", store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(artifact: Path, store: Path, log: Path, api_key: str | None, *extra: str) -> Server:
    """`whyrec serve [EXTRA]` as a subprocess on a free loopback port; returns once /healthz answers."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WHYREC_API_KEY", None)
    if api_key:
        env["WHYREC_API_KEY"] = api_key
    out = log.open("wb")
    process = subprocess.Popen(
        [str(WHYREC), "serve", "--artifact", str(artifact), "--store", str(store), "--port", str(port), *extra],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"whyrec serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return Server(url, artifact, store, process, log)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"whyrec serve did not answer within 120 s:\n{log.read_text()}")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
