"""Pictures of one shopper's explanation: their interest profile and the attribution heatmap.

`explanation_figure` draws the profile (aspects as bars whose length is the weight and whose
colour is the sentiment; categories with the price band) beside a heatmap of history items x
recommended items (attribution weights, `whyrec.recommend.attribution`). Figures are built from
`matplotlib.figure.Figure` (no pyplot), so no global backend or state is touched; matplotlib is
imported only when a figure is drawn. `save_figure` writes PNG or SVG by the file's suffix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from whyrec.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg"}
DPI = 110
LABEL_CHARS = 32  # item titles longer than this are cut with an ellipsis
ANNOTATE_MAX_CELLS = 120  # heatmap cells get their value written in when there are at most this many
# What a heatmap cell means under each attribution method (whyrec.recommend.attribution).
WEIGHT_MEANING = {
    "exact": "similarity: its share of the score",
    "occlusion": "score drop without this history item",
    "lime": "LIME coefficient (score per item kept)",
    "attention": "attention share (same for every item)",
}


@dataclass(frozen=True)
class AttributionGrid:
    """Attribution weights of history items (rows) for recommended items (columns), with display labels."""

    history: Sequence[str]
    items: Sequence[str]
    weights: np.ndarray  # (len(history), len(items)); 0 where a history item does not support an item
    method: str


def select_rows(weights: np.ndarray, per_item: int = 3, max_rows: int = 16) -> np.ndarray:
    """Row indices worth drawing: each column's `per_item` largest positive weights, most supporting rows first.

    `weights` is (history, items). A long history would make an unreadable heatmap, so rows that
    support no item among its top few are left out, and at most `max_rows` are kept.
    """
    w = np.asarray(weights, dtype=np.float64)
    picked: set[int] = set()
    for column in w.T:
        order = np.lexsort((np.arange(len(column)), -column))[:per_item]
        picked.update(int(r) for r in order if column[r] > 0)
    rows = np.array(sorted(picked), dtype=np.int64)
    total = np.clip(w[rows], 0, None).sum(axis=1)
    return rows[np.lexsort((rows, -total))][:max_rows]


def short(label: str, limit: int = LABEL_CHARS) -> str:
    """`label` cut to `limit` characters, an ellipsis marking the cut."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def check_format(path: str | Path) -> str:
    """The format (png or svg) the suffix of `path` asks for; any other suffix is a ConfigError."""
    out = Path(path)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{out}: plots are written as {' or '.join(FORMATS)}; got suffix {out.suffix or '(none)'!r}")
    return fmt


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write `fig` as PNG or SVG, chosen by the suffix of `path`."""
    fmt = check_format(path)
    out = Path(path)
    fig.savefig(out, format=fmt, dpi=DPI, bbox_inches="tight")
    return out


def explanation_figure(profile: Mapping[str, Any], grid: AttributionGrid, title: str) -> Figure:
    """Profile aspects and categories on the left, the history x recommendations heatmap on the right."""
    from matplotlib.figure import Figure

    rows = max(len(grid.history), 4)
    fig = Figure(figsize=(12.5, max(5.0, 0.32 * rows + 2.4)), layout="constrained")
    spec = fig.add_gridspec(2, 2, width_ratios=(1, 1.5))
    draw_aspects(fig.add_subplot(spec[0, 0]), profile.get("aspects") or [])
    draw_categories(fig.add_subplot(spec[1, 0]), profile.get("categories") or [], profile.get("price_band"))
    draw_heatmap(fig.add_subplot(spec[:, 1]), grid)
    fig.suptitle(title, fontsize=11)
    return fig


def draw_aspects(ax: Axes, aspects: Sequence[Mapping[str, Any]], top: int = 8) -> None:
    """Horizontal bars: length = the aspect's share of the profile, colour = its sentiment (red -1 to green +1)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    shown = list(aspects)[:top]
    ax.set_title("what they care about (aspects)", fontsize=10, loc="left")
    if not shown:
        _empty(ax, "no aspects yet: no reviews of theirs or of their items")
        return
    cmap, norm = colormaps["RdYlGn"], Normalize(-1.0, 1.0)
    y = np.arange(len(shown))
    weights = [float(a["weight"]) for a in shown]
    sentiments = [float(a["sentiment"]) for a in shown]
    ax.barh(y, weights, color=cmap(norm(sentiments)), edgecolor="#555", linewidth=0.4)
    for yi, w, s in zip(y, weights, sentiments, strict=True):
        ax.text(w, yi, f" {s:+.2f}", va="center", fontsize=8)
    ax.set_yticks(y, [short(str(a["feature"]), 24) for a in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of profile weight (label: sentiment)", fontsize=8)
    ax.set_xlim(0, max(weights) * 1.3)
    ax.tick_params(axis="x", labelsize=8)
    ax.figure.colorbar(ScalarMappable(norm, cmap), ax=ax, label="sentiment", shrink=0.8, pad=0.01)


def draw_categories(
    ax: Axes, categories: Sequence[Mapping[str, Any]], price_band: Mapping[str, Any] | None, top: int = 6
) -> None:
    """Horizontal bars of the categories' shares, with the price band in the title."""
    shown = list(categories)[:top]
    band = ""
    if price_band:
        band = f"\nusually ${price_band['low']:.0f}–${price_band['high']:.0f} (median ${price_band['median']:.0f})"
    ax.set_title("where they shop (categories)" + band, fontsize=10, loc="left")
    if not shown:
        _empty(ax, "no categories: the catalog has none for their items")
        return
    y = np.arange(len(shown))
    weights = [float(c["weight"]) for c in shown]
    ax.barh(y, weights, color="#5b7db1")
    # The last part of a "A > B > C" path says most in little room.
    ax.set_yticks(y, [short(str(c["name"]).split(" > ")[-1], 24) for c in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of interactions (strongest event per item)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)


def draw_heatmap(ax: Axes, grid: AttributionGrid) -> None:
    """History items x recommended items; a diverging scale when some weights are negative (occlusion can be)."""
    ax.set_title(f"why these items: attribution of history items ({grid.method})", fontsize=10, loc="left")
    w = np.asarray(grid.weights, dtype=np.float64)
    if w.size == 0 or not np.any(w):
        _empty(ax, "no history item supports these items\n(unknown shopper, or a model that ignores history)")
        return
    if w.shape != (len(grid.history), len(grid.items)):
        raise ConfigError(f"heatmap weights {w.shape} do not match {len(grid.history)} history x {len(grid.items)} items")
    top = float(np.abs(w).max())
    if (w < 0).any():
        image = ax.imshow(w, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto")
    else:
        image = ax.imshow(w, cmap="Greens", vmin=0.0, vmax=top, aspect="auto")
    ax.set_xticks(np.arange(len(grid.items)), [short(s) for s in grid.items], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(np.arange(len(grid.history)), [short(s) for s in grid.history], fontsize=7)
    ax.set_xlabel("recommended (best first)", fontsize=8)
    if w.size <= ANNOTATE_MAX_CELLS:
        for (r, c), value in np.ndenumerate(w):
            if value:
                dark = abs(value) > 0.6 * top
                ax.text(c, r, f"{value:.2g}", ha="center", va="center", fontsize=6, color="white" if dark else "#222")
    ax.figure.colorbar(image, ax=ax, label=WEIGHT_MEANING.get(grid.method, "weight"), shrink=0.8, pad=0.01)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, color="#666", transform=ax.transAxes)
    ax.set_axis_off()
