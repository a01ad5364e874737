"""The contract every Reasoner keeps, run on each model (STYLE 4).

A model's test class inherits `ReasonerContract` and only says which registered reasoner it
tests and how to build it; test_registry.py fails for a registered name that no such class tests:

    class TestPeter(ReasonerContract):
        model = "peter"

        def make(self) -> Reasoner:
            return Peter(PeterConfig(epochs=30, emsize=32))

The known answer: a small shop of power banks whose reviews judge one aspect only, the battery
("The battery is great.", "I love the battery."), so any reasoner that learned anything from
the reviews must talk about the battery, for known and unknown users alike.

What every reasoner promises:
- `generate` returns one Reason per request, in order, with `user`/`item` copied from it;
  an empty request list gives an empty list; output is deterministic.
- `reason.aspects` lists the lexicon features the text names; `reason.evidence["item_aspects"]`
  lists the item's aspects (from its training reviews or catalog) the reason rests on. After the
  grounding filter (`filters.generate_grounded`) every named aspect is among them.
- save(dir) writes `dir/config.json` naming the model, so `registry.load_reasoner(dir)` restores
  it; the loaded model writes the same reasons for the same requests.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from whyrec.data.schema import Dataset, IdMap
from whyrec.data.split import Split, ratio
from whyrec.explain.aspects import AspectLexicon
from whyrec.explain.base import Reason, Reasoner, ReasonRequest
from whyrec.explain.filters import generate_grounded
from whyrec.explain.registry import get_reasoner_class, load_reasoner
from whyrec.explain.targets import item_aspect_sets
from whyrec.explain.template import TemplateReasoner

N_USERS = 8
N_ITEMS = 6
ITEMS_PER_USER = 5

# Every sentence judges the battery; a few add plain words so there is something to learn around it.
BATTERY_REVIEWS = (
    "The battery is great.",
    "I love the battery.",
    "Great battery, it lasts all day.",
    "The battery is excellent and charges my phone twice.",
    "Amazing battery!",
    "The battery works well on long trips.",
    "Nice battery for the price I paid.",
    "The battery is solid.",
)
BATTERY_LEXICON = AspectLexicon(frozenset({"battery"}))


def battery_shop() -> Dataset:
    """N_USERS users each reviewing ITEMS_PER_USER of N_ITEMS power banks, every review about the battery."""
    rows = []
    for u in range(N_USERS):
        for k in range(ITEMS_PER_USER):
            item = (u + k) % N_ITEMS
            text = BATTERY_REVIEWS[(u * 3 + k) % len(BATTERY_REVIEWS)]
            rows.append(
                {
                    "user": u,
                    "item": item,
                    "rating": 4.0 + (u + k) % 2,
                    "text": text,
                    "timestamp": 1_600_000_000 + 3600 * len(rows),
                }
            )
    reviews = pd.DataFrame(rows)
    inter = reviews.assign(event="rating")[["user", "item", "timestamp", "event", "rating"]]
    catalog = pd.DataFrame(
        [
            {"item": i, "title": f"Power bank {10 + 5 * i}000 mAh", "category": "Electronics > Chargers", "brand": "Voltix",
             "price": 20.0 + i, "description": "A portable charger for phones and tablets."}
            for i in range(N_ITEMS)
        ]
    )  # fmt: skip
    return Dataset(
        interactions=inter,
        user_ids=IdMap.from_raw(f"u{u}" for u in range(N_USERS)),
        item_ids=IdMap.from_raw(f"i{i}" for i in range(N_ITEMS)),
        reviews=reviews,
        items=catalog,
        name="battery-shop",
    )


class ReasonerContract:
    """Mixin: subclasses set `model` and define `make()`; every test here then runs on that model."""

    model: ClassVar[str]  # the name in REASONERS of the reasoner make() builds

    def make(self) -> Reasoner:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def shop(self) -> Dataset:
        return battery_shop()

    @pytest.fixture(scope="class")
    def split(self, shop: Dataset) -> Split:
        return ratio(shop, seed=0, table="reviews")

    @pytest.fixture(scope="class")
    def fitted(self, shop: Dataset, split: Split) -> Reasoner:
        return self.make().fit(shop, split)

    @pytest.fixture(scope="class")
    def requests(self, shop: Dataset) -> list[ReasonRequest]:
        pairs = shop.reviews[["user", "item"]].to_numpy()
        order = np.random.default_rng(1).permutation(len(pairs))  # not grouped by user: order must be kept
        return [ReasonRequest(int(u), int(i)) for u, i in pairs[order]]

    def test_builds_the_registered_model(self, fitted: Reasoner) -> None:
        assert type(fitted) is get_reasoner_class(self.model)

    def test_reasons_mention_the_only_aspect(self, fitted: Reasoner, requests: list[ReasonRequest]) -> None:
        reasons = fitted.generate(requests)
        missing = [r.text for r in reasons if "battery" not in r.text.lower()]
        assert not missing, f"{len(missing)}/{len(reasons)} reasons do not mention the battery, e.g. {missing[:3]}"
        assert all("battery" in r.aspects for r in reasons)

    def test_one_reason_per_request_in_order(self, fitted: Reasoner, requests: list[ReasonRequest]) -> None:
        asked = [*requests[:7], requests[0]]  # a repeated request is answered again, in place
        reasons = fitted.generate(asked)
        assert len(reasons) == len(asked)
        assert [(r.user, r.item) for r in reasons] == [(q.user, q.item) for q in asked]
        assert all(isinstance(r, Reason) and r.text.strip() for r in reasons)
        assert reasons[0].text == reasons[-1].text

    def test_evidence_lists_item_aspects(self, fitted: Reasoner, requests: list[ReasonRequest]) -> None:
        for r in fitted.generate(requests[:10]):
            assert isinstance(r.evidence.get("item_aspects"), list)
            assert all(isinstance(a, str) for a in r.evidence["item_aspects"])

    def test_named_aspects_are_grounded_after_filtering(
        self, fitted: Reasoner, shop: Dataset, split: Split, requests: list[ReasonRequest]
    ) -> None:
        have = item_aspect_sets(shop, BATTERY_LEXICON, rows=split.train)
        fallback = TemplateReasoner().fit(shop, split)
        reasons = generate_grounded(fitted, fallback, requests, have, lexicon=BATTERY_LEXICON)
        assert len(reasons) == len(requests)
        for r in reasons:
            assert set(r.aspects) <= set(r.evidence["item_aspects"]), (r.text, r.aspects, r.evidence)
            assert set(r.evidence["item_aspects"]) <= have[r.item]
            assert not [f for f in r.flags if f.startswith("ungrounded:")]

    def test_unknown_user_gets_an_item_only_reason(self, fitted: Reasoner) -> None:
        reasons = fitted.generate([ReasonRequest(-1, 2), ReasonRequest(-1, 5)])
        assert [(r.user, r.item) for r in reasons] == [(-1, 2), (-1, 5)]
        for r in reasons:
            assert "battery" in r.text.lower()
            assert not r.evidence.get("history_items")  # nothing of an unknown user's history to cite

    def test_save_load_same_output(self, fitted: Reasoner, requests: list[ReasonRequest], tmp_path: Path) -> None:
        fitted.save(tmp_path / "reasoner")
        assert (tmp_path / "reasoner" / "config.json").exists()
        loaded = load_reasoner(tmp_path / "reasoner")
        assert type(loaded) is type(fitted)
        asked = [*requests[:12], ReasonRequest(-1, 3)]
        before, after = fitted.generate(asked), loaded.generate(asked)
        assert [(r.text, r.aspects) for r in after] == [(r.text, r.aspects) for r in before]
        assert [r.evidence for r in after] == [r.evidence for r in before]

    def test_deterministic(self, fitted: Reasoner, requests: list[ReasonRequest]) -> None:
        assert [r.text for r in fitted.generate(requests)] == [r.text for r in fitted.generate(requests)]

    def test_empty_request_list(self, fitted: Reasoner) -> None:
        assert fitted.generate([]) == []


def contract_classes() -> list[type[ReasonerContract]]:
    """Every ReasonerContract subclass in this folder's test modules, imported here so a partial run sees them all."""
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        import_module(f"{__package__}.{path.stem}")
    return ReasonerContract.__subclasses__()
