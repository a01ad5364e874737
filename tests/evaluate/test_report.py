"""`whyrec evaluate --report`: the HTML report on the bundled sample shop, with real benchmark result files.

The artifact is trained through the CLI in-process; the benchmark files are written by the real
`benchmarks/ranking.py` (a 200-user slice of P5 Beauty, which carries published rows) and
`benchmarks/explain.py` (template on Gift Cards, run in-process), so a change of their `--out` format shows here.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from whyrec.artifact import Artifact
from whyrec.cli import main
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.errors import DataError
from whyrec.evaluate import report_plots
from whyrec.evaluate.report import MIN_TIMED, collect, load_results, measure, render_html

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip


def cli(*args: str | Path) -> tuple[int, str, str]:
    """`whyrec ARGS...` in this process (any fixture scope): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setattr(sys, "argv", ["whyrec", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def one_json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    [line] = out.splitlines()
    return json.loads(line)


class Page(HTMLParser):
    """Tables (rows of cell texts), image sources, user cards and every tag of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.users: list[str] = []
        self.text: list[str] = []
        self.open: list[str] = []  # elements not yet closed; empty at the end of a well-formed page
        self.misnested: list[str] = []
        self._cell: list[str] | None = None
        self._in_user_title = False
        self._div_classes: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ("meta", "img", "br"):
            self.open.append(tag)
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "div":
            self._div_classes.append(a.get("class") or "")
        elif tag == "h3" and self._div_classes and self._div_classes[-1] == "user":
            self._in_user_title = True

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.misnested.append(tag)
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "div" and self._div_classes:
            self._div_classes.pop()
        elif tag == "h3":
            self._in_user_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_user_title:
            self.users.append(data.strip())

    def rows(self) -> list[list[str]]:
        return [row for table in self.tables for row in table]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def artifact(workdir: Path) -> Path:
    """itemknn + template on the sample shop, trained by `whyrec train`."""
    store = workdir / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
    out = workdir / "knn"
    one_json(cli("train", "--store", store, "--recommender", "itemknn", "--reasoner", "template", "--out", out, "--json"))
    return out


@pytest.fixture(scope="module")
def results(workdir: Path, datasets_dir: Path) -> tuple[Path, Path]:
    """Result files written by the real benchmark scripts, small enough to take seconds."""
    ranking = workdir / "ranking.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "ranking.py"), "--datasets", "beauty", "--models", "itemknn",
           "--max-users", "200", "--datasets-dir", str(datasets_dir), "--out", str(ranking)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    explain = workdir / "explain.json"
    spec = importlib.util.spec_from_file_location("explain_benchmark", REPO / "benchmarks" / "explain.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        bench.main(["--reasoners", "template", "--datasets", "gift-cards", "--seeds", "1", "--no-embed", "--out", str(explain)])
    return ranking, explain


@pytest.fixture(scope="module")
def report(artifact: Path, results: tuple[Path, Path], workdir: Path, english_words: Path) -> tuple[Path, dict]:
    out = workdir / "out" / "report.html"
    out.parent.mkdir()  # the report goes into an existing folder; none is created
    payload = one_json(
        cli("evaluate", "--artifact", artifact, "--report", out, "--results", results[0], "--results", results[1], "--json")
    )
    return out, payload


def test_report_holds_the_artifacts_metrics_and_the_benchmark_rows(report: tuple[Path, dict], results: tuple[Path, Path]) -> None:
    out, payload = report
    assert payload["report"] == str(out)
    page = Page(out.read_text(encoding="utf-8"))
    rows = page.rows()
    ranking, text = payload["ranking"], payload["text"]
    ours = next(r for r in rows if r[0] == "itemknn" and len(r) > 8)
    assert ours[:5] == ["itemknn", *(f"{ranking[k]:.4f}" for k in ("hr@5", "ndcg@5", "hr@10", "ndcg@10"))]
    assert ours[7] == str(ranking["users"])
    reasons = next(r for r in rows if r[0] == "template")
    assert reasons[1:3] == [f"{text['bleu1']:.2f}", f"{text['bleu4']:.2f}"] and f"{text['usr']:.4f}" in reasons

    bench = json.loads(results[0].read_text())
    for run in bench["runs"]:  # every benchmark run, and Beauty's published rows, with their numbers
        row = next(r for r in rows if r[:2] == ["beauty", run["model"]])
        assert row[5] == f"{run['metrics']['ndcg@10']:.4f}"
    sasrec = next(r for r in rows if r[:2] == ["beauty", "SASRec"])
    assert sasrec[2:6] == ["0.0387", "0.0249", "0.0605", "0.0318"] and "P5" in sasrec[-1]
    explained = json.loads(results[1].read_text())["rows"]
    gift = next(r for r in rows if r[:2] == ["gift-cards", "template"])
    assert gift[3] == f"{explained[0]['mean']['bleu4']:.2f}"
    assert any(r[:2] == ["tripadvisor", "PETER+ (feature hint)"] and "4.47" in r for r in rows)

    latency = payload["latency"]
    for name in ("recommend_ms", "served_ms"):
        assert latency[name]["n"] > 0 and 0 < latency[name]["p50"] <= latency[name]["p95"] <= latency[name]["max"]
    timed = next(r for r in rows if r[0] == "top-10 for one user")
    assert timed[1:4] == [
        str(latency["recommend_ms"]["n"]),
        f"{latency['recommend_ms']['p50']:.3f}",
        f"{latency['recommend_ms']['p95']:.3f}",
    ]


def test_report_is_self_contained_and_its_images_are_pngs(report: tuple[Path, dict]) -> None:
    text = report[0].read_text(encoding="utf-8")
    page = Page(text)
    assert len(page.images) >= 4  # ranking, text metrics, grounding/safety, latency
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        png = base64.b64decode(src[len(prefix) :], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.width > 200 and im.height > 100
            assert len(np.unique(np.asarray(im.convert("L")))) > 10  # drawn on, not blank
    assert "script" not in page.tags and "link" not in page.tags
    assert page.open == [] and page.misnested == []  # every element closed, in order
    assert "http://" not in text and "https://" not in text


def test_sample_reasons_are_what_the_user_is_recommended(report: tuple[Path, dict], artifact: Path) -> None:
    page = Page(report[0].read_text(encoding="utf-8"))
    assert len(page.users) == 3
    shown = one_json(cli("recommend", "--artifact", artifact, "--user", page.users[0], "-k", "10", "--json"))
    table = next(t for t in page.tables if t[0][:4] == ["#", "item", "score", "reason"])  # the first user's card
    # each item by id with its title and category from the training store, so the list can be judged by eye
    assert [row[1] for row in table[1:]] == [e["item"] + e["title"] + e["category"] for e in shown["items"]]
    assert [row[3] for row in table[1:]] == [e["reason"] for e in shown["items"]]
    cited = {h["item"] for e in shown["items"] for h in e["evidence"].get("history_items", [])}
    assert all(h in "".join(page.text) for h in cited)  # the history items a reason rests on are listed


def test_measure_stops_at_its_budget_and_keeps_filtered_reasons(artifact: Path) -> None:
    loaded = Artifact.load(artifact)
    served = measure(loaded, list(range(50)), k=4, budget_s=0.0)
    assert len(served.recommend_ms) == len(served.served_ms) == MIN_TIMED
    assert sorted(served.lists) == list(range(MIN_TIMED)) and len(served.reasons) == 4 * MIN_TIMED
    # Few calls (a slow LM within its budget) and unmeasured rates still draw.
    for png in (report_plots.latency({"top-4": served.recommend_ms}), report_plots.rates([("a", None, 0.5), ("b", 1.0, None)])):
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and len(np.unique(np.asarray(im.convert("L")))) > 10


def test_report_text_is_escaped(artifact: Path, tmp_path: Path) -> None:
    loaded = Artifact.load(artifact)
    data = collect(loaded, artifact, loaded.metrics["ranking"], "full ranking", samples=1, latency_users=5)
    evil = '<script>alert("x")</script> & <marquee>bold</marquee>'
    first = {**data.samples[0]["items"][0], "reason": evil, "aspects": [evil], "flags": []}
    flagged = {**data.samples[0]["items"][1], "reason": None, "flags": [f"ungrounded:{evil}"]}
    sample = {**data.samples[0], "items": [first, flagged]}
    page = Page(render_html(dataclasses.replace(data, samples=[sample])))
    assert "script" not in page.tags and "marquee" not in page.tags
    row = next(r for r in page.rows() if r[:2] == ["1", first["item"]])
    assert row[3] == evil and row[4] == evil and row[-1] == "passed"
    row = next(r for r in page.rows() if r[:2] == ["2", flagged["item"]])
    assert row[3] == "(withheld)" and row[-1] == f"ungrounded:{evil}"


def test_artifact_without_reasoner_and_bad_inputs(workdir: Path, artifact: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('recommender = "pop"\nreasoner = ""\n')
    bare = tmp_path / "pop"
    one_json(cli("train", "--store", workdir / "shop.sqlite", "--config", config, "--out", bare, "--json"))
    payload = one_json(cli("evaluate", "--artifact", bare, "--report", tmp_path / "pop.html", "--samples", "1", "--json"))
    assert set(payload["latency"]) == {"recommend_ms", "served_ms"}  # served: top-k with attribution, no reasons
    page = Page((tmp_path / "pop.html").read_text(encoding="utf-8"))
    assert "has no reasoner" in "".join(page.text) and len(page.users) == 1
    assert len(page.images) == 2  # ranking and latency: no reasons to plot

    not_results = artifact / "artifact.json"
    code, out, err = cli("evaluate", "--artifact", artifact, "--report", tmp_path / "x.html", "--results", not_results)
    assert code == 2 and out == "" and str(not_results) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()
    code, _, err = cli("evaluate", "--artifact", artifact, "--results", not_results)
    assert code == 2 and "--report" in err


def test_load_results_names_the_file_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "r.json"
    broken.write_text(
        json.dumps({"runs": [{"dataset": "beauty", "model": "pop", "users": 3, "fit_s": 1.0}], "published": [{"model": "x"}]})
    )
    with pytest.raises(DataError) as info:
        load_results(broken)
    assert info.value.file == str(broken) and info.value.field == "dataset"
    broken.write_text("{not json")
    with pytest.raises(DataError, match="not a JSON file"):
        load_results(broken)
    nan = tmp_path / "nan.json"  # explain.py writes NaN for what it did not measure (e.g. train_s of XRec's outputs)
    nan.write_text('{"rows": [{"dataset": "d", "system": "s", "seeds": 1, "mean": {"bleu4": 1.5, "train_s": NaN}}]}')
    [row] = load_results(nan).runs
    assert dict(row.metrics) == {"bleu4": 1.5} and np.isfinite(list(row.metrics.values())).all()


def test_the_explanation_benchmark_keeps_each_records_text_and_scores_for_paired_tests(results: tuple[Path, Path]) -> None:
    """explain.py's runs keep every test record's row, text and scores; its --paired table finds a system that writes
    the same texts but gains five ROUGE-L points on every record five points ahead (p tiny), FMR and similarity level."""
    spec = importlib.util.spec_from_file_location("explain_benchmark", REPO / "benchmarks" / "explain.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    [row] = json.loads(results[1].read_text())["rows"]
    [run] = row["runs"]
    records = run["records"]
    assert len(records["row"]) == len(records["text"]) == len(records["rougeL_f"]) == run["n"] > 40
    assert np.isclose(np.mean(records["rougeL_f"]), run["rougeL_f"])
    better = {**records, "rougeL_f": [x + 5 for x in records["rougeL_f"]]}
    rows = [row, {**row, "system": "better", "runs": [{**run, "records": better}]}]
    table = bench.paired(rows, "better")
    [line] = [line for line in table.splitlines() if line.startswith("| gift-cards | template |")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2:4] == ["1", str(run["n"])] and cells[4].startswith("+5.00 (0.000") and cells[5] == "+0.000 (1.000)"
    assert f"| gift-cards | template | 1 | {run['bleu4']:.2f} |" in bench.spread(rows)  # one seed: no sd


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
metric_values = st.dictionaries(
    st.sampled_from(["hr@5", "ndcg@10", "mrr", "coverage@10"]), st.floats(allow_infinity=False) | st.integers(-5, 5)
)


@given(runs=st.lists(st.tuples(names, names, metric_values), max_size=5), failed=st.booleans())
@settings(max_examples=40, deadline=None)
def test_load_results_keeps_every_run_and_only_finite_numbers(runs: list[tuple[str, str, dict]], failed: bool) -> None:
    rows = [{"dataset": d, "model": m, "metrics": v, "users": 9, "fit_s": 0.5} for d, m, v in runs]
    if failed:
        rows.append({"dataset": "beauty", "model": "sasrec", "error": "timed out after 60 s"})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ranking.json"
        path.write_text(json.dumps({"seed": 0, "max_users": None, "runs": rows, "published": []}))
        loaded = load_results(path)
    assert loaded.kind == "ranking" and [(r.dataset, r.system) for r in loaded.runs] == [(r["dataset"], r["model"]) for r in rows]
    for row, original in zip(loaded.runs, rows, strict=True):
        expected = {k: float(v) for k, v in original.get("metrics", {}).items() if np.isfinite(v)}
        assert dict(row.metrics) == expected
        assert row.note == ("failed: timed out after 60 s" if "error" in original else "9 users, fit 0.5 s")


def test_report_opens_in_a_browser_with_every_plot(report: tuple[Path, dict], chromium: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(report[0].resolve().as_uri())
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
            title = page.title()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(images) >= 4 and all(done and w > 0 and h > 0 for done, w, h in images)
    assert title.startswith("whyrec evaluation: itemknn")
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width == 1280 and shot.height > 2000  # the whole page: tables, plots and sample users
