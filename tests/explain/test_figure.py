"""Explanation pictures: row selection, the drawn figure's content, file formats, and `whyrec explain --plot` on the sample shop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_helpers import Run, one_error_line, one_json
from whyrec.artifact import Artifact
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.errors import ConfigError
from whyrec.explain.figure import AttributionGrid, explanation_figure, save_figure, select_rows
from whyrec.recommend.attribution import history_weights

PROFILE = {
    "aspects": [
        {"feature": "battery life", "weight": 0.4, "sentiment": 0.8},
        {"feature": "weight", "weight": 0.25, "sentiment": -0.5},
    ],
    "categories": [{"name": "Electronics > Audio > Speakers", "weight": 0.7}, {"name": "Kitchen > Pans", "weight": 0.3}],
    "price_band": {"min": 10.0, "low": 20.0, "median": 35.0, "high": 60.0, "max": 90.0, "items": 9},
}


def test_select_rows_keeps_each_items_top_supporters_most_supporting_first() -> None:
    weights = np.array(  # history x items
        [
            [0.0, 0.1, 0.0],
            [0.9, 0.0, 0.0],
            [0.2, 0.3, -0.5],
            [0.0, 0.0, 0.0],
            [0.1, 0.0, 0.0],
        ]
    )
    # per_item=1: item 0 -> row 1, item 1 -> row 2, item 2 -> none positive. Row 1 supports more (0.9 > 0.5).
    assert select_rows(weights, per_item=1).tolist() == [1, 2]
    assert select_rows(weights, per_item=2).tolist() == [1, 2, 0]
    assert select_rows(weights, per_item=3, max_rows=2).tolist() == [1, 2]
    assert select_rows(np.zeros((4, 2))).tolist() == []


def test_figure_draws_the_profile_and_the_weights() -> None:
    weights = np.array([[0.5, 0.0], [-0.1, 0.2], [0.3, 0.4]])
    grid = AttributionGrid(
        ["Lid", "Pan", "A very long product title that must be cut short"], ["Knife", "Boots"], weights, "occlusion"
    )
    fig = explanation_figure(PROFILE, grid, "U1")
    panels = {ax.get_title(loc="left").split(" (")[0]: ax for ax in fig.axes}  # colour bars have no title
    aspects, categories = panels["what they care about"], panels["where they shop"]
    heatmap = panels["why these items: attribution of history items"]
    assert [t.get_text() for t in aspects.get_yticklabels()] == ["battery life", "weight"]
    bars = aspects.patches
    assert [b.get_width() for b in bars] == [0.4, 0.25]
    assert bars[0].get_facecolor()[1] > bars[0].get_facecolor()[0]  # positive sentiment: green over red
    assert bars[1].get_facecolor()[0] > bars[1].get_facecolor()[1]  # negative: red over green
    assert [t.get_text() for t in categories.get_yticklabels()] == ["Speakers", "Pans"]
    assert "$20–$60" in categories.get_title(loc="left")
    [image] = heatmap.get_images()
    np.testing.assert_array_equal(image.get_array(), weights)
    assert image.get_cmap().name == "RdBu_r" and image.get_clim() == (-0.5, 0.5)  # diverging, centred on 0
    labels = [t.get_text() for t in heatmap.get_yticklabels()]
    assert labels[:2] == ["Lid", "Pan"] and labels[2].endswith("…") and len(labels[2]) <= 32
    assert "occlusion" in heatmap.get_title(loc="left")


def test_empty_profile_and_no_attribution_still_draw(tmp_path: Path) -> None:
    grid = AttributionGrid([], ["Knife"], np.zeros((0, 1)), "none")
    fig = explanation_figure({"aspects": [], "categories": [], "price_band": None}, grid, "new shopper")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no aspects" in t for t in texts) and any("no history item" in t for t in texts)
    assert save_figure(fig, tmp_path / "empty.png").stat().st_size > 0


def test_format_follows_the_suffix(tmp_path: Path) -> None:
    grid = AttributionGrid(["Lid"], ["Knife"], np.array([[0.4]]), "exact")
    fig = explanation_figure(PROFILE, grid, "U1")
    assert save_figure(fig, tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in save_figure(fig, tmp_path / "a.SVG").read_bytes()[:1000]
    with pytest.raises(ConfigError, match=r"png or \.svg"):
        save_figure(fig, tmp_path / "a.jpg")


# ---- whyrec explain --plot on the bundled sample shop ------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sample shop in a store and an item-kNN artifact trained on it (no reasoner: --plot needs none)."""
    from whyrec.config import RunConfig

    folder = tmp_path_factory.mktemp("plotshop")
    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name="shop")
    run = RunConfig(reasoner="template").overridden(recommender="itemknn")
    Artifact.train(dataset, run, store=str(store)).save(folder / "knn")
    return folder / "knn", store


def test_explain_plot_draws_the_models_own_attribution(shop: tuple[Path, Path], tmp_path: Path, cli: Run) -> None:
    artifact, _ = shop
    plot = one_json(
        cli("explain", "--artifact", artifact, "--user", "U00003", "--plot", tmp_path / "u.png", "-k", "5", "--json")
    )["plot"]
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"
    assert plot["method"] == "exact" and len(plot["items"]) == 5 and plot["history"]
    # The drawn weights are item-kNN's exact terms for the same recommendations (held-out rows folded in).
    loaded = Artifact.load(artifact)
    model = loaded.serving_recommender()
    uid = loaded.user_ids.get("U00003")
    [ranked] = model.recommend([uid], k=5)
    assert loaded.item_ids.to_raw(ranked.items) == plot["items"]
    _, history, weights = history_weights(model, uid, ranked.items)
    rows = [int(np.flatnonzero(history == loaded.item_ids.get(h))[0]) for h in plot["history"]]
    np.testing.assert_allclose(np.array(plot["weights"]), weights.T[rows], atol=1e-6)
    assert loaded.item_ids.raw[int(history[np.argmax(weights[0])])] in plot["history"]  # the top item's best support is drawn


def test_explain_plot_svg_unknown_user_and_bad_input(shop: tuple[Path, Path], tmp_path: Path, cli: Run) -> None:
    artifact, store = shop
    proc = cli("explain", "--artifact", artifact, "--store", store, "--user", "nobody", "--plot", tmp_path / "n.svg")
    assert proc.returncode == 0, proc.stderr
    assert "none" in proc.stdout and b"<svg" in (tmp_path / "n.svg").read_bytes()[:1000]
    for args, message in (
        (("--plot", tmp_path / "x.jpg"), ".png or .svg"),
        ((), "--item or --plot"),
        (("--plot", tmp_path / "x.png", "--store", tmp_path / "missing.sqlite"), "missing.sqlite"),
    ):
        line = one_error_line(cli("explain", "--artifact", artifact, "--user", "U00003", *args))
        assert message in line, (args, line)
