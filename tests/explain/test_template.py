"""template: the shared contract, plus its own known answers on a small shop and on real reviews."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whyrec.artifact import Artifact
from whyrec.cli import main
from whyrec.config import RunConfig
from whyrec.data.loaders import load
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.split import ratio
from whyrec.explain.base import Reason, Reasoner, ReasonRequest
from whyrec.explain.targets import item_aspect_sets
from whyrec.explain.template import TemplateReasoner

from .contract import ReasonerContract, battery_shop


class TestTemplateContract(ReasonerContract):
    model = "template"

    def make(self) -> Reasoner:
        return TemplateReasoner()


@pytest.fixture(scope="module")
def fitted_shop() -> tuple[Dataset, TemplateReasoner]:
    shop = battery_shop()
    return shop, TemplateReasoner().fit(shop)


def test_personal_reason_cites_the_users_history(fitted_shop: tuple[Dataset, TemplateReasoner]) -> None:
    shop, model = fitted_shop
    [reason] = model.generate([ReasonRequest(0, 5)])  # user 0 reviewed items 0-4, all praising the battery
    assert reason.evidence["kind"] == "personal" and reason.evidence["user_reviews"] == 5
    assert reason.text.startswith(
        ("You often praise", "You've praised the battery in five", "Your reviews keep", "You often call")
    )
    mine = set(shop.reviews.loc[shop.reviews["user"] == 0, "item"])
    assert reason.evidence["history_items"] and set(reason.evidence["history_items"]) <= mine
    assert 0 < reason.score <= 1


def test_item_without_reviews_falls_back_to_category_then_brand() -> None:
    shop = battery_shop()
    unreviewed = shop.items.assign(item=shop.items["item"] + shop.n_items)  # six more power banks, no reviews
    catalog = pd.concat([shop.items, unreviewed])
    catalog.loc[catalog["item"] == 11, "category"] = None
    bigger = Dataset(
        shop.interactions, shop.user_ids, IdMap.from_raw([*shop.item_ids.raw, *(f"n{i}" for i in range(6))]),
        reviews=shop.reviews, items=catalog,
    )  # fmt: skip
    model = TemplateReasoner().fit(bigger)
    popular, unpopular, no_category = model.generate([ReasonRequest(0, 2), ReasonRequest(0, 8), ReasonRequest(0, 11)])
    assert popular.evidence["kind"] == "personal"
    mine = "You've reviewed five items from Voltix."  # user 0 reviewed items 0-4
    assert unpopular.text == f"From Voltix. {mine}" and unpopular.aspects == []  # unreviewed: not "popular" in its category
    assert no_category.text == f"From Voltix. {mine}" and set(no_category.evidence["history_items"]) <= {0, 1, 2, 3, 4}


def test_real_reviews_give_grounded_personal_reasons(datasets_dir: Path) -> None:
    folder = datasets_dir / "amazon2018-magazine-subscriptions"
    shop = load(
        "amazon",
        [folder / "Magazine_Subscriptions_5.json.gz"],
        meta=[folder / "meta_Magazine_Subscriptions.json.gz"],
        on_error="skip",
    ).dataset
    split = ratio(shop, seed=1, table="reviews")
    model = TemplateReasoner().fit(shop, split)
    test = shop.reviews.iloc[split.test]
    reasons = model.generate([ReasonRequest(int(u), int(i)) for u, i in test[["user", "item"]].itertuples(index=False)])
    have = item_aspect_sets(shop, model.lexicon, rows=split.train)
    assert all(set(r.aspects) <= have[r.item] for r in reasons)  # grounded by construction
    kinds = Counter(r.evidence["kind"] for r in reasons)
    assert kinds["personal"] > 0 and kinds["history"] > 0 and kinds["item"] + kinds["history"] > kinds["personal"]
    assert len({r.text for r in reasons}) > 20


# ---- whyrec explain -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shop = battery_shop()
    artifact = Artifact.train(shop, RunConfig(recommender="pop", reasoner="template"))
    artifact.reasoner = TemplateReasoner().fit(shop)
    return artifact.save(tmp_path_factory.mktemp("artifact"))


def _explain(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["whyrec", "explain", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wording_names_no_aspect_but_the_chosen_one(datasets_dir: Path) -> None:
    """All Beauty's lexicon holds "care" (hair care, skin care): "You care about the scent" would name it."""
    shop = load("amazon", [datasets_dir / "amazon2018-all-beauty-5core" / "All_Beauty_5.json.gz"], on_error="skip").dataset
    split = ratio(shop, seed=1, table="reviews")
    model = TemplateReasoner().fit(shop, split)
    assert "care" in model.lexicon.features
    test = shop.reviews.iloc[split.test]
    reasons = model.generate([ReasonRequest(int(u), int(i)) for u, i in test[["user", "item"]].itertuples(index=False)])
    assert all(model.lexicon.mentions(r.text) == r.aspects for r in reasons if r.aspects), [r.text for r in reasons][:5]
    assert sum(r.evidence["kind"] == "personal" for r in reasons) > 10  # personal wordings remain, minus the clashing one


