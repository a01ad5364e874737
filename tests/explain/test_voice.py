"""Shopper-voice training targets: which review sentences survive, and how they are rewritten."""

from __future__ import annotations

import pytest

from whyrec.explain.aspects import AspectLexicon
from whyrec.explain.voice import (
    calls_item_an_aspect,
    empty_praise,
    in_present,
    rewrite,
    said_plainly,
    shopper_examples,
    shopper_sentence,
    unfinished,
    voice_faults,
)

from .contract import battery_shop

LEXICON = AspectLexicon(frozenset({"battery", "price", "screen"}))
HAS = {"battery", "price"}


def keep(sentence: str, feature: str = "battery", numbers: tuple[str, ...] = ()) -> str | None:
    return shopper_sentence(sentence, feature, LEXICON, HAS, numbers, 25)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The battery lasts all day.", "The battery lasts all day."),
        ("I think the battery is excellent!", "The battery is excellent."),
        ("I really love the battery on this one", "You'll love the battery on this one."),
        ("Love the battery and the price.", "You'll love the battery and the price."),
        ("Also, great battery for travel", "Great battery for travel."),
    ],
)
def test_kept_sentences_are_rewritten_to_the_shopper(sentence: str, expected: str) -> None:
    assert keep(sentence) == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "The battery charges my phone twice.",  # first person left after the rewrite
        "We use the battery every day.",
        "Great battery but the cable broke.",  # complaint
        "The battery is not bad at all.",  # negation
        "Bought it for my husband, battery is great.",  # a purchase story
        "The battery lasts 12 hours.",  # a number the catalog does not state
        "The battery is great and the screen is sharp.",  # names an aspect the item lacks
        "The price is great for what it is.",  # not about the feature it was judged for
        "Great battery.",  # too short to say anything
        "Is the battery any good?",
    ],
)
def test_dropped_sentences(sentence: str) -> None:
    assert keep(sentence) is None


def test_a_number_the_catalog_states_is_kept() -> None:
    assert keep("The battery holds 15000 mAh of charge.", numbers=("15000",)) == "The battery holds 15000 mAh of charge."


def test_voice_faults() -> None:
    assert voice_faults("I'm sure you'll like it.") == (True, False)
    assert voice_faults("The battery doesn't last.") == (False, True)
    assert voice_faults("The battery lasts all day.") == (False, False)


def test_rewrite_ends_with_one_period() -> None:
    assert rewrite("Honestly, the battery rocks!!") == "The battery rocks."


def test_shopper_examples_keep_one_positive_rewritten_sentence_per_review() -> None:
    shop = battery_shop()
    lexicon = AspectLexicon(frozenset({"battery"}))
    examples = shopper_examples(shop, lexicon, range(len(shop.reviews)))
    assert 0 < len(examples) < len(shop.reviews)  # "... charges my phone twice" and "... the price I paid" are dropped
    assert examples["row"].is_unique and set(examples["feature"]) == {"battery"}
    assert not any(voice_faults(t)[0] for t in examples["explanation"])
    assert "You'll love the battery." in set(examples["explanation"])


