"""The evaluation report: one self-contained HTML file a person would rather look at than read.

It shows an artifact's ranking metrics, its reasoner's text metrics, grounding and safety rates,
latency measured while the report is made, and sample reasons for a few users; optionally beside
benchmark results (the `--out` JSON of `benchmarks/ranking.py` or `benchmarks/explain.py`) with the
published figures those carry. CSS is inline and plots are base64 PNG, so the file opens anywhere,
offline, and can be mailed as is.

`load_results` and `measure` touch files and time calls; `render_html` is a pure function of the
collected `ReportData`.
"""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from whyrec.errors import DataError
from whyrec.evaluate import report_plots as plots

if TYPE_CHECKING:
    from whyrec.artifact import Artifact
    from whyrec.data.schema import Dataset
    from whyrec.recommendation import Answer, Recommendation

LATENCY_USERS = 100  # users timed; enough for a stable p95 of per-user calls
LATENCY_BUDGET_S = 30.0  # stop timing after this long (a slow LM reasoner), once MIN_TIMED users are done
MIN_TIMED = 3
HISTORY_SHOWN = 8  # latest history events shown per sample user

RANKING_METRICS = (
    ("hr@5", "HR@5"), ("ndcg@5", "NDCG@5"), ("hr@10", "HR@10"), ("ndcg@10", "NDCG@10"), ("mrr", "MRR"),
    ("coverage@10", "Cov@10"),
)  # fmt: skip
TEXT_SCALED = (("bleu1", "BLEU-1"), ("bleu4", "BLEU-4"), ("rouge1_f", "R-1 F"), ("rouge2_f", "R-2 F"), ("rougeL_f", "R-L F"))
TEXT_RATIOS = (
    ("usr", "USR"), ("fmr", "FMR"), ("fcr", "FCR"), ("distinct2", "dist-2"), ("embedding_sim", "emb-sim"),
    ("grounding", "grounded"),
)  # fmt: skip
TEXT_OTHER = (
    ("div", "DIV"),
    ("safety_flag_rate", "unsafe"),
    ("rmse", "RMSE"),
    ("mae", "MAE"),
    ("reasons_per_s", "reasons/s"),
    ("n", "n"),
)


@dataclass(frozen=True)
class ResultRow:
    """One system on one dataset from a benchmark file: its metrics and a short note (source, seeds, size)."""

    dataset: str
    system: str
    metrics: Mapping[str, float]
    note: str = ""


@dataclass(frozen=True)
class BenchmarkResults:
    """A benchmark `--out` file, read: our runs and the published rows it carries."""

    kind: Literal["ranking", "explain"]
    path: str
    runs: tuple[ResultRow, ...]
    published: tuple[ResultRow, ...]


@dataclass
class Served:
    """Serving the artifact for sampled users, timed: per-user milliseconds and the checked reasons."""

    k: int
    recommend_ms: list[float] = field(default_factory=list)  # the recommender's top-k for one user
    served_ms: list[float] = field(default_factory=list)  # that user's answer as served: top-k, checked reasons, attribution
    lists: dict[int, Answer] = field(default_factory=dict)  # per user: the served answer

    @property
    def reasons(self) -> list[Recommendation]:
        """Every served item whose reasoner wrote a reason (shown, or withheld with its flags)."""
        return [r for answer in self.lists.values() for r in answer.items if r.reason is not None or r.flags]


@dataclass
class ReportData:
    """Everything the report shows; `render_html` turns it into the page."""

    artifact_path: str
    manifest: dict[str, Any]  # Artifact.manifest()
    ranking: dict[str, Any]
    protocol: str
    served: Served
    samples: list[dict[str, Any]]
    results: list[BenchmarkResults] = field(default_factory=list)
    shown: dict[str, Any] = field(default_factory=dict)  # whyrec.evaluate.shown.collect_shown; {} when not measured
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


# ---- benchmark files -----------------------------------------------------------------------------


