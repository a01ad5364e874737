"""`whyrec recommend` and `explain`: an artifact's answers for one shopper, through the one served path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit, output_file


@app.command()
def recommend(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    user: Annotated[str, typer.Option("--user", help="Raw user id; an unknown one gets popular items.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Top-k items for one user, with reasons when the artifact has a reasoner."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError

    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    answer = Artifact.load(artifact).recommend(user, k=k)
    payload = {"user": user, "fallback": answer.fallback, "items": [r.to_json() for r in answer.items]}
    lines = [f"{user}" + (" (unknown user: popular items)" if answer.fallback else "")]
    for rank, r in enumerate(answer.items, start=1):
        lines.append(f"{rank:>3}. {r.item}  {r.score:.4f}" + (f"  {r.reason}" if r.reason else ""))
    emit(payload, as_json, "\n".join(lines))


@app.command()
def explain(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train` (with a reasoner).")],
    user: Annotated[str, typer.Option("--user", help="Raw user id; an unknown one gets an item-only reason.")],
    item: Annotated[str | None, typer.Option("--item", help="Raw item id (may be left out with --plot).")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw USER's interest profile and the history x recommendations attribution heatmap here (.png or .svg).",
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="With --plot: the store the profile is read from [default: the artifact's training store]."),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="With --plot: recommendations in the heatmap.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Why ITEM suits USER: the reason, the aspects it names, its evidence, and any grounding/safety flags.

    With --plot, also (or only, without --item) a picture of why USER gets their top-k items.
    """
    from whyrec.errors import ConfigError

    if item is None and plot is None:
        raise ConfigError("--item or --plot is needed: an item to explain, or a file to draw the user's explanation in")
    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    payload: dict[str, Any] = {"user": user}
    lines: list[str] = []
    if item is not None:
        payload, lines = _explain_item(artifact, user, item)
    if plot is not None:
        payload["plot"] = _plot_explanation(artifact, user, plot, store, k)
        drawn = payload["plot"]
        lines.append(
            f"plot: {drawn['path']} ({len(drawn['items'])} recommendations x {len(drawn['history'])} history items, {drawn['method']})"
        )
    emit(payload, as_json, "\n".join(lines))


def _explain_item(artifact: Path, user: str, item: str) -> tuple[dict[str, Any], list[str]]:
    """`whyrec explain --item`'s payload and human lines: the item as `whyrec recommend` would show it."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ArtifactError, NotFoundError

    loaded = Artifact.load(artifact)
    if loaded.reasoner is None:
        raise ArtifactError(f"{artifact}: trained without a reasoner; retrain with `whyrec train --reasoner template`")
    if loaded.item_ids.get(item) < 0:
        raise NotFoundError(f"item {item!r} is not in the artifact's catalog")
    answer = loaded.recommend(user, items=[item], k=1)
    [shown] = answer.items
    payload = {"user": user, **shown.to_json(), "known_user": not answer.fallback}
    lines = [f"{user} -> {item}: {shown.reason or '(withheld: it failed the grounding or safety filters)'}"]
    lines.append("  aspects: " + (", ".join(shown.aspects) or "none"))
    lines += [f"  {k}: {v}" for k, v in shown.evidence.items()]
    lines.append("  flags: " + (", ".join(shown.flags) or "none (grounded and safe)"))
    return payload, lines


def _plot_explanation(artifact: Path, user: str, path: Path, store: Path | None, k: int) -> dict[str, Any]:
    """Draw USER's profile and attribution heatmap as the web page sees them (through the serving pipeline)."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError, NotFoundError
    from whyrec.explain.figure import AttributionGrid, check_format, explanation_figure, save_figure, select_rows
    from whyrec.recommend.attribution import history_weights
    from whyrec.serve.pipeline import Pipeline

    check_format(path)  # before minutes of loading
    output_file(path, "--plot")
    if store is None:
        recorded = Artifact.load(artifact).store
        if not recorded:
            raise ConfigError("--plot reads the shopper's profile from a store: pass --store (the artifact records none)")
        store = Path(recorded)
        if not store.is_absolute():
            raise ConfigError(
                f"--plot: the artifact records its training store as {recorded!r}, relative to a folder it does not name; pass --store"
            )
        if not store.exists():
            raise ConfigError(f"--plot: the artifact's training store {recorded} has moved or is gone; pass --store")
    pipeline = Pipeline.open(artifact, store)
    try:
        try:
            profile: dict[str, Any] = pipeline.profile(user)
        except NotFoundError:  # a shopper with no events or reviews yet: an empty profile beside popular picks
            profile = {}
        uid = pipeline.live.user_ids.get(user)
        [ranked] = pipeline.live.model.recommend([uid], k=k)
        items = [int(i) for i in ranked.items]
        method, history, weights = history_weights(pipeline.live.model, uid, items)  # weights: (items, history)
        rows = select_rows(weights.T)
        raw_items = [pipeline.live.item_ids.raw[i] for i in items]
        raw_history = [pipeline.live.item_ids.raw[int(h)] for h in history[rows]]

        def label(raw: str) -> str:
            return pipeline.facts.rows.get(raw, {}).get("title") or raw

        grid = AttributionGrid([label(r) for r in raw_history], [label(r) for r in raw_items], weights.T[rows], method)
        kind = "popular picks for a new shopper" if ranked.fallback else f"{pipeline.live.model.name}'s top {len(items)}"
        save_figure(explanation_figure(profile, grid, f"{user}: interest profile and why these items ({kind})"), path)
    finally:
        pipeline.close()
    return {
        "path": str(path),
        "method": method,
        "items": raw_items,
        "history": raw_history,
        "weights": [[round(float(w), 6) for w in row] for row in weights.T[rows]],  # history x items
    }