def test_cli_explain_json(artifact_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _explain(["--artifact", str(artifact_dir), "--user", "u0", "--item", "i5", "--json"], monkeypatch, capsys)
    assert code == 0, err
    [line] = out.splitlines()
    payload = json.loads(line)
    assert {"user", "item", "reason", "aspects", "evidence", "flags", "score"} <= set(payload)
    assert (payload["user"], payload["item"]) == ("u0", "i5")
    assert "battery" in payload["reason"].lower() and payload["aspects"] == ["battery"]
    assert payload["flags"] == []
    assert payload["evidence"]["history_items"] and all(
        h["item"].startswith("i") for h in payload["evidence"]["history_items"]
    )  # raw ids


def test_cli_explain_unknown_user_and_item(
    artifact_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _explain(["--artifact", str(artifact_dir), "--user", "stranger", "--item", "i2"], monkeypatch, capsys)
    assert code == 0 and "battery" in out.lower() and "stranger -> i2" in out
    code, out, err = _explain(["--artifact", str(artifact_dir), "--user", "u0", "--item", "nope"], monkeypatch, capsys)
    assert code == 2 and out == "" and "nope" in err


def test_cli_train_fits_and_scores_the_reasoner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], english_words: Path
) -> None:
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store

    with Store(tmp_path / "shop.sqlite") as db:
        db.write_dataset(generate_sample(seed=0))
    argv = ["whyrec", "train", "--store", str(tmp_path / "shop.sqlite"), "--recommender", "pop", "--reasoner", "template"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "art"), "--json"])
    main()
    payload = json.loads(capsys.readouterr().out)
    assert payload["reasoner"] == "template"
    text = Artifact.load(tmp_path / "art").metrics["text"]
    assert text["grounding"] == 1.0 and text["n"] > 10 and 0 < text["rougeL_f"] < 100
    # `whyrec evaluate` reports them too: every DESIGN.md text key in --json, and a line of them for humans.
    monkeypatch.setattr(sys, "argv", ["whyrec", "evaluate", "--artifact", str(tmp_path / "art"), "--json"])
    main()
    shown = json.loads(capsys.readouterr().out)["text"]
    for key in ("bleu1", "bleu4", "rouge1_f", "rouge2_f", "rougeL_f", "usr", "fmr", "fcr", "div", "distinct2", "grounding"):
        assert shown[key] == text[key]
    monkeypatch.setattr(sys, "argv", ["whyrec", "evaluate", "--artifact", str(tmp_path / "art")])
    main()
    human = capsys.readouterr().out
    assert f"rougeL_f {text['rougeL_f']:.4f}" in human and "grounding 1.0000" in human and f"({text['n']} test reviews)" in human


# ---- what the wording may claim -------------------------------------------------------------------


def _shop(reviews: list[tuple[int, int, str]], category: str = "Electronics > Chargers", brands: tuple[str, ...] = ()) -> Dataset:
    """A shop from (user, item, review text) rows; every item in `category`, item i from brands[i] when given."""
    frame = pd.DataFrame(
        [
            {"user": u, "item": i, "rating": 5.0, "text": t, "timestamp": 1_600_000_000 + 60 * k}
            for k, (u, i, t) in enumerate(reviews)
        ]
    )
    n_users, n_items = int(frame["user"].max()) + 1, int(frame["item"].max()) + 1
    catalog = pd.DataFrame(
        [{"item": i, "title": f"Item {i}", "category": category, "brand": brands[i] if brands else None, "price": 10.0,
          "description": None} for i in range(n_items)]
    )  # fmt: skip
    return Dataset(
        frame.assign(event="rating")[["user", "item", "timestamp", "event", "rating"]],
        IdMap.from_raw(f"u{u}" for u in range(n_users)),
        IdMap.from_raw(f"i{i}" for i in range(n_items)),
        reviews=frame,
        items=catalog,
    )


