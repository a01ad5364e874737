"""The evaluation report's plots, drawn with matplotlib and returned as PNG bytes.

Figures are built from `matplotlib.figure.Figure` directly (no pyplot), so no global backend or
state is touched and plotting works in any process, with or without a display.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OURS = "#1f6fb2"  # this artifact
PUBLISHED = "#9a9a9a"  # figures quoted from papers
BENCH = ("#2a9d8f", "#e9a23b", "#8e5ea2", "#d1495b", "#5c946e", "#3d5a80", "#b5651d", "#6c757d")  # other runs
HATCHES = ("//", "\\\\", "xx", "..", "++")  # tell published series apart within one grey
DPI = 110
SMALL_SAMPLE = 10  # fewer timed calls than this are drawn as dots, not a histogram


@dataclass(frozen=True)
class Bar:
    """One series of a grouped bar chart: a system's values per metric (missing metrics are left out)."""

    label: str
    values: Mapping[str, float]
    kind: str = "bench"  # "ours" (this artifact), "bench" (a benchmark run) or "published" (a paper's figure)


@dataclass(frozen=True)
class Panel:
    """One dataset's bars, drawn as one plot per metric group."""

    title: str
    bars: Sequence[Bar] = field(default_factory=tuple)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _colours(bars: Sequence[Bar]) -> list[str]:
    """Blue for the artifact, grey for published figures, a fixed cycle for benchmark runs."""
    out, k = [], 0
    for bar in bars:
        if bar.kind == "ours":
            out.append(OURS)
        elif bar.kind == "published":
            out.append(PUBLISHED)
        else:
            out.append(BENCH[k % len(BENCH)])
            k += 1
    return out


def _legend_columns(bars: Sequence[Bar]) -> int:
    """Two legend columns when the labels are short enough to sit side by side under one plot."""
    return 2 if max(len(bar.label) + (12 if bar.kind == "published" else 0) for bar in bars) <= 34 else 1


def _grouped(ax: Axes, bars: Sequence[Bar], metrics: Sequence[tuple[str, str]], title: str) -> None:
    """Bars side by side per metric; published ones hatched, so a quoted figure never passes for a measured one."""
    shown = [(key, label) for key, label in metrics if any(key in b.values for b in bars)]
    ax.set_title(title, fontsize=10)
    if not shown or not bars:
        ax.text(0.5, 0.5, "no figures", ha="center", va="center", transform=ax.transAxes, color="#666")
        ax.set_axis_off()
        return
    x = np.arange(len(shown))
    width = 0.8 / len(bars)
    quoted = 0
    for k, (bar, colour) in enumerate(zip(bars, _colours(bars), strict=True)):
        heights = [bar.values.get(key, np.nan) for key, _ in shown]
        hatch = None
        if bar.kind == "published":
            hatch, quoted = HATCHES[quoted % len(HATCHES)], quoted + 1
        ax.bar(
            x - 0.4 + width * (k + 0.5), heights, width, color=colour, hatch=hatch, linewidth=0.5,
            label=f"{bar.label} (published)" if hatch else bar.label, edgecolor="#555" if hatch else "white",
        )  # fmt: skip
    ax.set_xticks(x, [label for _, label in shown], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=_legend_columns(bars))


def grouped_bars(panels: Sequence[Panel], groups: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> bytes:
    """One plot per (panel, metric group), a group being metrics on a common scale: PNG bytes.

    `groups` is [(group title, [(metric key, axis label), ...]), ...]. With several groups each
    panel (dataset) is a row; with one, panels fill rows of two.
    """
    cells = [(panel, title, metrics) for panel in panels for title, metrics in groups] or [(Panel("(no data)"), "", ())]
    cols = 2 if len(groups) == 1 and len(cells) > 1 else max(len(groups), 1)
    rows = -(-len(cells) // cols)
    legend_rows = max((-(-len(panel.bars) // _legend_columns(panel.bars)) for panel in panels if panel.bars), default=1)
    fig = _new_figure(5.4 * cols, (2.6 + 0.14 * legend_rows) * rows)  # room for the legend under each plot
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (panel, group_title, metrics) in zip(axes, cells, strict=False):
        _grouped(ax, panel.bars, metrics, panel.title if len(groups) == 1 else f"{panel.title}: {group_title}")
    for ax in axes[len(cells) :]:
        ax.set_axis_off()
    return _png(fig)


def rates(rows: Sequence[tuple[str, float | None, float | None]]) -> bytes:
    """Grounded share and flagged-unsafe share per (source) row, as two horizontal bar plots: PNG bytes.

    `rows` is [(label, grounded in 0-1 or None, unsafe in 0-1 or None), ...]; None leaves a gap.
    """
    fig = _new_figure(9.5, 0.45 * len(rows) + 1.2)
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))
    for ax, k, title, colour in (
        (axes[0], 1, "grounded (higher is better)", "#2a9d8f"),
        (axes[1], 2, "flagged unsafe (lower is better)", "#d1495b"),
    ):
        values = [np.nan if row[k] is None else float(row[k]) for row in rows]
        ax.barh(y, values, color=colour, height=0.6)
        for yy, v in zip(y, values, strict=True):
            text = "n/a" if np.isnan(v) else f"{v:.1%}"
            ax.text(0.0 if np.isnan(v) else min(v, 1.0) + 0.01, yy, text, va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, [row[0] for row in rows])
    axes[0].invert_yaxis()
    return _png(fig)


def latency(series: Mapping[str, Sequence[float]]) -> bytes:
    """A histogram of each latency series (milliseconds) with its p50 and p95 marked: PNG bytes."""
    from matplotlib.ticker import MaxNLocator

    names = [name for name, values in series.items() if len(values)]
    fig = _new_figure(4.6 * max(len(names), 1), 2.8)
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    if not names:
        axes[0].text(0.5, 0.5, "nothing timed", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    for ax, name in zip(axes, names, strict=False):
        values = np.asarray(series[name], dtype=np.float64)
        n_bins = min(30, max(5, len(values) // 3))
        if len(values) < SMALL_SAMPLE:  # too few calls for a histogram: one dot per call
            ax.scatter(np.sort(values), np.arange(1, len(values) + 1), color=OURS, zorder=3)
            ax.set_ylim(0, len(values) + 1)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        elif values.min() > 0 and values.max() > 20 * np.median(values):  # slow outliers: log scale keeps the bulk visible
            ax.hist(values, bins=np.geomspace(values.min(), values.max(), n_bins + 1), color=OURS, alpha=0.85)
            ax.set_xscale("log")
        else:
            ax.hist(values, bins=n_bins, color=OURS, alpha=0.85)
        for q, style in ((50, "-"), (95, "--")):
            v = float(np.percentile(values, q))
            shown = f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
            ax.axvline(v, color="#222", linestyle=style, linewidth=1, label=f"p{q} {shown} ms")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("milliseconds", fontsize=8)
        ax.set_ylabel("call (fastest first)" if len(values) < SMALL_SAMPLE else "calls", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, frameon=False)
    return _png(fig)