@pytest.mark.parametrize(
    ("text", "aspect", "plain"),
    [
        ("The bottle is a great bottle.", "bottle", "The bottle is great."),
        ("The bottle is a great product.", "bottle", "The bottle is great."),
        ("The bottle is a great one.", "bottle", "The bottle is great."),
        ("the almond oil is a very sweet oil", "almond oil", "The almond oil is very sweet."),
        ("The classic is the best classic.", "classic", "The classic is the best."),
        ("The bottle is great.", "bottle", None),  # already plain
        ("The bottle is a great gift.", "bottle", None),  # says something of its own
        ("The scent is a lovely bottle.", "bottle", None),  # another subject
        ("The battery lasts long.", "battery", None),
        ("The bottle is a great bottle.", None, None),
        # a last conjunct that praises the product as such, or only echoes the first
        ("The odor is very pleasant and the product is great.", "odor", "The odor is very pleasant."),
        ("The formula is gentle on the skin and gentle on your skin too.", "formula", "The formula is gentle on the skin."),
        ("You'll love the value of the food and the product.", "value", "You'll love the value of the food."),
        ("The scent is light and fresh.", "scent", None),
        ("Great food and great service.", "food", None),
        # the aspect again, in either number, after "and" or a comma (Magazine's "The recipe is good and the recipes
        # are fun", "Great recipes, great recipes")
        ("The recipe is good and the recipes are fun.", "recipe", "The recipe is good."),
        ("Great recipes, great recipes.", "recipe", "Great recipes."),
        ("The recipes are easy, and the recipes are fun.", "recipe", "The recipes are easy."),
        ("Great price. The recipes are easy, and the recipes are fun.", "recipe", "Great price. The recipes are easy."),
        ("The scent is light, fresh and clean.", "scent", None),
        ("Great recipes, great pictures.", "recipe", None),
        # a later sentence naming the aspect again goes whole, never cut at a comma to "… Also." (Magazine's "The
        # article is fun and informative. It has a lot of great articles on …")
        ("The variety is interesting. Also, the variety is helpful.", "variety", "The variety is interesting."),
        ("The article is fun. It has a lot of great articles on gardening.", "article", "The article is fun."),
        ("The article is fun. It has a lot of great ideas, and the ideas are new.", "article", None),
        # a first conjunct that is only the subject is no sentence alone ("The balance.")
        ("The balance and all the good things in magazines are great.", "balance", None),
        ("The balance and the product are great.", "balance", None),
        ("These recipes and the product are great.", "recipe", None),  # any determiner: aspects.DETERMINERS
        # nor one the dropped conjunct says again with its predicate (Gift Cards' "The value of a good food.")
        ("The value of a good food and the value of a good food is just amazing.", "value", None),
        ("The battery lasts all day and the battery is great.", "battery", "The battery lasts all day."),
        ("The value of the card is good and the value of the card is great.", "value", "The value of the card is good."),
    ],
)
def test_said_plainly_drops_what_repeats_the_aspect_or_stands_for_the_product(text, aspect, plain) -> None:
    assert said_plainly(text, aspect) == plain
    if plain is not None:
        assert empty_praise(plain, aspect) == (False, False)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        # All Beauty, 2026-12-07: 66 of 913 shown LM reasons after a retrain
        ("The fragrance is beautiful and the scent is great", "The fragrance is beautiful."),
        ("This fragrance is very pleasant and smells like a good perfume", "This fragrance is very pleasant."),
        ("The fragrance is beautiful and the bottle is pretty", None),  # another aspect: whole
        ("The scent is great and the fragrance is beautiful", None),  # the hint said last: not dropped
    ],
)
def test_a_last_conjunct_naming_an_aspect_that_means_the_hint_is_said_away(text: str, plain: str | None) -> None:
    assert said_plainly(text, "fragrance", alike=["scent", "smell"]) == plain
    assert said_plainly(text, "fragrance") is None  # nothing known to mean it: nothing to repair


@pytest.mark.parametrize(
    ("text", "present"),
    [
        # what a reviewer once found, said of the item now (Gift Cards' "The gift idea was pretty fun", 30 of 1,000)
        ("The gift idea was pretty fun", "The gift idea is pretty fun"),
        ("The selection was great.", "The selection is great."),
        ("The results were perfect", "The results are perfect"),
        ("Its colors were bright.", "Its colors are bright."),
        # every clause of the reason, so no sentence mixes the two
        ("The food was great and the service was fast.", "The food is great and the service is fast."),
        ("The box is cute. The tin was sturdy.", "The box is cute. The tin is sturdy."),
        ("Great gift, the tins were cute", "Great gift, the tins are cute"),
        # no short subject at a clause's start, or another verb: left as written
        ("It was great.", "It was great."),
        ("The card arrived on time.", "The card arrived on time."),
        ("The tin that came with the card in a box was cute.", "The tin that came with the card in a box was cute."),
        ("You'll love what the box was made for.", "You'll love what the box was made for."),
    ],
)
def test_in_present_puts_a_short_subjects_past_copula_in_the_present(text, present) -> None:
    assert in_present(text) == present