PLURAL = re.compile(r"\b(reviewers|shoppers)\b", re.IGNORECASE)
OFTEN = re.compile(r"\b(often|usually|keep)\b", re.IGNORECASE)


def test_plural_and_often_only_from_two_or_more_reviews() -> None:
    rows = [
        (0, 0, "The battery is great."),  # item 0: one review praises the battery
        (1, 1, "The battery is great."), (2, 1, "Great battery."), (3, 1, "The battery is excellent."),  # item 1: three
        (4, 2, "The battery is solid."), (4, 3, "I love the battery."),  # user 4 praises it twice
        (5, 2, "Nice battery."),  # user 5 once
        (6, 4, "The battery is great."), (7, 4, "Great battery!"),
    ]  # fmt: skip
    model = TemplateReasoner().fit(_shop(rows))
    requests = [ReasonRequest(u, i) for u in range(8) for i in range(5)]
    reasons = model.generate(requests)
    for r in reasons:
        item = model.items[r.item]["battery"].reviews
        assert not (PLURAL.search(r.text) and item < 2), (r.text, item)
        assert r.evidence["item_reviews"] == item
        mine = model.users.get(r.user, {}).get("battery")
        assert not (OFTEN.search(r.text) and (mine is None or mine.reviews < 2)), r.text
    one = [r.text for r in reasons if r.item == 0]
    assert one and all(re.search(r"\b(one reviewer|a reviewer)\b", t, re.IGNORECASE) for t in one)
    assert any(PLURAL.search(r.text) for r in reasons if r.item == 1)
    assert any(OFTEN.search(r.text) or "two of your reviews" in r.text for r in reasons if r.user == 4 and r.item in (0, 1, 4))


def test_often_not_from_one_review_filed_under_variants() -> None:
    """Amazon files one review under every variant of a product: user 4's one review, shown on items 2 and 3 (same text,
    same time), is one mention, so no "often"; each listing keeps the copy as one of its own reviews."""
    rows = [(4, 2, "The battery is solid."), (4, 3, "The battery is solid."), (5, 2, "Nice battery."),
            (1, 1, "The battery is great."), (2, 1, "Great battery."), (6, 4, "The battery is great.")]  # fmt: skip
    shop = _shop(rows)
    shop.reviews.loc[1, "timestamp"] = shop.reviews.loc[0, "timestamp"]
    model = TemplateReasoner().fit(shop)
    assert model.users[4]["battery"].reviews == 1 and model.reviewed[4] == [2]
    assert model.items[3]["battery"].reviews == 1 and model.items[2]["battery"].reviews == 2
    reasons = model.generate([ReasonRequest(4, i) for i in (0, 1, 4)])
    assert reasons and not any(OFTEN.search(r.text) or "two of your reviews" in r.text for r in reasons), reasons
    # written a day apart, the same words are two reviews
    shop.reviews.loc[1, "timestamp"] += 86_400
    assert TemplateReasoner().fit(shop).users[4]["battery"].reviews == 2


def test_a_review_filed_under_variants_or_its_author_again_is_one_voice_towards_the_lexicon() -> None:
    """A feature needs `min_aspect_count` (3) reviewers: one review Amazon files under three variants (same author, text
    and time) is one, so its "fresh charge" is no aspect, while "battery", praised by three reviewers, is."""
    charge = "It is about the same as my old one with a fresh charge."
    rows = [(0, 0, charge), (0, 1, charge), (0, 2, charge),
            (1, 0, "The battery is great."), (2, 1, "Nice battery."), (3, 2, "Good battery.")]  # fmt: skip
    shop = _shop(rows)
    shop.reviews.loc[1:2, "timestamp"] = shop.reviews.loc[0, "timestamp"]
    model = TemplateReasoner().fit(shop)
    assert model.config.min_aspect_count == 3 and model.lexicon.features == {"battery"}
    # written a day apart, the same words are three reviews, yet of one reviewer: still one voice, no aspect
    shop.reviews.loc[1:2, "timestamp"] += 86_400 * np.array([1, 2])
    assert TemplateReasoner().fit(shop).lexicon.features == {"battery"}
    # three reviewers who each write it make it an aspect
    rows[1:3] = [(4, 1, charge), (5, 2, charge)]
    assert TemplateReasoner().fit(_shop(rows)).lexicon.features == {"battery", "charge"}


