"""`whyrec serve` and `demo`: the HTTP API and web page over an artifact and a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit, ranking_line
from whyrec.cli.train import train_with_progress

# The demo's pipeline: ALS matrix factorisation, which trains in seconds on the sample shop and ranks it best of
# the fast models, with LM-written reasons (prompt_lm; 60 optimiser steps, about 4 minutes on 2 cores, are enough
# for the sample shop's short review sentences; benchmarks/RESULTS.md compares the models and reasoners).
DEMO_RECOMMENDER = "mf"
DEMO_REASONER = "prompt_lm"
DEMO_MODELS = {"mf": {"factors": 32}, "prompt_lm": {"max_steps": 60}}
PAGE_USERS = 50  # shoppers the page lists (GET /v1/users' default limit), whose reasons the demo writes ahead of time


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its store and artifact.")] = Path("runs/demo"),
    recommender: Annotated[
        str | None, typer.Option("--recommender", help=f"Recommender name [default: {DEMO_RECOMMENDER}].")
    ] = None,
    reasoner: Annotated[
        str | None, typer.Option("--reasoner", help=f"Reasoner name [default: {DEMO_REASONER}]; '' for none.")
    ] = None,
    users: Annotated[int, typer.Option("--users", help="How many users' recommendations to show.")] = 3,
    ahead: Annotated[
        int,
        typer.Option("--precompute", help="Write the top-10 reasons of this many listed shoppers into the reason cache."),
    ] = PAGE_USERS,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Then serve the API and web page (until Ctrl-C).")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to serve on (with --serve).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to serve on (with --serve).")] = 8000,
    as_json: JsonFlag = False,
) -> None:
    """Ingest the bundled sample shop, train the demo pipeline, show a few users' recommendations, optionally serve.

    The reasons of the shoppers the page lists are written ahead of time (`whyrec reasons precompute`), so the
    page answers them from the reason cache; others are written on their first view.
    Re-running reuses the store and the artifact when they are already there. With --serve, the page
    opened on localhost can record likes by itself (a per-run token, feedback only); other writes need
    WHYREC_API_KEY, or the key generated and printed for this run.
    """
    from whyrec.artifact import Artifact
    from whyrec.config import RunConfig
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store
    from whyrec.progress import progress

    run = RunConfig(recommender=DEMO_RECOMMENDER, reasoner=DEMO_REASONER, models=DEMO_MODELS).overridden(
        recommender=recommender, reasoner=reasoner
    )
    store, artifact_dir = workdir / "store.sqlite", workdir / "artifact"
    if not store.exists():
        with progress(quiet=as_json) as bar:
            task = bar.add_task("generating and ingesting the sample shop", total=None)
            workdir.mkdir(parents=True, exist_ok=True)
            with Store(store) as db:
                db.write_dataset(generate_sample(seed=0))
            bar.update(task, completed=1, total=1)
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name=store.stem)
    artifact = Artifact.load(artifact_dir) if (artifact_dir / "artifact.json").exists() else None
    reused = artifact is not None and (artifact.config.recommender, artifact.config.reasoner) == (run.recommender, run.reasoner)
    if not reused:
        artifact = train_with_progress(dataset, run, None, store, quiet=as_json)
        artifact.save(artifact_dir)
    from whyrec.serve.pipeline import Pipeline
    from whyrec.serve.precompute import precompute

    pipeline = Pipeline.open(artifact_dir, store)  # the shoppers' answers exactly as the page will show them
    try:
        if ahead > 0 and pipeline.reasons.reasoner is not None:
            listed = pipeline.users(ahead)
            with progress(quiet=as_json) as bar:
                task = bar.add_task(f"writing the reasons of {len(listed)} shoppers", total=len(listed))
                written = precompute(pipeline, listed, 10, on_user=lambda: bar.advance(task))
        else:
            written = None
        answers = [pipeline.recommend(raw, 5) for raw in dataset.user_ids.raw[:users]]
        shown = [{k: a[k] for k in ("user", "fallback", "items")} for a in answers]
    finally:
        pipeline.close()
    payload = {
        "store": str(store),
        "artifact": str(artifact_dir),
        "reused_artifact": reused,
        "recommender": artifact.recommender.name,
        "reasoner": artifact.reasoner.name if artifact.reasoner is not None else None,
        "metrics": artifact.metrics,
        "precomputed": written.to_json() if written is not None else None,
        "recommendations": shown,
    }
    models = " + ".join(filter(None, [artifact.recommender.name, payload["reasoner"]]))
    lines = [f"store {store}, artifact {artifact_dir} ({models}" + (", reused)" if reused else ")")]
    lines.append(f"test: {ranking_line(artifact.metrics['ranking'])}")
    if written is not None:
        lines.append(f"reasons cached for {written.users} shoppers ({written.reasons} written, {written.cached} already there)")
    for rec in shown:
        lines.append(f"\n{rec['user']}:")
        for entry in rec["items"]:
            lines.append(f"  {entry['item']}  {entry['title'] or ''}" + (f"  - {entry['reason']}" if entry["reason"] else ""))
    emit(payload, as_json, "\n".join(lines))
    if serve_after:
        import secrets

        settings = _serve_settings(None, None).model_copy(update={"page_writes": True})
        if not settings.api_key:
            settings = settings.model_copy(update={"api_key": secrets.token_urlsafe(18)})
            typer.echo(
                f"whyrec: API key for writes, this run only: {settings.api_key}  (set WHYREC_API_KEY to choose one; "
                "the page on localhost saves likes without it)",
                err=True,
            )
        _run_server(artifact_dir, store, host, port, settings)


def _serve_settings(config: Path | None, keyed_reads: bool | None) -> Any:
    """ServeSettings from the config file's [serve] table, the key from WHYREC_API_KEY when set (it wins)."""
    import os
    import tomllib

    from pydantic import ValidationError

    from whyrec.errors import ConfigError
    from whyrec.serve.app import ServeSettings

    table: dict[str, Any] = {}
    if config is not None:
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8")).get("serve", {})
        except FileNotFoundError as exc:
            raise ConfigError(f"{config}: config file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config}: invalid TOML: {exc}") from exc
    if os.environ.get("WHYREC_API_KEY"):
        table["api_key"] = os.environ["WHYREC_API_KEY"]
    if keyed_reads is not None:
        table["keyed_reads"] = keyed_reads
    try:
        return ServeSettings.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{config}: [serve] field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from exc


