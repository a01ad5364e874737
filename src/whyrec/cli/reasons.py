"""`whyrec reasons precompute`: write shoppers' top-k reasons into the store's cache ahead of time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli.common import JsonFlag, app, emit

reasons_app = typer.Typer(help="Reasons written ahead of time, served from the store's reason cache.", no_args_is_help=True)
app.add_typer(reasons_app, name="reasons")


@reasons_app.command("precompute")
def precompute(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train` (with a reasoner).")],
    store: Annotated[Path, typer.Option("--store", help="The store the server reads; its reason cache is written.")],
    k: Annotated[int, typer.Option("-k", help="Reasons per shopper: their top-k, as the server ranks them.")] = 10,
    users: Annotated[
        Path | None,
        typer.Option("--users", help="A file of raw shopper ids, one per line [default: every shopper the model knows]."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write every known shopper's (or the listed shoppers') top-k reasons, after the filters, into the reason cache.

    Resumable: killed and run again, it writes only what is not cached yet.
    """
    from whyrec.errors import ArtifactError, ConfigError
    from whyrec.progress import progress
    from whyrec.serve.pipeline import Pipeline
    from whyrec.serve.precompute import chosen_users, read_users
    from whyrec.serve.precompute import precompute as run

    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    listed = read_users(users) if users is not None else None  # a bad file fails before the model loads
    pipeline = Pipeline.open(artifact, store)
    try:
        if pipeline.reasons.reasoner is None:
            raise ArtifactError(f"{artifact}: trained without a reasoner; nothing to precompute")
        chosen = chosen_users(pipeline.live.known_users(len(pipeline.live.user_ids.raw)), listed, users)
        with progress(quiet=as_json) as bar:
            task = bar.add_task(f"writing top-{k} reasons", total=len(chosen))
            done = run(pipeline, chosen, k, on_user=lambda: bar.advance(task))
    finally:
        pipeline.close()
    payload = {**done.to_json(), "k": k, "model": pipeline.version}
    human = (
        f"{done.users} shoppers: {done.reasons} reasons written, {done.cached} already cached, "
        f"{done.replaced} replaced or withheld by the filters, in {done.seconds:.1f} s (peak RSS {done.peak_rss_mib:.0f} MiB)"
    )
    emit(payload, as_json, human)