def test_a_category_is_named_as_a_shopper_calls_its_items_never_as_its_path() -> None:
    """An item with no aspect to cite is "popular among power banks", the path's part that is the plural of what its
    title ends in, never "popular in Electronics > Power > Power Banks"; no category is named where no part is one
    ("Women" names a magazine's readers): the brand alone."""
    rows = [(u, i, "Bought it for my trip.") for u in range(4) for i in range(3)]
    shop = _shop(rows, category="Electronics > Power > Power Banks", brands=("Voltix", "Voltix", "Hearst"))
    shop.items["title"] = ["Voltix Ridge Power Bank", "Voltix Nova Power Bank", "Woman's Day"]
    shop.items.loc[2, "category"] = "Magazine Subscriptions > Fashion & Style > Women"
    model = TemplateReasoner().fit(shop)
    bank, magazine = model.generate([ReasonRequest(9, 0), ReasonRequest(9, 2)])
    assert bank.text == "From Voltix, popular among power banks." and magazine.text == "From Hearst."
    assert not any(" > " in r.text for r in model.generate([ReasonRequest(u, i) for u in range(4) for i in range(3)]))


def test_aspects_written_as_the_reviews_write_them() -> None:
    """Plural aspects keep their plural: the lexicon's singular keys ("movie", "cookie", "lens") are not shown for them."""
    texts = ("The movies are great.", "I love the cookies.", "The lenses are excellent.", "Great movies and cookies.")
    rows = [(u, i, texts[(u + i) % 4]) for u in range(6) for i in range(4)]
    model = TemplateReasoner().fit(_shop(rows, category="Gifts"))
    assert {"movie", "cookie", "lens"} <= model.lexicon.features  # the dictionary's singulars, not "movy"
    reasons = model.generate([ReasonRequest(u, i) for u in range(6) for i in range(4)])
    words = {w.lower() for r in reasons for w in re.findall(r"[A-Za-z]+", r.text)}
    assert not words & {"movy", "cooky", "lense", "movie", "cookie"}
    assert words & {"movies", "cookies", "lenses"}
    assert any(" them " in r.text or r.text.endswith("them.") for r in reasons) or all("calling" not in r.text for r in reasons)


def test_the_shops_category_is_never_praised() -> None:
    """In a gift-card shop every review praises the gift card; reasons cite what else reviewers praise, or the card itself."""
    texts = (
        "The gift card is great and the food is delicious.",
        "Great gift card.",
        "I love the gift card, the design is lovely.",
    )
    rows = [(u, i, texts[(u + i) % 3]) for u in range(6) for i in range(4)]
    model = TemplateReasoner().fit(_shop(rows, category="Gift Cards", brands=("Applebee's", "Starbucks", "Olive", "Subway")))
    assert "gift card" in model.lexicon.features
    reasons = model.generate([ReasonRequest(u, i) for u in range(6) for i in range(4)])
    for r in reasons:
        assert r.evidence["kind"] == "product" or r.evidence["item_aspects"] != ["gift card"], r.text
        assert not re.search(r"praise the gift card|gift card of this|one's gift card", r.text, re.IGNORECASE), r.text
    assert {r.evidence["item_aspects"][0] for r in reasons if r.evidence["item_aspects"]} <= {"food", "design", "gift card"}


def test_one_shoppers_list_has_distinct_reasons() -> None:
    """A shopper who praises the price, ten items whose reviewers praise theirs: ten different sentences."""
    opinions = ("great", "good", "low", "fair", "nice")
    rows = [(0, i, f"The price is {opinions[i % 5]}.") for i in range(3)]  # the shopper, on items 0-2
    rows += [(u, i, f"The price is {opinions[(u * i) % 5]}.") for u in range(1, 8) for i in range(3, 13) if (u + i) % 3]
    model = TemplateReasoner().fit(_shop(rows))
    texts = [r.text for r in model.generate([ReasonRequest(0, i) for i in range(3, 13)])]
    assert len(set(texts)) == len(texts), texts


def test_real_reviews_support_every_claim(datasets_dir: Path) -> None:
    """Gift Cards: no plural claim from one review, no "often" from one, no gift card praised, no suffix-stripped word."""
    folder = datasets_dir / "amazon2018-gift-cards"
    shop = load("amazon", [folder / "Gift_Cards_5.json.gz"], meta=[folder / "meta_Gift_Cards.json.gz"], on_error="skip").dataset
    split = ratio(shop, seed=42, table="reviews")
    model = TemplateReasoner().fit(shop, split)
    test = shop.reviews.iloc[split.test]
    requests = [ReasonRequest(int(u), int(i)) for u, i in test[["user", "item"]].itertuples(index=False)]
    reasons = model.generate(requests)
    for r in reasons:
        feature = (r.evidence["item_aspects"] or [None])[0]
        if feature is None:
            continue
        stats = model.items.get(r.item, {}).get(feature)
        assert not (PLURAL.search(r.text.split("—")[0]) and (stats is None or stats.reviews < 2)), r.text
        assert not (OFTEN.search(r.text) and r.evidence["user_reviews"] < 2), r.text
        assert feature not in ("gift card", "card", "amazon gift card") or r.evidence["kind"] == "product", r.text
        assert "movy" not in r.text and "Starbuck " not in r.text and "starbuck " not in r.text
    assert len({r.text for r in reasons}) > 0.5 * len(reasons)


