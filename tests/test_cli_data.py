"""`whyrec ingest / stats / split` through a real subprocess, as users and scripts run them."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import Run, one_error_line, one_json, whyrec
from whyrec.data.split import Split, make_split
from whyrec.data.store import Store


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    store = tmp_path_factory.mktemp("cli") / "shop.sqlite"
    return store, one_json(whyrec("ingest", "--format", "sample", "--store", store, "--json"))


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = "import json, sys, whyrec.cli; print(json.dumps(sorted(m for m in ('torch', 'transformers', 'pandas', 'numpy', 'scipy') if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_help_lists_the_commands() -> None:
    proc = whyrec("--help")
    assert proc.returncode == 0
    assert all(cmd in proc.stdout for cmd in ("ingest", "stats", "split"))


def test_sample_ingest_reports_rows_and_store_totals(sample_store: tuple[Path, dict]) -> None:
    store, out = sample_store
    assert out["read"] == out["kept"] + out["rejected"] and out["rejected"] == 0
    assert out["rejects_file"] is None
    assert (out["users"], out["items"]) == (400, 300)
    with Store(store, create=False) as db:
        counts = db.counts()
    assert (out["reviews"], out["interactions"]) == (counts["reviews"], counts["interactions"])
    assert out["added"]["interactions"] == counts["interactions"] > 20_000


def test_reingest_adds_nothing_twice(sample_store: tuple[Path, dict]) -> None:
    store, first = sample_store
    again = one_json(whyrec("ingest", "--format", "sample", "--store", store, "--json"))
    assert set(again["added"].values()) == {0}
    assert {k: again["already_stored"][k] for k in ("users", "items", "reviews", "interactions")} == {
        k: first[k] for k in ("users", "items", "reviews", "interactions")
    }
    assert {k: again[k] for k in ("users", "items", "reviews", "interactions")} == {
        k: first[k] for k in ("users", "items", "reviews", "interactions")
    }


def test_split_writes_the_split_make_split_computes(cli: Run, sample_store: tuple[Path, dict], tmp_path: Path) -> None:
    store, _ = sample_store
    out = one_json(cli("split", "--store", store, "--protocol", "ratio", "--seed", "7", "--out", tmp_path / "s", "--json"))
    with Store(store, create=False) as db:
        expected = make_split(db.read_dataset(), "ratio", 7)
    saved = Split.load(tmp_path / "s")
    assert (out["protocol"], out["seed"], out["table"]) == ("ratio", 7, "reviews") == (saved.protocol, saved.seed, saved.table)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(saved, part), getattr(expected, part))
        assert out[part] == len(getattr(expected, part))

    human = cli("split", "--store", store, "--protocol", "leave-last-out", "--out", tmp_path / "l")
    assert human.returncode == 0 and "train" in human.stdout and not human.stdout.lstrip().startswith("{")
    assert len(Split.load(tmp_path / "l").test) == 400


def test_stats_reports_counts_histograms_and_aspects(cli: Run, sample_store: tuple[Path, dict]) -> None:
    store, ingested = sample_store
    out = one_json(cli("stats", "--store", store, "--json"))
    assert (out["users"], out["items"], out["reviews"]) == (400, 300, ingested["reviews"])
    assert sum(out["events"].values()) == out["interactions"]
    assert set(out["ratings"]) <= {"1", "2", "3", "4", "5"} and sum(out["ratings"].values()) == out["events"]["rating"]
    assert 0.5 < out["sparsity"] < 1
    assert out["reviews_sampled"] == ingested["reviews"]  # under the 2,000 cap
    top = [a["aspect"] for a in out["top_aspects"]]
    assert top and all(a["mentions"] == a["positive"] + a["negative"] for a in out["top_aspects"])
    # the sample's reviews talk about these, in these words
    assert {"battery life", "sound quality", "weight"} & set(top)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("stats", "--store", "{tmp}/missing.sqlite"), "missing.sqlite: no store here"),
        (("split", "--store", "{tmp}/missing.sqlite", "--protocol", "ratio", "--out", "{tmp}/o"), "no store here"),
        (("ingest", "--format", "sample", "--store", "{tmp}/s.sqlite", "{tmp}/x.json"), "takes no PATH"),
        (("ingest", "--format", "sample", "--store", "{tmp}/s.sqlite", "--on-error", "ignore"), "--on-error"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Run, tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    line = one_error_line(cli(*(a.format(tmp=tmp_path) for a in args)), 2)
    assert needle in line


def test_unknown_protocol_names_the_choices(cli: Run, sample_store: tuple[Path, dict], tmp_path: Path) -> None:
    store, _ = sample_store
    line = one_error_line(cli("split", "--store", store, "--protocol", "random", "--out", tmp_path / "o"), 2)
    assert "leave-last-out, temporal, ratio" in line


def test_a_file_that_is_not_a_store_is_refused(cli: Run, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("just some notes\n" * 100)
    line = one_error_line(cli("stats", "--store", bogus), 2)
    assert "notes.sqlite" in line and "not a whyrec store" in line


# ---- real slices: the first lines of public files, written to a temp folder ----------------


@pytest.fixture(scope="module")
def gift_cards(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    """The first 300 Amazon 2018 Gift Cards reviews as JSON lines, plus the category's metadata file."""
    folder = datasets_dir / "amazon2018-gift-cards"
    with gzip.open(folder / "Gift_Cards_5.json.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(300)]
    path = tmp_path_factory.mktemp("slices") / "gift_cards_300.json"
    path.write_text("".join(lines), encoding="utf-8")
    return path, folder / "meta_Gift_Cards.json.gz", [json.loads(line) for line in lines]


def test_ingest_real_amazon_slice_then_reingest(cli: Run, gift_cards: tuple[Path, Path, list[dict]], tmp_path: Path) -> None:
    reviews, meta, records = gift_cards
    store = tmp_path / "gc.sqlite"
    out = one_json(whyrec("ingest", reviews, "--format", "amazon", "--meta", meta, "--store", store, "--json"))
    assert out["read"] == out["kept"] + out["rejected"] and out["rejected"] == 0
    assert out["reviews"] == out["added"]["reviews"] == 300
    assert out["users"] == len({r["reviewerID"] for r in records})
    # the catalog covers every reviewed item, and the metadata file's other items too
    assert out["items"] >= len({r["asin"] for r in records})

    again = one_json(whyrec("ingest", reviews, "--format", "amazon", "--meta", meta, "--store", store, "--json"))
    assert set(again["added"].values()) == {0}
    assert again["already_stored"]["reviews"] == again["already_stored"]["interactions"] == 300
    assert again["already_stored"]["reviews"] == again["already_stored"]["interactions"] == 300
    assert {k: again[k] for k in ("users", "items", "reviews", "interactions")} == {
        k: out[k] for k in ("users", "items", "reviews", "interactions")
    }
    stats = one_json(cli("stats", "--store", store, "--json"))
    assert stats["events"]["rating"] == stats["interactions"] == 300
    assert stats["ratings"]["5"] == sum(r["overall"] == 5 for r in records)


def test_rows_sharing_a_store_key_are_counted_not_hidden(cli: Run, tmp_path: Path) -> None:
    # Two reviews by one user of one item on one day, with different ratings: both are kept as reviews,
    # but the store holds one rating event per (user, item, time), and the ingest must say so.
    rows = [
        {"overall": o, "reviewerID": "U1", "asin": "B1", "unixReviewTime": 1_500_000_000, "reviewText": t}
        for o, t in ((5.0, "Lovely scent."), (2.0, "The scent faded fast."))
    ]
    path = tmp_path / "twice.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = one_json(cli("ingest", path, "--format", "amazon", "--store", tmp_path / "s.sqlite", "--json"))
    assert (out["read"], out["kept"], out["rejected"]) == (2, 2, 0)
    assert out["added"]["interactions"] + out["already_stored"].get("interactions", 0) == 2


def test_bad_row_fails_with_file_row_and_field_or_is_set_aside(
    cli: Run, gift_cards: tuple[Path, Path, list[dict]], tmp_path: Path
) -> None:
    reviews, _, _ = gift_cards
    lines = reviews.read_text(encoding="utf-8").splitlines(keepends=True)[:20]
    lines[4] = json.dumps({"overall": "five", "reviewerID": "A1", "asin": "B1", "unixReviewTime": 1}) + "\n"
    bad = tmp_path / "broken_reviews.json"
    bad.write_text("".join(lines), encoding="utf-8")
    store = tmp_path / "shop.sqlite"

    line = one_error_line(whyrec("ingest", bad, "--format", "amazon", "--store", store), 2)
    assert "broken_reviews.json" in line and "row 5" in line and "overall" in line
    assert not store.exists()  # nothing was written: the load failed before the store opened

    out = one_json(cli("ingest", bad, "--format", "amazon", "--store", store, "--on-error", "skip", "--json"))
    assert (out["read"], out["kept"], out["rejected"]) == (20, 19, 1)
    assert out["rejects_file"] == str(store) + ".rejects.jsonl"
    (reject,) = [json.loads(r) for r in Path(out["rejects_file"]).read_text().splitlines()]
    assert (Path(reject["file"]).name, reject["row"], reject["field"]) == ("broken_reviews.json", 5, "overall")


def test_ingest_real_movielens_slice(cli: Run, datasets_dir: Path, tmp_path: Path) -> None:
    ratings = tmp_path / "u500.data"
    with (datasets_dir / "movielens-100k" / "u.data").open() as f:
        ratings.write_text("".join(next(f) for _ in range(500)))
    out = one_json(cli("ingest", ratings, "--format", "movielens", "--store", tmp_path / "ml.sqlite", "--json"))
    rows = [line.split("\t") for line in ratings.read_text().splitlines()]
    assert (out["read"], out["kept"], out["interactions"]) == (500, 500, 500)
    assert (out["users"], out["items"]) == (len({r[0] for r in rows}), len({r[1] for r in rows}))
