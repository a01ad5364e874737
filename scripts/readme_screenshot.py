"""Make the README's picture of the web page, and print three of the reasons it shows.

Builds the demo (`whyrec demo`: the sample shop, MF + prompt_lm; about 5 minutes) in a scratch folder, or uses
the folder a `whyrec demo --dir DIR` run left (--dir), serves it on a free loopback port, and photographs /app in
Debian's Chromium (driven by Playwright) at desktop and phone widths. Run from the repository root:

    .venv/bin/python scripts/readme_screenshot.py            # writes docs/page.png and docs/page_phone.png
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from PIL import Image

from whyrec.cli.serve import DEMO_MODELS, DEMO_REASONER, DEMO_RECOMMENDER
from whyrec.cli.train import train_with_progress
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.serve.app import ServeSettings, create_app

CHROMIUM = Path("/usr/bin/chromium")
SHOPPER = "U00100"
SHOTS = {"page.png": (1280, 900), "page_phone.png": (390, 1100)}  # file -> viewport (width, height)
COLOURS = 96  # a palette this size keeps the PNGs small and the text crisp


def build(folder: Path) -> tuple[Path, Path]:
    """The demo's store and artifact, as `whyrec demo` makes them."""
    store, artifact = folder / "store.sqlite", folder / "artifact"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
        dataset = db.read_dataset(name=store.stem)
    run = RunConfig(recommender=DEMO_RECOMMENDER, reasoner=DEMO_REASONER, models=DEMO_MODELS)
    train_with_progress(dataset, run, None, store, quiet=True).save(artifact)
    return artifact, store


def serve(artifact: Path, store: Path) -> tuple[uvicorn.Server, str]:
    """The demo's server (page likes on) in a thread on a free port; returns once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(artifact, store, ServeSettings(page_writes=True))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://localhost:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the demo server did not start")


def photograph(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            for name, (width, height) in SHOTS.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(f"{url}/app?user={SHOPPER}")
                page.locator("#reclist .card").nth(9).wait_for()
                page.locator("#reclist .card .evidence").nth(1).evaluate("el => el.open = true")
                path = out / name
                page.screenshot(path=str(path))
                Image.open(path).convert("RGB").quantize(COLOURS).save(path, optimize=True)
                print(f"{path}  ({path.stat().st_size // 1024} KiB)")
                page.close()
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"), help="Folder for the PNG files.")
    parser.add_argument("--dir", type=Path, help="A `whyrec demo --dir` folder to serve instead of building one.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        artifact, store = (args.dir / "artifact", args.dir / "store.sqlite") if args.dir else build(Path(tmp))
        server, url = serve(artifact, store)
        try:
            photograph(url, args.out)
            answer = httpx.get(f"{url}/v1/users/{SHOPPER}/recommendations", params={"k": 10}).json()
            print(f"\nreasons shown to {SHOPPER}:")
            for entry in answer["items"]:
                print(f"  {entry['title']}: {entry['reason']}  [{entry['reasoner']}]")
        finally:
            server.should_exit = True


if __name__ == "__main__":
    main()