JULY_4_2016 = 1467590400  # 2016-07-04 00:00 UTC
DAY = 86400


def _viewed_shop(
    reviewed: list[tuple[int, int]], views: list[tuple[int, int]], users: int, items: int, days: list[int] | None = None
) -> Dataset:
    """A shop of battery reviews by (user, item) in `reviewed`, written `days` after 4 July 2016 (default: the k-th review
    k days after), and views by (user, item) in `views`. Each item's review text differs (a shopper's same text on two
    items would be one review Amazon filed under both)."""
    days = days if days is not None else list(range(len(reviewed)))
    reviews = pd.DataFrame(
        [
            {
                "user": u,
                "item": i,
                "rating": 5.0,
                "text": " ".join(["The battery is great."] * (i + 1)),
                "timestamp": JULY_4_2016 + d * DAY,
            }
            for (u, i), d in zip(reviewed, days, strict=True)
        ]
    )
    inter = pd.DataFrame(
        [
            {"user": u, "item": i, "timestamp": JULY_4_2016 + k, "event": "view", "rating": np.nan}
            for k, (u, i) in enumerate(views)
        ]
    )
    return Dataset(
        interactions=pd.concat([reviews.assign(event="rating")[inter.columns], inter], ignore_index=True),
        user_ids=IdMap.from_raw(f"u{u}" for u in range(users)),
        item_ids=IdMap.from_raw(f"i{i}" for i in range(items)),
        reviews=reviews,
    )


def test_an_item_nothing_is_known_of_gets_a_true_co_view_line() -> None:
    """Item 2 has no review and no catalog: the reason says who else looked at it, with counts the events bear out, and
    names the shopper's item by when they reviewed it; a shopper who only looked at theirs gets the count."""
    views = [(0, 0), (1, 0), (2, 1), (1, 2), (2, 2), (3, 2), (4, 3), (5, 1)]  # shoppers 1 and 2 share items with 0, 3, 5
    model = TemplateReasoner().fit(_viewed_shop([(0, 0), (1, 0), (2, 1)], views, users=6, items=4))
    one, two, none, viewer = model.generate([ReasonRequest(0, 2), ReasonRequest(3, 2), ReasonRequest(4, 2), ReasonRequest(5, 2)])
    assert one.text == "A shopper who looked at the item you reviewed in July 2016 also looked at this one."  # 1, via 0
    assert one.evidence["kind"] == "co-viewed" and one.aspects == []
    assert (one.evidence["history_items"], one.evidence["reviewed_on"], one.evidence["shoppers"]) == ([0], "2016-07-04", 1)
    assert viewer.text == "A shopper who looked at an item you looked at also looked at this one."  # 2, via item 1
    assert viewer.evidence["history_items"] == [] and "reviewed_on" not in viewer.evidence
    assert (two.text, none.text) == ("Picked for you.", "Picked for you.")  # 3 and 4 share nothing with its viewers
    model.forget_user(1)
    assert model.generate([ReasonRequest(0, 2)])[0].text == "Picked for you."  # the link was shopper 1's events


def test_a_co_view_line_given_before_in_a_list_is_worded_anew() -> None:
    """Items known only by who looked at them get the same line in one shopper's list; each repeat is worded anew,
    with the same counts, and another shopper's list starts again from the first wording."""
    views = [(0, 0), (1, 0)] + [(1, i) for i in range(1, 6)] + [(2, 0), (3, 0)]  # shopper 1 looked at item 0 and items 1-5
    model = TemplateReasoner().fit(_viewed_shop([(0, 0), (3, 0)], views, users=4, items=6))
    mine = model.generate([ReasonRequest(0, i) for i in range(1, 6)])
    assert [r.evidence["kind"] for r in mine] == ["co-viewed"] * 5
    assert len({r.text for r in mine[:4]}) == 4 and mine[4].text == mine[0].text  # four wordings, then round again
    assert all("a shopper who" in r.text.lower() and "the item you reviewed in July 2016" in r.text for r in mine)
    assert all((r.evidence["shoppers"], r.evidence["looked_at"]) == (1, 1) for r in mine)
    theirs, viewer = model.generate([ReasonRequest(3, 3)])[0], model.generate([ReasonRequest(2, 3)])[0]
    assert theirs.text == mine[0].text  # another shopper's list starts again
    assert viewer.text == "A shopper who looked at an item you looked at also looked at this one."