@pytest.mark.parametrize(
    ("text", "twice"),
    [
        ("The bottle is a great bottle.", True),
        ("The recipe is good and the recipes are fun.", True),
        ("Great recipes, great recipes.", True),
        ("The batteries last and the battery charges fast.", True),
        ("Great recipes and great pictures.", False),
        ("The recipes are easy to follow.", False),
    ],
)
def test_the_aspect_named_twice_in_either_number_is_a_tautology(text, twice) -> None:
    assert empty_praise(text, "recipe" if "recipe" in text else "battery" if "batter" in text else "bottle")[1] == twice


@pytest.mark.parametrize(
    ("text", "filler"),
    [
        ("It's a good one.", True),
        ("This one is great.", True),
        ("The flavor is just as good as the product.", True),
        ("This is a great bottle of product.", True),
        ("You'll love the value of the food and the product.", True),
        ("The lid is neat, the product is fresh and light.", True),  # All Beauty, 2026-12-07: of the item as a whole
        ("A great one-touch lid.", False),
        ("Great lid.", False),
        ("The lid of the jar is sturdy.", False),
    ],
)
def test_a_good_one_is_praise_of_the_product_as_such(text, filler) -> None:
    assert empty_praise(text, "lid")[0] == filler


def test_a_last_clause_about_the_product_as_a_whole_is_said_away() -> None:
    """All Beauty, 2026-12-07: the candidate a shopper should have read lost to an invented one for its second clause."""
    text = "The package is neat and clean, the product is fresh and light."
    assert said_plainly(text, "package") == "The package is neat and clean."


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("The design is cute and the gift card is perfect.", "The design is cute."),
        ("The tin is pretty and a great gift card.", "The tin is pretty."),
        ("The tin is pretty and the gift cards are really nice.", "The tin is pretty."),
        ("The tin is pretty and holds the gift card well.", None),  # says something of the tin
        ("The tin is pretty and the card design is perfect.", None),  # another aspect, not the product type
        ("Great food and great gift.", "Great food."),  # a gift card's first word alone: the gift card as such
        ("Great food and a great gift for any occasion.", "Great food."),
        ("The tin is pretty and a great gift idea.", None),  # "gift idea" is a thing of its own
        ("The tin is pretty and the gift card works.", "The tin is pretty."),
        ("The meal was good and the gift card worked.", "The meal was good."),
        ("The tin is pretty and works with any gift card.", None),
        ("The design is cute and gift card.", "The design is cute."),  # a bare product noun ends it
        ("The design is cute and a gift.", "The design is cute."),
        ("The design of the gift card is great.", None),  # the design's praise, not the card's
    ],
)
def test_praise_of_the_items_product_type_is_praise_of_the_product_as_such(text, plain) -> None:
    """In a gift-card shop "the gift card is perfect" says of a gift card only that it is one."""
    assert said_plainly(text, "tin" if "tin" in text else "design", ["gift card"]) == plain
    assert empty_praise(text, None, ["gift card"])[0] == (plain is not None)
    assert not empty_praise(text, None)[0] and said_plainly(text, None) is None  # without the product type: nothing


@pytest.mark.parametrize(
    ("text", "as_such"),
    [
        ("You'll love Texas Roadhouse.", True),
        ("Texas Roadhouse is a great steakhouse.", True),
        ("The gift idea is Texas Roadhouse.", True),  # the brand where the praise should be
        ("You'll love the steak at Texas Roadhouse.", False),
        ("A great gift idea for Texas Roadhouse!", False),
        ("The steak at Texas Roadhouse is juicy.", False),
        ("The price of Texas Roadhouse is good.", False),  # the price's praise
    ],
)
def test_praise_of_the_brand_alone_is_praise_of_the_item_as_such(text, as_such) -> None:
    """Of a Texas Roadhouse card, "You'll love Texas Roadhouse." says only what the card is; the brand beside an aspect
    is no such praise."""
    assert empty_praise(text, None, ["texas roadhouse"])[0] == as_such
    assert not empty_praise(text, None)[0]  # without the brand: nothing to go by


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("The food is very good, great eat place.", "The food is very good."),
        ("The food is good and a great place to eat.", "The food is good."),
        ("The food is good and the place is clean.", None),  # says something of the place
    ],
)
def test_a_great_place_is_praise_of_the_venue_as_such(text, plain) -> None:
    """A restaurant card's "great eat place" praises the venue for being one; a conjunct saying so goes."""
    assert said_plainly(text, "food") == plain
    assert empty_praise(text, "food")[0] == (plain is not None)