def _number_dict(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a metrics mapping (NaN marks 'not measured' in the benchmark files)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
            out[key] = float(value)
    return out


def _ranking_note(run: Mapping[str, Any]) -> str:
    """A ranking run's note: why it failed or was not run, else its user count and fit time."""
    if "error" in run:
        return f"failed: {run['error']}"
    if "skipped" in run:
        return f"not run: {run['skipped']}"
    return f"{run['users']} users, fit {run['fit_s']:.1f} s"


def load_results(path: str | Path) -> BenchmarkResults:
    """Read a `benchmarks/ranking.py --out` or `benchmarks/explain.py --out` JSON file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError("benchmark results file not found", file=p) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"not a JSON file ({exc})", file=p) from exc
    try:
        if isinstance(data, dict) and isinstance(data.get("runs"), list):
            runs = tuple(
                ResultRow(r["dataset"], r["model"], _number_dict(r.get("metrics", {})), _ranking_note(r)) for r in data["runs"]
            )
            published = tuple(
                ResultRow(r["dataset"], r["model"], _number_dict(r), r.get("source", "")) for r in data.get("published", [])
            )
            return BenchmarkResults("ranking", str(p), runs, published)
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            runs = tuple(
                ResultRow(r["dataset"], r["system"], _number_dict(r["mean"]), f"{r['seeds']} seed(s)") for r in data["rows"]
            )
            published = tuple(
                ResultRow(r.get("dataset", "published"), r["system"], _number_dict(r), "another dataset: context only")
                for r in data.get("published", [])
            )
            return BenchmarkResults("explain", str(p), runs, published)
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"a result row lacks {exc}", file=p, field=str(exc).strip("'")) from exc
    raise DataError(
        "neither a benchmarks/ranking.py nor a benchmarks/explain.py --out file (no 'runs' or 'rows' list)", file=p, field="runs"
    )


# ---- measuring -------------------------------------------------------------------------------------


def measure(
    artifact: Artifact,
    users: Sequence[int],
    k: int = 10,
    budget_s: float = LATENCY_BUDGET_S,
    at_least: int = MIN_TIMED,
    shop: Dataset | None = None,
) -> Served:
    """Time the recommender's top-k and the whole served answer (`Artifact.recommend`) for each user in turn.

    One untimed warm-up call first. Stops once `budget_s` has passed and `at_least` users are timed,
    so a slow LM reasoner bounds the run; each user's answer is kept (grounding and safety rates, samples).
    `shop` (the store's data) gives the answers titles and checks and replaces reasons as the server does.
    """
    served = Served(k=k)
    model = artifact.serving_recommender()
    if not len(users):
        return served
    artifact.recommend(artifact.user_ids.raw[int(users[0])], k=k, shop=shop)  # warm-up: lazy caches, first-call allocations
    started = time.perf_counter()
    for uid in map(int, users):
        t0 = time.perf_counter()
        model.recommend([uid], k=k)
        t1 = time.perf_counter()
        answer = artifact.recommend(artifact.user_ids.raw[uid], k=k, shop=shop)
        served.served_ms.append((time.perf_counter() - t1) * 1e3)
        served.recommend_ms.append((t1 - t0) * 1e3)
        served.lists[uid] = answer
        if time.perf_counter() - started > budget_s and len(served.lists) >= at_least:
            break
    return served


def sample_user(
    artifact: Artifact, uid: int, answer: Answer, catalog: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """One user's latest history and served answer (from `measure`), with raw ids throughout and titles where `catalog` has them."""
    inter = artifact.interactions
    mine = inter[inter["user"] == uid].sort_values("timestamp", kind="stable")
    items = [r.to_json() for r in answer.items]
    cited = {h["item"] for e in items for h in e["evidence"].get("history_items", [])}
    # The latest events, plus the latest event of each cited item that is older, so the evidence can be seen.
    raw_items = np.asarray(artifact.item_ids.raw, dtype=object)[mine["item"].to_numpy()]
    latest = np.zeros(len(mine), dtype=bool)
    latest[-HISTORY_SHOWN:] = True
    cited_rows = ~latest & np.isin(raw_items, list(cited)) & ~pd.Series(raw_items).duplicated(keep="last").to_numpy()
    history = [
        {
            "item": raw_items[k],
            "title": (catalog or {}).get(raw_items[k], {}).get("title"),
            "event": row.event,
            "rating": None if not np.isfinite(row.rating) else float(row.rating),
            "time": datetime.fromtimestamp(int(row.timestamp), UTC).strftime("%Y-%m-%d"),
            "cited": raw_items[k] in cited,
        }
        for k, row in enumerate(mine.itertuples(index=False))
        if latest[k] or cited_rows[k]
    ]
    return {"user": artifact.user_ids.raw[uid], "history": history, "history_total": len(mine), "items": items}


def collect(
    artifact: Artifact,
    artifact_path: str | Path,
    ranking: dict[str, Any],
    protocol: str,
    results: Sequence[BenchmarkResults] = (),
    samples: int = 3,
    k: int = 10,
    latency_users: int = LATENCY_USERS,
    shop: Dataset | None = None,
) -> ReportData:
    """Time serving for a seeded sample of users and show the first `samples` of them; the report's data.

    `shop` (the store's data) puts titles beside ids, so the samples can be judged by eye, and answers
    as the server does (its catalog and review aspects, the template fallback).
    """
    rng = np.random.default_rng(artifact.config.seed)
    timed = rng.permutation(np.unique(artifact.interactions["user"].to_numpy()))[: max(latency_users, samples)]
    served = measure(artifact, timed, k=k, at_least=max(MIN_TIMED, samples), shop=shop)
    catalog = None if shop is None else artifact.served(shop)[0].rows
    shown = [sample_user(artifact, int(u), served.lists[int(u)], catalog) for u in timed[:samples]]
    return ReportData(str(artifact_path), artifact.manifest(), ranking, protocol, served, shown, list(results))


def latency_summary(served: Served) -> dict[str, dict[str, float]]:
    """p50, p95, mean and max per timed call, in milliseconds (what `--json` and the report show)."""
    out = {}
    for name, values in (("recommend_ms", served.recommend_ms), ("served_ms", served.served_ms)):
        if values:
            a = np.asarray(values)
            out[name] = {
                "n": len(a),
                "p50": float(np.percentile(a, 50)),
                "p95": float(np.percentile(a, 95)),
                "mean": float(a.mean()),
                "max": float(a.max()),
            }
    return out


def served_rates(served: Served) -> dict[str, float]:
    """Shares of the written reasons that passed grounding, and that carry a safety flag (both are withheld)."""
    from whyrec.explain.filters import UNGROUNDED, UNSAFE

    n = len(served.reasons)
    if not n:
        return {}
    grounded = sum(not any(f.startswith(UNGROUNDED) for f in r.flags) for r in served.reasons)
    unsafe = sum(any(f.startswith(UNSAFE) for f in r.flags) for r in served.reasons)
    return {"reasons": n, "grounded": grounded / n, "unsafe": unsafe / n}


# ---- rendering -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2430;background:#f5f6f8;margin:0}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px;border-bottom:2px solid #dde1e7;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.sub{color:#5b6472;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08);min-width:120px}
.card b{display:block;font-size:22px;color:#1f6fb2}.card span{color:#5b6472;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:8px 0 14px;font-size:13px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{padding:4px 9px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;white-space:nowrap}.scroll{overflow-x:auto}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.published td{color:#6b7280;font-style:italic}tr.ours td{background:#eef5fc}
img{max-width:100%;height:auto;background:#fff;border-radius:6px;margin:6px 0}
.user{background:#fff;border-radius:8px;padding:12px 16px;margin:14px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.cited,.history li.cited{font-weight:600;color:#1f6fb2}.history{columns:2;margin:4px 0 8px;padding-left:20px}
.flag{display:inline-block;background:#fde2e2;color:#9b1c1c;border-radius:4px;padding:0 5px;margin:1px;font-size:12px}
.ok{color:#2a7d4f}.flagged{color:#9b1c1c;font-size:12px}.note{color:#5b6472;font-size:12px}
code{font-size:12px;background:#eef1f5;padding:1px 4px;border-radius:3px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return _e(value)


def _digits(key: str) -> int:
    """Display precision: x100 text scores and DIV with 2 decimals, rates with 4, throughput with none."""
    if key in dict(TEXT_SCALED) or key == "div":
        return 2
    return 0 if key in ("reasons_per_s", "n") else 4


def _table(headers: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]], caption: str = "") -> str:
    """An HTML table; each row is (css class, already-escaped cells); numeric-looking cells align right."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for cls, cells in rows:
        tds = "".join(
            f'<td class="num">{c}</td>' if c.replace(".", "").replace(",", "").replace("-", "").isdigit() else f"<td>{c}</td>"
            for c in cells
        )
        body.append(f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>")
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}">'


def _results_table(
    rows: Sequence[ResultRow], published: Sequence[ResultRow], keys: Sequence[tuple[str, str]], system: str
) -> str:
    """Benchmark rows, then published ones (italic), in the metric columns any of them has."""
    keys = [(k, label) for k, label in keys if any(k in r.metrics for r in (*rows, *published))]
    out = []
    for cls, group in (("", rows), ("published", published)):
        for r in group:
            cells = [_e(r.dataset), _e(r.system)] + [_fmt(r.metrics.get(k), _digits(k)) for k, _ in keys] + [_e(r.note)]
            out.append((cls, cells))
    return _table(["dataset", system, *[label for _, label in keys], "note"], out)


def _ranking_section(data: ReportData) -> str:
    ranking, name = data.ranking, data.manifest["recommender"]
    dataset = data.manifest["dataset"]["name"] or "this shop"
    keys = [(k, label) for k, label in RANKING_METRICS if k in ranking]
    ours = _table(
        ["model", *[label for _, label in keys], "test users", "repeat targets", "cold targets"],
        [("ours", [_e(name)] + [_fmt(ranking[k]) for k, _ in keys]
          + [_fmt(ranking.get("users")), _fmt(ranking.get("repeat_targets")), _fmt(ranking.get("cold_targets"))])],
    )  # fmt: skip
    panels = [plots.Panel(f"{dataset} ({data.protocol})", [plots.Bar(name, ranking, "ours")])]
    bench = [r for r in data.results if r.kind == "ranking"]
    tables = []
    for res in bench:
        for d in dict.fromkeys(r.dataset for r in res.runs):
            bars = [plots.Bar(r.system, r.metrics) for r in res.runs if r.dataset == d and r.metrics]
            bars += [plots.Bar(r.system, r.metrics, "published") for r in res.published if r.dataset == d]
            panels.append(plots.Panel(f"{d} (benchmark, full ranking)", bars))
        shown = {r.dataset for r in res.runs}
        tables.append(
            f"<h3>Benchmark <code>{_e(res.path)}</code></h3>"
            + _results_table(res.runs, [r for r in res.published if r.dataset in shown], RANKING_METRICS, "model")
        )
    figure = plots.grouped_bars(panels, [("ranking", RANKING_METRICS[:4])])
    return (
        "<h2>Ranking</h2>"
        f"<p>{_e(name)} on the artifact's {_e(data.manifest['config'].get('split_protocol', ''))} test split, "
        f"{_e(data.protocol)}, the user's history excluded. Benchmark runs are other datasets under "
        "<code>benchmarks/ranking.py</code>'s protocol (leave-last-out, full ranking, repeat targets kept as candidates "
        "as in the papers); published figures (hatched, italic) are quoted from the papers named beside them.</p>"
        + ours
        + _img(figure, "ranking metrics per model")
        + "".join(tables)
    )


def _text_section(data: ReportData) -> str:
    text = {k: v for k, v in data.manifest["metrics"].get("text", {}).items() if isinstance(v, int | float)}
    reasoner = data.manifest.get("reasoner")
    if not reasoner:
        return "<h2>Reasons</h2><p>This artifact has no reasoner: train with <code>--reasoner template</code> to get reasons.</p>"
    keys = [(k, label) for k, label in (*TEXT_SCALED, *TEXT_RATIOS, *TEXT_OTHER) if k in text]
    split = data.manifest["metrics"].get("text", {}).get("split", "")
    if not keys:
        intro = f"<p>{_e(reasoner)}: no text metrics (no test review judged an aspect at training time).</p>"
        ours = ""
    else:
        intro = (
            f"<p>{_e(reasoner)} scored at training time on the test part of a {_e(split)} "
            "(PETER's protocol and metric definitions: BLEU/ROUGE x100; USR, FMR, FCR, distinct-2 in 0-1; DIV lower is "
            "more diverse). Published figures (hatched, italic) were measured on another dataset: context, not a comparison "
            "number for number.</p>"
        )
        cells = [_e(reasoner)] + [_fmt(text[k], _digits(k)) for k, _ in keys]
        ours = _table(["reasoner", *[label for _, label in keys]], [("ours", cells)])
    # Published figures (another dataset) stand beside every panel, hatched, as the yardstick they are.
    explain = [r for r in data.results if r.kind == "explain"]
    published = [plots.Bar(f"{r.system}, {r.dataset}", r.metrics, "published") for res in explain for r in res.published]
    dataset = data.manifest["dataset"]["name"] or "this shop"
    panels = [plots.Panel(f"{dataset} (test reviews)", [plots.Bar(reasoner, text, "ours"), *published])] if keys else []
    tables = []
    for res in explain:
        for d in dict.fromkeys(r.dataset for r in res.runs):
            bars = [plots.Bar(r.system, r.metrics) for r in res.runs if r.dataset == d]
            panels.append(plots.Panel(f"{d} (benchmark)", [*bars, *published]))
        cols = (*TEXT_SCALED, *TEXT_RATIOS, ("div", "DIV"), ("safety_flag_rate", "unsafe"), ("train_s", "train s"), ("n", "n"))
        tables.append(f"<h3>Benchmark <code>{_e(res.path)}</code></h3>" + _results_table(res.runs, res.published, cols, "system"))
    figure = ""
    if panels:  # grounding has its own section
        png = plots.grouped_bars(panels, [("BLEU / ROUGE (x100)", TEXT_SCALED), ("ratios (0-1)", TEXT_RATIOS[:-1])])
        figure = _img(png, "explanation metrics per reasoner")
    return "<h2>Reasons</h2>" + intro + ours + figure + "".join(tables)


def _truth_section(data: ReportData) -> str:
    text = data.manifest["metrics"].get("text", {})
    rows: list[tuple[str, float | None, float | None]] = []
    if "grounding" in text:
        rows.append((f"{data.manifest.get('reasoner')}: test reviews", text.get("grounding"), text.get("safety_flag_rate")))
    live = served_rates(data.served)
    if live:
        label = f"{data.manifest.get('reasoner')}: this run's top-{data.served.k} ({live['reasons']} reasons)"
        rows.append((label, live["grounded"], live["unsafe"]))
    for res in (r for r in data.results if r.kind == "explain"):
        rows += [(f"{r.dataset}: {r.system}", r.metrics.get("grounding"), r.metrics.get("safety_flag_rate")) for r in res.runs]
    if not rows:
        return "<h2>Truth and safety</h2><p>No reasons to check.</p>"
    table = _table(
        ["source", "grounded", "flagged unsafe"],
        [("", [_e(label), _fmt(g), _fmt(u)]) for label, g, u in rows],
    )
    return (
        "<h2>Truth and safety</h2><p>Grounded: every aspect a reason names is one the item has (its reviews or catalog). "
        "Flagged unsafe: an invented price, offer, stock or urgency claim, a medical or safety claim, or offensive text. "
        "\"This run's top-k\" checks the reasons written for the timed users below against the reasoner's own record of "
        "each item's aspects; the artifact keeps no catalog, so any stated price counts as unbacked there.</p>"
        + table
        + _img(plots.rates(rows), "grounding and safety rates")
    )


_SHOWN_ROWS = (
    ("voice", "first-person voice (I, my, me)", "≤ 1%"),
    ("positive", "runs the item down", "≤ 1%"),
    ("words", "a word in no dictionary and not in the item's reviews or catalog", "0"),
    ("facts", "a number no review or catalog field of the item states", "0"),
    ("support", "plural or 'often' claims the data does not support", "≤ 1%"),
    ("grounded", "every aspect named is one the item has (shown)", "100%"),
    ("raw_grounded", "the generator's own reason was grounded (before the filters)", "≥ 95%"),
    ("specific", "distinct reasons per reason in one shopper's list", "≥ 0.95"),
    ("personal", "(item, two shoppers) pairs given the identical reason", "≤ 10%"),
    ("fmr", "names the aspect the shopper then wrote about (held-out reviews)", "higher is better"),
    ("embedding_sim", "embedding similarity to that held-out review", "higher is better"),
    ("lm_share", "written by the language model, not a fallback", "≥ 80% for an LM reasoner"),
)


def _shown_section(data: ReportData) -> str:
    shown = data.shown
    if not shown.get("n"):
        return ""
    rows = [("", [_e(label), _fmt(shown.get(key)), _e(target)]) for key, label, target in _SHOWN_ROWS]
    return (
        f"<h2>Shown reasons</h2><p>The top-10 reasons the server would show {shown['n']} times to shoppers with held-out "
        "reviews (through the one served path: reasons checked against the store's catalog and reviews, the template "
        "fallback in place), read as a shopper would. Shares of shown reasons unless said otherwise.</p>"
        + _table(["check", "value", "target"], rows)
    )


def _latency_section(data: ReportData) -> str:
    summary = latency_summary(data.served)
    if not summary:
        return "<h2>Latency</h2><p>Nothing was timed.</p>"
    names = {"recommend_ms": f"top-{data.served.k} for one user", "served_ms": f"top-{data.served.k} with reasons, as served"}
    table = _table(
        ["call", "calls timed", "p50 ms", "p95 ms", "mean ms", "max ms"],
        [("", [_e(names[k]), _fmt(s["n"]), _fmt(s["p50"], 3), _fmt(s["p95"], 3), _fmt(s["mean"], 3), _fmt(s["max"], 3)])
         for k, s in summary.items()],
    )  # fmt: skip
    figure = plots.latency({names["recommend_ms"]: data.served.recommend_ms, names["served_ms"]: data.served.served_ms})
    return (
        "<h2>Latency</h2><p>Measured in this run, in this process, one user at a time after a warm-up call "
        "(the machine's other load counts too).</p>" + table + _img(figure, "latency distribution")
    )


def _sample_section(data: ReportData) -> str:
    if not data.samples:
        return ""
    parts = [
        "<h2>Sample reasons</h2><p>What a few users would be shown by <code>whyrec recommend</code>. History items a "
        'reason cites as evidence are <span class="cited">highlighted</span>; a reason the filters flag is withheld and '
        "only its flags are listed (<code>whyrec serve</code>, which has the store's catalog, retries such a reason with "
        "a hint, then falls back to <code>template</code>).</p>"
    ]
    for user in data.samples:
        history = "".join(
            f'<li class="{"cited" if h["cited"] else ""}">{_e(h["item"])}'
            + (f" {_e(h['title'])}" if h.get("title") else "")
            + f' <span class="note">{_e(h["event"])}'
            + ("" if h["rating"] is None else f", {h['rating']:g}&#9733;")
            + f", {_e(h['time'])}</span></li>"
            for h in user["history"]
        )
        rows = [("", _item_cells(rank, item)) for rank, item in enumerate(user["items"], start=1)]
        parts.append(
            f'<div class="user"><h3>{_e(user["user"])}</h3>'
            f'<div class="note">history: {user["history_total"]} events; the latest {min(HISTORY_SHOWN, user["history_total"])} '
            "and any older ones a reason cites are shown</div>"
            f'<ul class="history">{history}</ul>'
            + _table(["#", "item", "score", "reason", "aspects", "evidence", "filters"], rows)
            + "</div>"
        )
    return "".join(parts)


def _evidence_value(value: Any) -> str:
    """An evidence entry as text: lists joined, history items by title where the catalog has one."""
    if isinstance(value, list):
        return ", ".join(v.get("title") or v["item"] if isinstance(v, dict) else str(v) for v in value)
    return str(value)


def _item_cells(rank: int, item: Mapping[str, Any]) -> list[str]:
    """One recommendation's table cells: rank, item, score, reason, aspects, evidence, filter verdict."""
    flags = "".join(f'<span class="flag">{_e(f)}</span>' for f in item.get("flags", []))
    reason = '<span class="flagged">(withheld)</span>' if flags else "–" if item["reason"] is None else _e(item["reason"])
    evidence = "; ".join(f"{_e(k)}: {_e(_evidence_value(v))}" for k, v in item.get("evidence", {}).items() if v)
    aspects = _e(", ".join(item.get("aspects", [])))
    return [
        str(rank),
        _e(item["item"])
        + "".join(f'<br><span class="note">{_e(str(v))}</span>' for v in (item.get("title"), item.get("category")) if v),
        _fmt(item["score"]),
        reason,
        aspects,
        evidence,
        flags or '<span class="ok">passed</span>',
    ]


def _cards(data: ReportData) -> str:
    text = data.manifest["metrics"].get("text", {})
    lat = latency_summary(data.served)
    cards = [(_fmt(data.ranking.get("ndcg@10")), "NDCG@10"), (_fmt(data.ranking.get("hr@10")), "HR@10")]
    if "bleu4" in text:
        cards += [
            (
                _fmt(text["bleu4"], 2),
                "BLEU-4 (x100): 4-word runs shared with held-out reviews; PETER published 1.1, small test sets often 0",
            ),
            (_fmt(text.get("rougeL_f"), 2), "ROUGE-L F (0-100): longest shared word run with the held-out review"),
        ]
    if "grounding" in text:
        cards.append((f"{text['grounding']:.1%}", "reasons grounded (test)"))
    for key, label in (("recommend_ms", "top-k p95 ms"), ("served_ms", "served answer p95 ms")):
        if key in lat:
            cards.append((_fmt(lat[key]["p95"], 2), label))
    shown = "".join(f'<div class="card"><b>{value}</b><span>{_e(label)}</span></div>' for value, label in cards)
    return f'<div class="cards">{shown}</div>'


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document (inline CSS, plots as data: URIs)."""
    m = data.manifest
    d = m["dataset"]
    sub = (
        f"artifact <code>{_e(data.artifact_path)}</code>: {_e(m['recommender'])}"
        + (f" + {_e(m['reasoner'])}" if m.get("reasoner") else "")
        + f" trained on {_e(d['name'] or 'a shop')} ({d['users']:,} users, {d['items']:,} items, {d['interactions']:,} interactions) "
        f"on {_e(m['created'])} by whyrec {_e(m['whyrec_version'])}; report made {_e(data.created)}."
    )
    body = "".join(
        [
            _cards(data),
            _ranking_section(data),
            _text_section(data),
            _truth_section(data),
            _shown_section(data),
            _latency_section(data),
            _sample_section(data),
        ]
    )
    title = f"whyrec evaluation: {m['recommender']}" + (f" + {m['reasoner']}" if m.get("reasoner") else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body><main><h1>{_e(title)}</h1><p class="sub">{sub}</p>{body}</main></body></html>\n'
    )


def write_report(path: str | Path, data: ReportData) -> Path:
    """Render and write the report (UTF-8) into an existing folder."""
    out = Path(path)
    out.write_text(render_html(data), encoding="utf-8")
    return out