def test_a_co_view_line_names_the_item_most_tied_to_this_one_by_a_date_that_tells_it_apart(tmp_path: Path) -> None:
    """The shopper reviewed items 0, 1, 2; shoppers 1 and 2 looked at item 5 and at items 0 and 2, shopper 1 at item 1
    too. The line names the one most tied to item 5 (item-kNN's cosine: item 0, which fewer others looked at than item
    2), by the month where no other review of theirs is from it, else the day, else the next item a date tells apart,
    else it counts; it is kept across save and load, and an artifact saved before review times were kept counts."""
    views = [(1, 0), (1, 1), (1, 2), (1, 5), (2, 0), (2, 2), (2, 5), (3, 0), (3, 2), (4, 2)]
    reviewed = [(0, 0), (0, 1), (0, 2)]

    def line(days: list[int]) -> Reason:
        return (
            TemplateReasoner().fit(_viewed_shop(reviewed, views, users=5, items=6, days=days)).generate([ReasonRequest(0, 5)])[0]
        )

    month = line([0, 40, 80])
    assert month.text == "Two shoppers who looked at the item you reviewed in July 2016 also looked at this one."
    assert (month.evidence["history_items"], month.evidence["reviewed_on"]) == ([0], "2016-07-04")
    assert "the item you reviewed on 4 July 2016" in line([0, 10, 80]).text  # item 1 was reviewed in July too
    next_one = line([0, 0, 80])  # items 0 and 1 on one day: item 2, in September
    assert next_one.text == "Two shoppers who looked at the item you reviewed in September 2016 also looked at this one."
    assert (next_one.evidence["history_items"], next_one.evidence["reviewed_on"]) == ([2], "2016-09-22")
    counted = line([0, 0, 0])
    assert counted.text == "Two shoppers who looked at items you looked at also looked at this one."
    assert counted.evidence["looked_at"] == 3 and "reviewed_on" not in counted.evidence
    model = TemplateReasoner().fit(_viewed_shop(reviewed, views, users=5, items=6, days=[0, 40, 80]))
    model.save(tmp_path / "dated")
    assert TemplateReasoner.load(tmp_path / "dated").generate([ReasonRequest(0, 5)])[0].text == month.text
    profiles = tmp_path / "dated" / "profiles.json"
    parts = json.loads(profiles.read_text())
    del parts["reviewed_on"]
    profiles.write_text(json.dumps(parts))
    assert TemplateReasoner.load(tmp_path / "dated").generate([ReasonRequest(0, 5)])[0].text == counted.text
    model.forget_user(0)
    assert 0 not in model.reviewed_on


def test_a_co_view_line_counts_and_dates_one_review_filed_under_two_listings_once() -> None:
    """Shopper 0's one review is filed under items 0 and 1 (the same text and time, Amazon's variants); shopper 1 looked
    at item 1 and at item 5. The line dates item 1 by that review, and where no date tells it apart (another review the
    same day) counts one item, not two listings."""
    reviewed = [(0, 0), (0, 1), (0, 2)]

    def line(views: list[tuple[int, int]], days: list[int]) -> Reason:
        shop = _viewed_shop(reviewed, views, users=2, items=6, days=days)
        shop.reviews.loc[1, "text"] = shop.reviews.loc[0, "text"]
        return TemplateReasoner().fit(shop).generate([ReasonRequest(0, 5)])[0]

    dated = line([(1, 1), (1, 5)], [0, 0, 80])
    assert dated.text == "A shopper who looked at the item you reviewed in July 2016 also looked at this one."
    assert (dated.evidence["history_items"], dated.evidence["reviewed_on"]) == ([1], "2016-07-04")
    counted = line([(1, 0), (1, 1), (1, 5)], [0, 0, 0])  # item 2 reviewed the same day: no date tells them apart
    assert counted.text == "A shopper who looked at an item you looked at also looked at this one."
    assert counted.evidence["looked_at"] == 1