@pytest.mark.parametrize(
    ("text", "product", "plain"),
    [
        ("You'll love the reading and the magazine.", "magazine", "You'll love the reading."),
        ("The reading is easy and a magazine.", "magazine", "The reading is easy."),
        # a one-word product type without a determiner is the topic, not the item: Magazine's "Home & Garden" title
        ("You'll love a magazine that's all about home and garden.", "garden", None),
        ("You'll love the mix of art, music and photography.", "photography", None),
    ],
)
def test_a_last_conjunct_of_the_product_type_alone_is_said_away(text, product, plain) -> None:
    assert said_plainly(text, "reading", [product]) == plain
    assert empty_praise(text, "reading", [product])[0] == (plain is not None)


def test_a_product_type_that_works_is_praise_of_the_product_as_such() -> None:
    assert empty_praise("Great burger gift card works well.", "burger", ["gift card"])[0]
    assert not empty_praise("Great burger gift card works well.", "burger", ["charger"])[0]


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("The treat is the.", True),  # Gift Cards, 2026-12-06: shown as written
        ("The food is good and.", True),
        ("The box is cute, your.", True),
        ("The delivery is fast and fast.", True),  # one word on both sides of "and"
        ("Quick or quick, it works.", True),
        ("A gift to be proud of.", False),  # a preposition may end a whole sentence
        ("Easy to put on.", False),
        ("Great gift and delivery.", False),
        ("The box is cute and the tin is fast and easy.", False),
        ("The box is lovely. The tin is the best", False),
        ("The scent is lovely, the bottle is nicer than the", True),
        ("You'll love both the meal.", True),  # Gift Cards, 2026-12-07: a pair opened and never closed
        ("You'll love both the food and the service.", False),
        ("You'll love them both. The tin is cute.", False),
        ("Both of the tins are cute.", False),
        ("You'll like both the balances. And the price.", True),  # the pair ends with its sentence
    ],
)
def test_a_reply_cut_off_or_doubling_a_word_is_unfinished(text: str, cut: bool) -> None:
    assert unfinished(text) is cut


MAGAZINE = AspectLexicon(frozenset({"article", "recipe", "section", "price", "little magazine", "quality"}))


@pytest.mark.parametrize(
    ("text", "called"),
    [
        ("It's a great article and has lots of good recipes.", True),  # Magazine, 2026-12-06: 3% of shown reasons
        ("It's a great section of the magazine.", True),
        ("This is a great price for a good product.", True),
        ("it is an excellent recipe.", True),
        ("It's a great little magazine.", True),  # praise of the magazine as such, under a lexicon feature
        ("It's a great quality product.", False),  # the head noun is the product, not the aspect before it
        ("It's a great magazine with lots of articles.", False),  # the product as such: `empty_praise`'s to judge
        ("The article is great.", False),
        ("The recipes are easy, and it's a fun read.", False),
    ],
)
def test_calling_the_item_one_of_its_aspects(text: str, called: bool) -> None:
    assert calls_item_an_aspect(text, MAGAZINE) is called


@pytest.mark.parametrize(
    ("text", "aspect", "twice"),
    [
        ("The information is informative and helpful.", "information", True),  # Magazine, 2026-12-06: 7% of reasons
        ("The balance is very balanced and easy to read.", "balance", True),
        ("The price is reasonably priced.", "price", True),
        ("The colors are colorful.", "color", True),
        ("The tin is tiny and cute.", "tin", False),  # a head under five letters has no stem to share
        ("The content is interesting and informative.", "content", False),
        ("Informative and helpful.", "information", False),  # the aspect itself unsaid: another fault's to judge
    ],
)
def test_the_aspect_praised_with_a_word_of_its_own_stem_is_a_tautology(text: str, aspect: str, twice: bool) -> None:
    assert empty_praise(text, aspect)[1] is twice
