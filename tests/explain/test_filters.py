"""Grounding and safety filters: the adversarial sets, price agreement, and the regenerate/fallback pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whyrec.explain.aspects import AspectLexicon
from whyrec.explain.base import Reason, Reasoner, ReasonRequest, TrainingReviews
from whyrec.explain.filters import SAFETY_KINDS, check_safety, generate_grounded, ground
from whyrec.explain.template import TemplateReasoner

from .contract import BATTERY_LEXICON, battery_shop

DATA = Path(__file__).resolve().parents[1] / "data"

# Measured on the sets below when they were written: recall 62/62, precision 62/63 (the one false
# positive is the figurative "A cure for boredom"); floors a little under, so a regression fails.
MIN_RECALL = 0.95
MIN_PRECISION = 0.95
MIN_KIND_AGREEMENT = 0.95


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_adversarial_sets_precision_and_recall() -> None:
    bad, good = _read("safety_bad.jsonl"), _read("safety_good.jsonl")
    assert len(bad) >= 50 and len(good) >= 50
    caught = [bool(check_safety(r["text"], r["catalog"])) for r in bad]
    false_alarms = [r["text"] for r in good if check_safety(r["text"], r["catalog"])]
    recall = sum(caught) / len(bad)
    precision = sum(caught) / (sum(caught) + len(false_alarms))
    missed = [r["text"] for r, c in zip(bad, caught, strict=True) if not c]
    assert recall >= MIN_RECALL, f"recall {recall:.3f}; missed {missed}"
    assert precision >= MIN_PRECISION, f"precision {precision:.3f}; false alarms {false_alarms}"
    # the flags also name the right kind of problem
    agree = [sorted(f.split(":")[1] for f in check_safety(r["text"], r["catalog"])) == sorted(r["kinds"]) for r in bad]
    assert sum(agree) / len(bad) >= MIN_KIND_AGREEMENT


def test_every_kind_is_exercised_by_the_bad_set() -> None:
    kinds = {k for r in _read("safety_bad.jsonl") for k in r["kinds"]}
    assert kinds == set(SAFETY_KINDS)


@given(st.integers(min_value=1, max_value=99_999))
def test_the_catalog_price_is_never_flagged(cents: int) -> None:
    price = cents / 100
    for text in (f"Priced at ${price:.2f}, reviewers love it.", f"Yours for {price:.2f} dollars."):
        assert check_safety(text, {"price": price}) == []


@given(st.integers(min_value=1, max_value=99_999), st.integers(min_value=1, max_value=5_000))
def test_a_different_price_is_flagged(cents: int, off: int) -> None:
    price, claimed = cents / 100, (cents + off) / 100
    assert check_safety(f"Only ${claimed:.2f} today.", {"price": price}) == ["unsafe:price"]


def test_price_without_catalog_row_is_unbacked() -> None:
    assert check_safety("Yours for $12.", None) == ["unsafe:price"]
    assert check_safety("Yours for $12.", {"price": float("nan")}) == ["unsafe:price"]
    assert check_safety("Reviewers love the scent.", None) == []


def test_ground_flags_what_the_item_lacks_and_trims_evidence() -> None:
    lexicon = AspectLexicon(frozenset({"battery", "screen", "case"}))
    reason = Reason(3, 7, "The battery is great and the screen is bright.", ["battery"], {"item_aspects": ["battery", "case"]})
    checked = ground(reason, {"battery"}, lexicon)
    assert checked.aspects == ["battery", "screen"]  # the lexicon found the aspect the reasoner did not report
    assert checked.flags == ["ungrounded:screen"]
    assert checked.evidence["item_aspects"] == ["battery"]  # "case" is not the item's: not evidence
    assert ground(reason, {"battery", "screen"}, lexicon).flags == []
    assert reason.flags == []  # the input is not modified


class _Scripted(Reasoner):
    """A stand-in generator: a fixed text per item, or per (item, hint) when asked with a hint."""

    name = "scripted"

    def __init__(self, texts: dict, aspects: dict) -> None:
        super().__init__()
        self.texts, self.aspects, self.calls = texts, aspects, []

    def _fit_reviews(self, reviews: TrainingReviews) -> None:
        pass

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        self.calls.append(list(requests))
        out = []
        for r in requests:
            key = (r.item, r.hint) if (r.item, r.hint) in self.texts else r.item
            out.append(Reason(r.user, r.item, self.texts[key], self.aspects[key], {"item_aspects": self.aspects[key]}))
        return out

    def item_aspects(self) -> dict[int, list[str]]:
        return {}

    def _restore(self, path, meta, parts) -> None:
        raise NotImplementedError


@pytest.fixture(scope="module")
def fallback() -> TemplateReasoner:
    return TemplateReasoner().fit(battery_shop())


def test_pipeline_keeps_good_retries_with_hint_then_falls_back(fallback: TemplateReasoner) -> None:
    lexicon = AspectLexicon(frozenset({"battery", "screen", "cable"}))
    have = {0: ["battery"], 1: ["battery"], 2: ["battery"]}
    gen = _Scripted(
        texts={
            0: "Great battery.",
            1: "Bright screen.",
            (1, "battery"): "The battery is great.",
            2: "Nice cable.",
            (2, "battery"): "Nice cable.",
        },
        aspects={0: ["battery"], 1: ["screen"], (1, "battery"): ["battery"], 2: ["cable"], (2, "battery"): ["cable"]},
    )
    requests = [ReasonRequest(0, 0), ReasonRequest(0, 1), ReasonRequest(0, 2)]
    out = generate_grounded(gen, fallback, requests, have, lexicon=lexicon)
    assert [r.text for r in out[:2]] == ["Great battery.", "The battery is great."]
    assert out[0].evidence["generated_by"] == gen.name and out[1].evidence["hint"] == "battery"
    assert out[2].evidence["generated_by"] == "template" and "battery" in out[2].text.lower()
    assert all(r.flags == [] for r in out)
    assert [len(c) for c in gen.calls] == [3, 2]  # one pass, then one retry of the two failures only


def test_a_served_list_is_kept_distinct_from_its_cached_reasons(fallback: TemplateReasoner) -> None:
    """A top-k partly found in the cache (the shopper's events moved it) is completed by reasons that do not repeat
    the cached ones: a repeat is retried about an aspect the list has not named, else the fallback writes it, else it
    stays (true, if repeated); without `listed` (the research protocol) repeats stand."""
    lexicon = AspectLexicon(frozenset({"battery", "screen", "cable"}))
    have = {0: ["battery", "screen"], 1: ["battery"], 2: ["battery", "cable"]}
    gen = _Scripted(
        texts={0: "The battery is great.", 1: "The battery is great.", 2: "The battery is great.",
               (0, "screen"): "The screen is sharp.", (2, "cable"): "The battery is great."},
        aspects={0: ["battery"], 1: ["battery"], 2: ["battery"], (0, "screen"): ["screen"], (2, "cable"): ["battery"]},
    )  # fmt: skip
    requests = [ReasonRequest(0, 0), ReasonRequest(0, 1), ReasonRequest(0, 2)]
    listed = ["The battery is great."]  # already shown, from the cache
    out = generate_grounded(gen, fallback, requests, have, lexicon=lexicon, listed=listed)
    assert out[0].text == "The screen is sharp." and out[0].evidence["hint"] == "screen"  # about what the list lacks
    assert out[1].evidence["generated_by"] == "template" and out[2].evidence["generated_by"] == "template"
    assert len({*listed, *(r.text for r in out)}) == 4 and all(r.flags == [] for r in out)
    assert [r.text for r in generate_grounded(gen, fallback, requests, have, lexicon=lexicon)] == [listed[0]] * 3
    # nothing distinct to be had: kept as it is, not withheld
    kept = generate_grounded(gen, None, requests[1:2], have, lexicon=lexicon, listed=listed)
    assert [(r.text, r.flags) for r in kept] == [("The battery is great.", [])]


def test_pipeline_replaces_unsafe_reasons(fallback: TemplateReasoner) -> None:
    gen = _Scripted(texts={0: "Only $5 — the battery cures headaches!"}, aspects={0: ["battery"]})
    out = generate_grounded(gen, fallback, [ReasonRequest(1, 0)], {0: ["battery"]}, BATTERY_LEXICON, catalog={0: {"price": 20.0}})
    assert out[0].evidence["generated_by"] == "template"
    assert out[0].flags == [] and "$" not in out[0].text


def test_a_retry_is_hinted_only_with_an_aspect_the_items_reviews_praise(fallback: TemplateReasoner) -> None:
    """An aspect the reviews fault ("the bacteria" a brush holder fails to kill) is the item's for grounding, but a retry
    asked to write about it would praise it: the retry takes the first praised aspect, or falls back when none is."""
    lexicon = AspectLexicon(frozenset({"battery", "screen", "cable"}))
    gen = _Scripted(
        texts={0: "Nice cable.", (0, "battery"): "The battery is great.", (0, "screen"): "The screen is great."},
        aspects={0: ["cable"], (0, "battery"): ["battery"], (0, "screen"): ["screen"]},
    )
    have = {0: ["screen", "battery"]}  # the screen first: alphabetically, and where the caller does not order by praise
    out = generate_grounded(gen, fallback, [ReasonRequest(0, 0)], have, lexicon=lexicon, praised={0: ["battery"]})
    assert out[0].text == "The battery is great." and out[0].evidence["hint"] == "battery"
    out = generate_grounded(gen, fallback, [ReasonRequest(0, 0)], have, lexicon=lexicon, praised={0: []})
    assert out[0].evidence["generated_by"] == "template"
