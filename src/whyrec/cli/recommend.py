"""`whyrec recommend` and `explain`: an artifact's answers for one shopper, through the one served path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit, note, output_file

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store", help="Store whose catalog gives titles, categories and prices [default: the artifact's training store]."
    ),
]


def read_shop(loaded: Any, store: Path | None, notes: list[str]) -> Any:
    """The data of `store`, else of the artifact's training store when it is still there; None (and a note) otherwise.

    Read from the store rather than saved in the artifact, so titles, prices and review aspects are the
    shop's current ones and failing reasons are replaced as the server replaces them.
    """
    from whyrec.data.store import Store
    from whyrec.errors import DataError

    path = store if store is not None else Path(loaded.store) if loaded.store else None
    if store is not None and not store.exists():
        raise DataError("store not found", file=store)
    if path is None or not path.is_file():  # gone, or not a store (an artifact trained from Parquet records that folder)
        notes.append(
            f"no store: the training store {loaded.store!r} is not there, so items show ids only and reasons that fail"
            " the checks are withheld, not replaced (pass --store)"
        )
        return None
    with Store(path, create=False) as db:
        return db.read_dataset(name=path.stem)


def item_line(rank: int, r: Any) -> str:
    """One recommended item for people: id, title, category and price where the catalog has them, then the reason."""
    about = "  ".join(x for x in (r.title, r.category, None if r.price is None else f"${r.price:.2f}") if x)
    return f"{rank:>3}. {r.item}" + (f"  {about}" if about else "") + (f"\n       {r.reason}" if r.reason else "")


@app.command()
def recommend(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    user: Annotated[str, typer.Option("--user", help="Raw user id; an unknown one gets popular items (said on stderr).")],
    k: Annotated[int, typer.Option("-k", help="How many items (at most the items the user has not had yet).")] = 10,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Top-k items for one user with titles, and reasons when the artifact has a reasoner."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError

    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    loaded = Artifact.load(artifact)
    notes: list[str] = []
    answer = loaded.recommend(user, k=k, shop=read_shop(loaded, store, notes))
    if answer.fallback:
        notes.append(f"unknown user {user!r}: showing popular items (check the id: `whyrec stats` counts the store's users)")
    if len(answer.items) < k:
        notes.append(
            f"k capped at {len(answer.items)}: the model has {len(loaded.item_ids)} items, less those the user already had"
        )
    payload = {"user": user, "fallback": answer.fallback, "k": k, "notes": notes, "items": [r.to_json() for r in answer.items]}
    for line in notes if not as_json else ():
        note(line)
    emit(payload, as_json, "\n".join([user, *(item_line(rank, r) for rank, r in enumerate(answer.items, start=1))]))


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
        typer.Option(
            "--store",
            help="Store whose catalog gives the item's title (and, with --plot, the profile) [default: the artifact's training store].",
        ),
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
        payload, lines = _explain_item(artifact, user, item, store)
        for line in payload["notes"] if not as_json else ():
            note(line)
    if plot is not None:
        payload["plot"] = _plot_explanation(artifact, user, plot, store, k)
        drawn = payload["plot"]
        lines.append(
            f"plot: {drawn['path']} ({len(drawn['items'])} recommendations x {len(drawn['history'])} history items, {drawn['method']})"
        )
    emit(payload, as_json, "\n".join(lines))


def _explain_item(artifact: Path, user: str, item: str, store: Path | None) -> tuple[dict[str, Any], list[str]]:
    """`whyrec explain --item`'s payload and human lines: the item as `whyrec recommend` would show it."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ArtifactError, NotFoundError

    loaded = Artifact.load(artifact)
    if loaded.reasoner is None:
        raise ArtifactError(f"{artifact}: trained without a reasoner; retrain with `whyrec train --reasoner template`")
    if loaded.item_ids.get(item) < 0:
        raise NotFoundError(f"item {item!r} is not in the artifact's catalog")
    notes: list[str] = []
    answer = loaded.recommend(user, items=[item], k=1, shop=read_shop(loaded, store, notes))
    if answer.fallback:
        notes.append(f"unknown user {user!r}: the reason is about the item only")
    [shown] = answer.items
    payload = {"user": user, **shown.to_json(), "known_user": not answer.fallback, "notes": notes}
    named = f"{item} ({shown.title})" if shown.title else item
    lines = [f"{user} -> {named}: {shown.reason or '(withheld: it failed the grounding or safety filters)'}"]
    lines.append("  aspects: " + (", ".join(shown.aspects) or "none"))
    lines += [f"  {k}: {_evidence_text(v)}" for k, v in shown.evidence.items()]
    lines.append("  flags: " + (", ".join(shown.flags) or "none (grounded and safe)"))
    return payload, lines


def _evidence_text(value: Any) -> str:
    """An evidence entry for people: history items by title where the catalog has one."""
    if isinstance(value, list):
        return ", ".join(v.get("title") or v["item"] if isinstance(v, dict) else str(v) for v in value) or "none"
    return str(value)


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
