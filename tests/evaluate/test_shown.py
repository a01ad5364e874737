"""Shown-reason checks: each share on hand-built reasons whose answer is known, and `whyrec evaluate --json`'s block."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_helpers import one_json
from whyrec.evaluate.shown import SHOWN_KEYS, ShownReason, _date_numbers, item_evidence, shown_checks, user_mentions
from whyrec.explain.aspects import AspectLexicon

LEXICON = AspectLexicon(frozenset({"battery", "screen", "price"}))
DICTIONARY = frozenset({"you", "the", "this", "one", "has", "a", "great", "battery", "lasts", "hours", "reviewers", "love",
                        "its", "screen", "often", "praise", "price", "i", "my", "is", "not", "worth", "it", "for", "many", "shoppers",
                        "say", "who", "looked", "at", "also", "as", "did", "viewed"})  # fmt: skip
ITEM = item_evidence(
    ["The battery lasts 10 hours.", "Great battery, bright screen.", "Love the screen."],
    ["Zappo phone", "Phones"],
    LEXICON,
)


def _shown(text: str, aspects: tuple[str, ...] = (), user: int = 0, item: int = 0, **kw: bool | None) -> ShownReason:
    flags = (kw.get("lm", True), kw.get("grounded", True), kw.get("raw_grounded", True))
    cited, dated = (frozenset(kw.get(k, ())) for k in ("cited", "dated"))  # type: ignore[arg-type]
    return ShownReason(user, item, text, aspects, *flags, cited=cited, dated=dated)  # type: ignore[arg-type]


def _check(*shown: ShownReason, mentions: dict | None = None) -> dict:
    return shown_checks(shown, {0: ITEM, 1: ITEM}, mentions or {}, DICTIONARY)


def test_item_evidence_counts_reviews_not_mentions() -> None:
    assert ITEM.review_mentions == {"battery": 2, "screen": 2}
    assert "10" in ITEM.numbers and "zappo" in ITEM.words


def test_each_check_flags_its_own_failure() -> None:
    clean = _shown("You praise the battery: this one has a great battery.", ("battery",))
    assert _check(clean) | {"n": 0} == {
        "voice": 0.0, "positive": 0.0, "words": 0.0, "facts": 0.0, "support": 0.0, "grounded": 1.0,
        "raw_grounded": 1.0, "specific": 1.0, "personal": 0.0, "lm_share": 1.0, "n": 0,
    }  # fmt: skip
    assert _check(_shown("I love my battery."))["voice"] == 1.0
    assert _check(_shown("This is not worth the price."))["positive"] == 1.0
    assert _check(_shown("This one has a frobnicating battery."))["words"] == 1.0
    assert _check(_shown("This one has a Zappo battery."))["words"] == 0.0  # the catalog says Zappo
    assert _check(_shown("You'll love Zappo's battery."))["words"] == 0.0  # and so its possessive
    assert _check(_shown("You'll love frobnik's battery."))["words"] == 1.0
    assert _check(_shown("The battery lasts 12 hours."))["facts"] == 1.0
    assert _check(_shown("The battery lasts 10 hours."))["facts"] == 0.0
    # the date of the shopper's own review the reason cites is stated by that review; any other date is not
    dated = "The battery is great — the same was praised in the item you reviewed on 4 July 2016."
    assert _check(_shown(dated, dated=_date_numbers("2016-07-04")))["facts"] == 0.0
    assert _check(_shown(dated, dated=_date_numbers("2016-07-05")))["facts"] == 1.0
    assert _check(_shown(dated))["facts"] == 1.0
    assert _check(_shown("Reviewers love its price.", ("price",)))["support"] == 1.0  # no review mentions the price
    assert _check(_shown("Reviewers love its screen.", ("screen",)))["support"] == 0.0  # two reviews do
    # the crowd is credited with the aspects of its own sentence only
    assert _check(_shown("Many shoppers say the price is great.", ("price",)))["support"] == 1.0
    co_view = "The price is great. Many shoppers who looked at the Frobnik Pack, as you did, also viewed this one."
    assert _check(_shown(co_view, ("price",), cited={"frobnik", "pack"}))["support"] == 0.0
    # a word quoted from the title of an item the reason cites is no invented word; elsewhere it is
    assert _check(_shown(co_view, ("price",), cited={"frobnik", "pack"}))["words"] == 0.0
    assert _check(_shown(co_view, ("price",)))["words"] == 1.0
    habit = _shown("You often praise the screen.", ("screen",))
    assert _check(habit, mentions={0: {"screen": 1}})["support"] == 1.0
    assert _check(habit, mentions={0: {"screen": 2}})["support"] == 0.0
    unchecked = _check(_shown("x", grounded=False, raw_grounded=False, lm=False))
    assert (unchecked["grounded"], unchecked["raw_grounded"], unchecked["lm_share"]) == (0.0, 0.0, 0.0)
    # a declined draft (the generator had nothing to write from) is no ungrounded draft; its fallback costs lm_share
    declined = _check(_shown("x", raw_grounded=None, lm=False), _shown("y", raw_grounded=False), clean)
    assert (declined["raw_grounded"], declined["lm_share"]) == (0.5, pytest.approx(2 / 3))


def test_often_needs_two_reviews_not_two_listings_of_one() -> None:
    """A review Amazon files under two variants of one phone (same text and time; the two pages show the same reviews)
    is one mention of its aspects; the same words written later are a second review. Shoppers not asked about are left
    out."""
    import pandas as pd

    reviews = pd.DataFrame(
        {
            "user": [0, 0, 1, 1, 2, 2],
            "item": [3, 4, 3, 4, 3, 4],
            "text": ["Love the screen.", "Love the screen.", "Great screen.", "Great screen.", "Fine.", "Fine."],
            "timestamp": [10, 10, 10, 99, 10, 10],
        }
    )
    mentions = user_mentions(reviews, {0, 1}, LEXICON)
    assert mentions == {0: {"screen": 1}, 1: {"screen": 2}}
    habit = _shown("You often praise the screen.", ("screen",))
    assert _check(habit, mentions=mentions)["support"] == 1.0


def test_repetition_within_a_list_and_across_shoppers() -> None:
    same = "This one has a great battery."
    one_list = [_shown(same, user=0, item=i) for i in range(4)]
    assert _check(*one_list)["specific"] == 0.25
    across = [_shown(same, user=u, item=0) for u in range(3)] + [_shown("Other.", user=3, item=0)]
    assert _check(*across)["personal"] == pytest.approx(3 / 6)  # 3 of the 6 shopper pairs on item 0 match


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1), st.sampled_from(["A.", "B.", "C."])), min_size=1))
def test_shares_are_shares(rows: list[tuple[int, int, str]]) -> None:
    out = _check(*[_shown(t, user=u, item=i) for u, i, t in rows])
    assert out["n"] == len(rows)
    assert all(0.0 <= out[k] <= 1.0 for k in SHOWN_KEYS if k in out and k != "n")
    assert out["specific"] >= 1 / len(rows)


def test_evaluate_json_prints_the_shown_block(tmp_path: Path, cli, english_words: Path) -> None:
    store, art = tmp_path / "shop.sqlite", tmp_path / "art"
    one_json(cli("ingest", "--format", "sample", "--store", store, "--json"))
    one_json(cli("train", "--store", store, "--recommender", "pop", "--reasoner", "template", "--out", art, "--json"))
    shown = one_json(cli("evaluate", "--artifact", art, "--shown-users", "20", "--json"))["shown"]
    assert set(shown) == set(SHOWN_KEYS)
    assert shown["n"] > 100 and shown["grounded"] == 1.0 and shown["voice"] == 0.0 and shown["lm_share"] == 0.0
    assert "shown" not in one_json(cli("evaluate", "--artifact", art, "--shown-users", "0", "--json"))


@pytest.fixture(scope="module")
def sample_artifact(tmp_path_factory: pytest.TempPathFactory):
    from whyrec.artifact import Artifact
    from whyrec.config import RunConfig
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store

    store = tmp_path_factory.mktemp("shown") / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
        shop = db.read_dataset(name="shop")
    return Artifact.train(shop, RunConfig(recommender="pop", reasoner="template"), store=str(store)), shop


def test_collect_shown_serves_the_shop_as_it_stood_before_the_held_out_reviews(
    sample_artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    from whyrec.artifact import reasons_split
    from whyrec.evaluate.shown import collect_shown
    from whyrec.serve.reasons import ShopFacts

    artifact, shop = sample_artifact
    read: list = []
    original = ShopFacts.read.__func__
    monkeypatch.setattr(ShopFacts, "read", classmethod(lambda cls, s, ids, lex: read.append(s) or original(cls, s, ids, lex)))
    out = collect_shown(artifact, shop, users=5, records=20, dictionary=frozenset())
    rows = lambda reviews: set(zip(reviews["user"], reviews["item"], reviews["text"], strict=True))  # noqa: E731
    held = rows(shop.reviews.iloc[reasons_split(shop, artifact.config.seed).test])
    assert out["n"] > 0 and held and read
    # the facts a reason is hinted from and checked against never hold the review its relevance is scored by
    assert all(held.isdisjoint(rows(s.reviews)) and len(s.reviews) == len(shop.reviews) - len(held) for s in read)


def test_relevance_is_scored_on_the_same_reviews_whatever_the_reasoners_lexicon(
    sample_artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    import whyrec.evaluate.shown as shown
    from whyrec.artifact import reasons_split
    from whyrec.explain.template import TemplateReasoner

    artifact, shop = sample_artifact
    split = reasons_split(shop, artifact.config.seed)
    scored: list[tuple[list[str], list[str]]] = []
    original = shown.relevance
    monkeypatch.setattr(
        shown, "relevance", lambda t, f, r, lex, e: scored.append((list(f), list(r))) or original(t, f, r, lex, e)
    )
    full = TemplateReasoner().fit(shop, split)
    small = AspectLexicon(frozenset(sorted(full.lexicon.features)[::2]))
    with monkeypatch.context() as fitting:  # a reasoner fitted with half the aspects: its own held-out records differ
        fitting.setattr(AspectLexicon, "build", classmethod(lambda cls, texts, min_count=3, authors=None: small))
        half = TemplateReasoner().fit(shop, split)
    for reasoner in (full, half):
        artifact.reasoner = reasoner
        shown.collect_shown(artifact, shop, users=3, records=40, dictionary=frozenset())
    assert len(scored) == 2 and scored[0][0] and scored[0] == scored[1]


def test_held_out_reasons_are_the_records_relevance_is_scored_on(sample_artifact, monkeypatch: pytest.MonkeyPatch) -> None:
    """`held_out_reasons` gives, record by record, the reasons, aspects and reviews `collect_shown` scores, so two
    artifacts can be paired on them."""
    import whyrec.evaluate.shown as shown

    artifact, shop = sample_artifact
    scored: list[tuple[list[str], list[str], list[str]]] = []
    original = shown.relevance
    monkeypatch.setattr(
        shown, "relevance", lambda t, f, r, lex, e: scored.append((list(t), list(f), list(r))) or original(t, f, r, lex, e)
    )
    shown.collect_shown(artifact, shop, users=3, records=40, dictionary=frozenset())
    lexicon, rows = shown.held_out_reasons(artifact, shop, records=40)
    assert rows and scored == [([r.reason for r in rows], [r.feature for r in rows], [r.reference for r in rows])]
    assert all(r.feature in lexicon.features for r in rows)