def _run_server(artifact: Path, store: Path, host: str, port: int, settings: Any) -> None:
    """Start uvicorn on the app; returns when the server stops (Ctrl-C)."""
    import uvicorn

    from whyrec.serve.app import create_app
    from whyrec.serve.pipeline import Pipeline

    pipeline = Pipeline.open(artifact, store)  # a broken artifact or store stops here, with one line and exit 2
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    typer.echo(f"whyrec: serving {artifact} over {store}", err=True)
    typer.echo(f"whyrec: web page http://{shown}:{port}/app   API docs http://{shown}:{port}/docs", err=True)
    if not settings.api_key:
        refused = "every write but the page's likes" if settings.page_writes else "every write"
        typer.echo(f"whyrec: no API key configured (WHYREC_API_KEY): {refused} is refused", err=True)
    # No access log: request paths carry user ids.
    uvicorn.run(create_app(artifact, store, settings, pipeline), host=host, port=port, access_log=False, log_level="warning")


@app.command()
def serve(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    store: Annotated[Path, typer.Option("--store", help="SQLite store the artifact was trained from (events are added to it).")],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file with a [serve] table (api_key, keyed_reads, max_body_bytes, max_k)."),
    ] = None,
    keyed_reads: Annotated[
        bool | None,
        typer.Option("--keyed-reads/--open-reads", help="Whether reads need the API key too [default: config, else open]."),
    ] = None,
    page_writes: Annotated[
        bool,
        typer.Option(
            "--page-writes",
            help="Let the web page, opened on localhost, record likes without a key (a per-run token good for feedback only).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (/v1, docs at /docs) and the web page (/app). Writes need WHYREC_API_KEY as a Bearer token."""
    settings = _serve_settings(config, keyed_reads)
    _run_server(
        artifact, store, host, port, settings.model_copy(update={"page_writes": page_writes}) if page_writes else settings
    )
