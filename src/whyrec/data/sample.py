"""A seeded generator of a small, realistic shop: the bundled sample data.

The package cannot ship other people's review text, so `generate_sample` makes a shop whose
structure is what recommenders and reasoners must learn: a category tree, brands, lognormal
prices, items with true attribute values stated in their descriptions, Zipf popularity,
shoppers with category and aspect preferences, sessions that run view -> cart -> purchase ->
rating, complementary next purchases (a pan, then a lid that fits it), and reviews written
from aspect-opinion phrases whose sentiment follows the item's true quality, the shopper's
priorities and the rating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from whyrec.data.schema import Dataset, IdMap

START = 1_704_067_200  # 2024-01-01 00:00 UTC
SPAN_DAYS = 120  # the shop's history covers four months
DAY = 86_400


@dataclass(frozen=True)
class _Aspect:
    """A property shoppers judge: its spec levels (worst to best) and the opinions it draws."""

    feature: str  # the noun reviews use: "battery life"
    levels: tuple[str, ...]  # spec values, worst to best
    spec: str  # description sentence; "{}" takes the item's level
    good: tuple[str, ...]  # opinion words when the item is good at it
    bad: tuple[str, ...]
    plural: bool = False  # "the straps are", not "is"

    @property
    def verbs(self) -> tuple[str, str]:
        return ("are", "feel") if self.plural else ("is", "feels")


@dataclass(frozen=True)
class _Leaf:
    """A leaf category: what its items are, cost, have, and are bought with."""

    path: str
    noun: str
    share: float  # share of the catalog
    price: float  # median price
    aspects: tuple[_Aspect, ...]
    attributes: dict[str, tuple[str, tuple[str, ...]]]  # name -> (description template, values); no opinion
    uses: tuple[str, ...]  # what shoppers buy it for, for review openers
    next: str | None = None  # leaf path often bought after this one


_COLOURS = ("Colour: {}.", ("black", "navy", "olive", "red", "grey"))
_SIZES = ("20 cm", "24 cm", "28 cm")


def _zipper(spec: str) -> _Aspect:
    return _Aspect(
        "zipper",
        ("basic coil zipper", "plain nylon zipper", "two-way zipper", "water-resistant YKK zipper", "AquaGuard YKK zipper"),
        spec,
        ("smooth", "sturdy"),
        ("flimsy", "cheap"),
    )


def _weight(levels: tuple[str, ...]) -> _Aspect:
    return _Aspect("weight", levels, "Weighs {}.", ("light", "just right"), ("heavy", "bulky"))


def _battery(levels: tuple[str, ...]) -> _Aspect:
    return _Aspect("battery life", levels, "Battery life up to {}.", ("excellent", "long"), ("short", "weak"))


def _build(levels: tuple[str, ...]) -> _Aspect:
    return _Aspect("build quality", levels, "Housed in a {}.", ("solid", "robust"), ("flimsy", "cheap"))


def _waterproofing(levels: tuple[str, ...], spec: str) -> _Aspect:
    return _Aspect("waterproofing", levels, spec, ("reliable", "excellent"), ("leaky", "disappointing"))


def _sound(levels: tuple[str, ...], spec: str) -> _Aspect:
    return _Aspect("sound quality", levels, spec, ("rich", "crisp"), ("muddy", "tinny"))


_LEAVES: tuple[_Leaf, ...] = (
    _Leaf(
        "Outdoor > Jackets > Rain",
        "Rain Jacket",
        0.13,
        120.0,
        (
            _weight(("610 g", "520 g", "430 g", "350 g", "280 g")),
            _waterproofing(
                ("5,000 mm", "10,000 mm", "15,000 mm", "20,000 mm", "28,000 mm"), "Waterproof rating: {} hydrostatic head."
            ),
            _zipper("Front closure: {}."),
            _Aspect(
                "hood",
                ("fixed hood", "elastic hood", "drawcord hood", "two-way adjustable hood", "three-way adjustable hood"),
                "Comes with a {}.",
                ("snug", "well designed"),
                ("loose", "awkward"),
            ),
            _Aspect(
                "breathability",
                ("PU coating", "basic breathable coating", "2-layer membrane", "2.5-layer membrane", "3-layer membrane"),
                "Shell: {}.",
                ("great", "impressive"),
                ("poor", "stuffy"),
            ),
        ),
        {"material": ("Fabric: {}.", ("recycled nylon", "polyester", "ripstop nylon")), "colour": _COLOURS},
        ("rainy commutes", "hiking in the rain", "a trip to Scotland"),
        next="Outdoor > Backpacks > Daypacks",
    ),
    _Leaf(
        "Outdoor > Backpacks > Daypacks",
        "Daypack",
        0.12,
        80.0,
        (
            _Aspect(
                "capacity",
                ("15 L", "20 L", "25 L", "28 L", "32 L"),
                "Capacity: {}.",
                ("roomy", "generous"),
                ("too small", "cramped"),
            ),
            _Aspect(
                "straps",
                (
                    "thin straps",
                    "lightly padded straps",
                    "padded straps",
                    "padded straps with load lifters",
                    "contoured straps with hip belt",
                ),
                "Carried on {}.",
                ("comfortable", "well padded"),
                ("uncomfortable", "thin"),
                plural=True,
            ),
            _weight(("1.4 kg", "1.1 kg", "900 g", "750 g", "600 g")),
            _Aspect(
                "back panel",
                (
                    "flat back panel",
                    "foam back panel",
                    "ventilated foam back panel",
                    "mesh back panel",
                    "suspended mesh back panel",
                ),
                "Features a {}.",
                ("breathable", "cool"),
                ("sweaty", "hot"),
            ),
            _zipper("Main compartment closes with a {}."),
        ),
        {"colour": _COLOURS},
        ("day hikes", "commuting by bike", "travel"),
        next="Outdoor > Jackets > Rain",
    ),
    _Leaf(
        "Outdoor > Footwear > Hiking Boots",
        "Hiking Boots",
        0.11,
        140.0,
        (
            _Aspect(
                "grip",
                (
                    "generic rubber outsole",
                    "moulded rubber outsole",
                    "lugged rubber outsole",
                    "Vibram outsole",
                    "Vibram Megagrip outsole",
                ),
                "Sole: {}.",
                ("excellent", "confident"),
                ("slippery", "poor"),
            ),
            _waterproofing(
                ("no membrane", "water-repellent leather", "waterproof coating", "waterproof membrane", "Gore-Tex membrane"),
                "Waterproofing: {}.",
            ),
            _Aspect(
                "cushioning",
                ("thin foam insole", "EVA insole", "EVA midsole", "dual-density EVA midsole", "PU midsole with shock absorber"),
                "Cushioning: {}.",
                ("comfortable", "plush"),
                ("hard", "uncomfortable"),
            ),
            _weight(("1.6 kg per pair", "1.4 kg per pair", "1.2 kg per pair", "1.0 kg per pair", "850 g per pair")),
            _Aspect(
                "laces",
                ("thin round laces", "flat laces", "braided laces", "braided laces with locking hooks", "speed-lacing hooks"),
                "Laced with {}.",
                ("secure", "easy to adjust"),
                ("loose", "fiddly"),
                plural=True,
            ),
        ),
        {"material": ("Upper: {}.", ("full-grain leather", "suede and mesh", "synthetic")), "colour": _COLOURS},
        ("the Alps", "muddy trails", "long walks"),
        next="Outdoor > Backpacks > Daypacks",
    ),
    _Leaf(
        "Kitchen > Cookware > Pans",
        "Frying Pan",
        0.12,
        45.0,
        (
            _Aspect(
                "coating",
                (
                    "single-layer PTFE coating",
                    "two-layer PTFE coating",
                    "ceramic coating",
                    "three-layer PTFE coating",
                    "titanium-reinforced coating",
                ),
                "Coated with a {}.",
                ("durable", "truly non-stick"),
                ("flaky", "easily scratched"),
            ),
            _Aspect(
                "heat distribution",
                (
                    "thin pressed aluminium base",
                    "pressed aluminium base",
                    "cast aluminium base",
                    "impact-bonded steel base",
                    "tri-ply clad base",
                ),
                "Base: {}.",
                ("even", "excellent"),
                ("uneven", "patchy"),
            ),
            _Aspect(
                "handle",
                (
                    "hollow plastic handle",
                    "bakelite handle",
                    "soft-touch handle",
                    "riveted steel handle",
                    "riveted stay-cool handle",
                ),
                "Fitted with a {}.",
                ("comfortable", "solid"),
                ("wobbly", "hot to the touch"),
            ),
        ),
        {
            "size": ("Diameter: {}.", _SIZES),
            "hob": ("Suitable for {}.", ("gas and electric hobs", "all hobs including induction")),
        },
        ("everyday cooking", "omelettes", "a new flat"),
        next="Kitchen > Cookware > Lids",
    ),
    _Leaf(
        "Kitchen > Cookware > Lids",
        "Glass Lid",
        0.08,
        18.0,
        (
            _Aspect(
                "fit",
                ("loose fit", "approximate fit", "standard fit", "snug fit", "precision fit with silicone rim"),
                "Designed for a {}.",
                ("snug", "perfect"),
                ("loose", "rattly"),
            ),
            _Aspect(
                "steam vent",
                (
                    "no steam vent",
                    "a small steam hole",
                    "a steam hole",
                    "an adjustable steam vent",
                    "an adjustable vent with strainer holes",
                ),
                "Has {}.",
                ("handy", "well placed"),
                ("useless", "too small"),
            ),
            _Aspect(
                "knob",
                ("plastic knob", "bakelite knob", "soft-grip knob", "steel knob", "stay-cool steel knob"),
                "Topped with a {}.",
                ("cool to the touch", "sturdy"),
                ("hot", "wobbly"),
            ),
            _Aspect(
                "glass",
                ("thin glass", "standard glass", "tempered glass", "thick tempered glass", "shatter-resistant tempered glass"),
                "Made of {}.",
                ("clear", "sturdy"),
                ("fragile", "thin"),
            ),
        ),
        {"size": ("Fits {} pans.", _SIZES)},
        ("my frying pan", "simmering sauces", "a lidless pan"),
    ),
    _Leaf(
        "Kitchen > Knives > Chef Knives",
        "Chef's Knife",
        0.09,
        70.0,
        (
            _Aspect(
                "edge",
                ("machine-ground edge", "standard edge", "sharpened 20° edge", "hand-honed 15° edge", "hand-honed 12° edge"),
                "Edge: {}.",
                ("razor sharp", "keen"),
                ("dull", "blunt"),
            ),
            _Aspect(
                "steel",
                ("soft stainless steel", "X50CrMoV15 steel", "high-carbon stainless steel", "VG-10 steel", "powdered SG2 steel"),
                "Blade: {}.",
                ("excellent", "hard-wearing"),
                ("soft", "prone to rust"),
            ),
            _Aspect(
                "handle",
                ("plastic handle", "polypropylene handle", "pakkawood handle", "G10 handle", "stabilised wood handle"),
                "Handle: {}.",
                ("comfortable", "well balanced"),
                ("slippery", "uncomfortable"),
            ),
        ),
        {"blade": ("Blade length: {}.", ("18 cm", "20 cm", "21 cm", "24 cm"))},
        ("daily prep", "a cooking class", "replacing an old knife"),
        next="Kitchen > Cookware > Pans",
    ),
    _Leaf(
        "Electronics > Audio > Headphones",
        "Wireless Headphones",
        0.13,
        110.0,
        (
            _battery(("12 hours", "20 hours", "30 hours", "40 hours", "60 hours")),
            _sound(
                ("30 mm drivers", "32 mm drivers", "40 mm drivers", "40 mm beryllium drivers", "50 mm planar drivers"), "Uses {}."
            ),
            _Aspect(
                "noise cancelling",
                (
                    "no noise cancelling",
                    "passive isolation",
                    "basic active noise cancelling",
                    "hybrid noise cancelling",
                    "adaptive hybrid noise cancelling",
                ),
                "Offers {}.",
                ("effective", "superb"),
                ("weak", "useless"),
            ),
            _Aspect(
                "ear pads",
                (
                    "thin foam ear pads",
                    "foam ear pads",
                    "padded ear pads",
                    "memory-foam ear pads",
                    "protein-leather memory-foam ear pads",
                ),
                "Comes with {}.",
                ("comfortable", "soft"),
                ("uncomfortable", "hard"),
                plural=True,
            ),
        ),
        {"bluetooth": ("Connects over {}.", ("Bluetooth 5.0", "Bluetooth 5.2", "Bluetooth 5.3")), "colour": _COLOURS},
        ("my commute", "working from home", "long flights"),
        next="Electronics > Power > Power Banks",
    ),
    _Leaf(
        "Electronics > Audio > Speakers",
        "Bluetooth Speaker",
        0.11,
        80.0,
        (
            _battery(("6 hours", "10 hours", "15 hours", "20 hours", "24 hours")),
            _sound(
                (
                    "a single 5 W driver",
                    "10 W stereo drivers",
                    "20 W stereo drivers",
                    "30 W drivers with a passive radiator",
                    "40 W drivers with two passive radiators",
                ),
                "Sound comes from {}.",
            ),
            _Aspect(
                "water resistance",
                (
                    "no water resistance",
                    "IPX4 splash resistance",
                    "IPX5 water resistance",
                    "IP67 water and dust resistance",
                    "IP68 water and dust resistance",
                ),
                "Rated for {}.",
                ("reliable", "solid"),
                ("poor", "disappointing"),
            ),
            _build(
                (
                    "plastic casing",
                    "rubberised casing",
                    "fabric-wrapped casing",
                    "aluminium casing",
                    "shock-proof aluminium casing",
                )
            ),
        ),
        {"colour": _COLOURS},
        ("the garden", "beach trips", "the kitchen"),
        next="Electronics > Power > Power Banks",
    ),
    _Leaf(
        "Electronics > Power > Power Banks",
        "Power Bank",
        0.11,
        35.0,
        (
            _Aspect(
                "capacity",
                ("5,000 mAh", "10,000 mAh", "15,000 mAh", "20,000 mAh", "26,800 mAh"),
                "Capacity: {}.",
                ("generous", "ample"),
                ("too small", "insufficient"),
            ),
            _Aspect(
                "charging speed",
                ("5 W output", "10 W output", "18 W fast charging", "30 W USB-C PD", "65 W USB-C PD"),
                "Delivers {}.",
                ("fast", "impressive"),
                ("slow", "sluggish"),
            ),
            _weight(("480 g", "400 g", "330 g", "260 g", "190 g")),
            _build(
                ("plastic casing", "matte plastic casing", "rubberised casing", "aluminium casing", "anodised aluminium casing")
            ),
        ),
        {"ports": ("Ports: {}.", ("one USB-A", "USB-A and USB-C", "two USB-C and one USB-A"))},
        ("festivals", "travel", "my phone on long days"),
    ),
)

_BRANDS = {
    "Outdoor": ("Northpeak", "Fjellro", "Trailmark", "Cairnline"),
    "Kitchen": ("Ferrocasa", "Ember & Oak", "Castrum", "Salvia"),
    "Electronics": ("Voltaic", "Sonora", "Lumen Audio", "Kestrel"),
}
_MODELS = (
    "Aurora", "Summit", "Ridge", "Drift", "Nova", "Vista", "Ember", "Tide", "Atlas", "Echo", "Pulse", "Harbor",
    "Cascade", "Granite", "Solstice", "Mistral", "Quartz", "Juniper", "Halcyon", "Vale", "Orbit", "Flint",
)  # fmt: skip
_GENERIC_GOOD = ("excellent", "great")
_GENERIC_BAD = ("disappointing", "poor")
_SENTENCES = ("The {f} {be} {a}.", "The {f} {feel} {a}.", "I found the {f} {a}.", "The {f} {be} really {a}.")
_CLOSINGS = {
    5: ("Would buy again.", "Highly recommend."),
    4: ("Happy with it overall.", "Good purchase."),
    3: ("It does the job.", "Mixed feelings about this one."),
    2: ("Expected more.", "Not worth the money."),
    1: ("Returning it.", "Would not buy again."),
}
_FEATURES: tuple[str, ...] = tuple(dict.fromkeys(a.feature for leaf in _LEAVES for a in leaf.aspects))


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """One option, uniformly; rng.choice would first copy the tuple into an array, a hot cost here."""
    return options[int(rng.integers(len(options)))]


def _phi(x: float) -> float:
    """Standard normal CDF: maps a latent quality to its spec-level quantile."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@dataclass
class _Catalog:
    """Generated items and the hidden truths behaviour is drawn from."""

    frame: pd.DataFrame  # item, title, category, brand, price, description
    leaf: np.ndarray  # (n_items,) leaf index
    brand: np.ndarray  # (n_items,) brand name
    size: np.ndarray  # (n_items,) size attribute ("24 cm"), "" for items without one
    quality: np.ndarray  # (n_items, n_features) latent quality per aspect; 0 where the item lacks it
    has: np.ndarray  # (n_items, n_features) bool: the item has this aspect
    price_z: np.ndarray  # (n_items,) log price relative to its leaf's median
    popularity: np.ndarray  # (n_items,) Zipf weight


def _catalog(rng: np.random.Generator, n_items: int) -> _Catalog:
    shares = np.array([leaf.share for leaf in _LEAVES])
    counts = np.maximum(1, np.floor(shares / shares.sum() * n_items)).astype(int)
    counts[np.argsort(-shares)[: n_items - counts.sum()]] += 1  # largest shares take the remainder
    leaf_of = np.repeat(np.arange(len(_LEAVES)), counts)
    brand_bias = {b: rng.normal(0.0, 0.4) for brands in _BRANDS.values() for b in brands}
    fidx = {f: k for k, f in enumerate(_FEATURES)}

    quality = np.zeros((n_items, len(_FEATURES)))
    has = np.zeros((n_items, len(_FEATURES)), dtype=bool)
    rows, brands, sizes, price_z, titles = [], [], [], np.zeros(n_items), set()
    for i, li in enumerate(leaf_of):
        leaf = _LEAVES[li]
        brand = _pick(rng, _BRANDS[leaf.path.split(" > ")[0]])
        overall = rng.normal(0.0, 0.5)  # the item's general make, shared by its aspects
        values = {name: _pick(rng, vals) for name, (_, vals) in leaf.attributes.items()}
        specs = []
        for asp in leaf.aspects:
            q = brand_bias[brand] + overall + rng.normal(0.0, 0.8)
            quality[i, fidx[asp.feature]] = q
            has[i, fidx[asp.feature]] = True
            level = min(len(asp.levels) - 1, int(_phi(q) * len(asp.levels)))
            specs.append(asp.spec.format(asp.levels[level]))
        # better-made items cost more; the rest of the spread is lognormal noise
        price_z[i] = 0.3 * rng.normal() + 0.25 * (overall + brand_bias[brand])
        price = round(leaf.price * math.exp(price_z[i]), 0) - 0.01
        model = _pick(rng, _MODELS)
        size = f" {values['size']}" if "size" in values else ""
        title = f"{brand} {model}{size} {leaf.noun}"
        n = 2
        while title in titles:  # a second "Northpeak Ridge Rain Jacket" becomes "... Ridge 2 ..."
            title = f"{brand} {model} {n}{size} {leaf.noun}"
            n += 1
        titles.add(title)
        extra = [tmpl.format(values[name]) for name, (tmpl, _) in leaf.attributes.items()]
        use = _pick(rng, leaf.uses)
        description = f"{leaf.noun} by {brand}, made for {use}. " + " ".join(specs + extra)
        rows.append((i, title, leaf.path, brand, float(price), description))
        brands.append(brand)
        sizes.append(values.get("size", ""))
    frame = pd.DataFrame(rows, columns=["item", "title", "category", "brand", "price", "description"])
    popularity = 1.0 / rng.permutation(np.arange(1, n_items + 1)) ** 1.1  # Zipf over a random rank order
    return _Catalog(frame, leaf_of, np.array(brands), np.array(sizes), quality, has, price_z, popularity)


def _review(rng: np.random.Generator, leaf: _Leaf, quality: np.ndarray, prefs: np.ndarray, utility: float) -> tuple[int, str]:
    """A rating and a review text for one purchase; opinions follow the item's true aspect quality."""
    fidx = [_FEATURES.index(a.feature) for a in leaf.aspects]
    # shoppers write about what they care about, with a little of everything else
    w = prefs[fidx] + 0.05
    n_mentions = min(len(leaf.aspects), 1 + rng.poisson(0.8))
    chosen = np.argsort(-(np.log(w) + rng.gumbel(size=len(w))))[:n_mentions]  # weighted, without replacement
    mentions = []
    for k in chosen:
        asp = leaf.aspects[k]
        positive = quality[fidx[k]] + rng.normal(0.0, 0.4) > 0
        words = (asp.good + _GENERIC_GOOD) if positive else (asp.bad + _GENERIC_BAD)
        mentions.append((asp, _pick(rng, words), positive))
    tone = np.mean([1.0 if m[2] else -1.0 for m in mentions])
    rating = int(np.clip(round(3.2 + 0.9 * utility + 0.8 * tone + rng.normal(0.0, 0.5)), 1, 5))

    parts = []
    if rng.random() < 0.5:
        use = _pick(rng, leaf.uses)
        parts.append(_pick(rng, (f"Bought this for {use}.", f"Got it for {use}.", f"Needed something for {use}.")))
    if len(mentions) >= 2 and mentions[0][2] != mentions[1][2]:
        (s1, a1, _), (s2, a2, _) = mentions[:2]
        parts.append(f"The {s1.feature} {s1.verbs[0]} {a1}, but the {s2.feature} {s2.verbs[0]} {a2}.")
        mentions = mentions[2:]
    for asp, a, _ in mentions:
        parts.append(_pick(rng, _SENTENCES).format(f=asp.feature, a=a, be=asp.verbs[0], feel=asp.verbs[1]))
    parts.append(_pick(rng, _CLOSINGS[rating]))
    return rating, " ".join(parts)


def generate_sample(seed: int = 0, n_users: int = 400, n_items: int = 300) -> Dataset:
    """A seeded synthetic shop (about 30k interactions at the defaults); same seed, identical frames."""
    if n_items < len(_LEAVES) or n_users < 1:
        raise ValueError(f"need n_items >= {len(_LEAVES)} and n_users >= 1, got {n_items}, {n_users}")
    rng = np.random.default_rng(seed)
    cat = _catalog(rng, n_items)
    n_leaves = len(_LEAVES)
    leaf_index = {leaf.path: k for k, leaf in enumerate(_LEAVES)}
    members = [np.flatnonzero(cat.leaf == k) for k in range(n_leaves)]

    affinity = rng.dirichlet(np.full(n_leaves, 0.3), size=n_users)  # (n_users, n_leaves)
    prefs = rng.dirichlet(np.full(len(_FEATURES), 0.4), size=n_users)  # (n_users, n_features)
    thrift = rng.uniform(0.0, 1.0, size=n_users)  # price sensitivity
    # how much a shopper likes an item: their aspect priorities times its aspect quality,
    # normalised by how much of what they care about the item has at all  (n_users, n_items)
    care = np.maximum(prefs @ cat.has.T, 0.15)
    utility = (prefs @ cat.quality.T) / care - thrift[:, None] * cat.price_z[None, :]

    inter: list[tuple[int, int, int, str, float]] = []
    reviews: list[tuple[int, int, float, str, int]] = []
    queries: list[tuple[int, str, int]] = []
    log_pop = np.log(cat.popularity)
    for u in range(n_users):
        n_sessions = 1 + rng.poisson(17)
        first = rng.uniform(0, 0.5 * SPAN_DAYS * DAY)
        starts = np.sort(rng.uniform(first, SPAN_DAYS * DAY, size=n_sessions)).astype(np.int64) + START
        session_leaf = rng.choice(n_leaves, size=n_sessions, p=affinity[u])
        bought = np.zeros(n_items, dtype=bool)
        pending: int | None = None  # last purchase whose complementary leaf is due
        for t, leaf in zip(starts.tolist(), session_leaf.tolist(), strict=True):
            anchor = None
            if pending is not None and rng.random() < 0.7:
                leaf, anchor = leaf_index[_LEAVES[cat.leaf[pending]].next], pending
            pending = None
            cands = members[leaf][~bought[members[leaf]]]
            if len(cands) == 0:
                continue
            logw = log_pop[cands]
            if anchor is not None:  # a lid for that pan: same brand and size are sought out
                logw = logw + np.log(3.0) * (cat.brand[cands] == cat.brand[anchor])
                if cat.size[anchor]:
                    logw = logw + np.where(cat.size[cands] == cat.size[anchor], np.log(8.0), np.log(0.1))
            # Gumbel top-k: a weighted sample without replacement in one vectorised step
            n_views = min(len(cands), 1 + rng.poisson(2.0))
            viewed = cands[np.argsort(-(logw + rng.gumbel(size=len(cands))))[:n_views]]

            if rng.random() < 0.3:
                noun = _LEAVES[leaf].noun.lower()
                top = _FEATURES[int(np.argmax(prefs[u] * cat.has[viewed[0]]))]
                queries.append((u, _pick(rng, (noun, f"{noun} {top}", f"{cat.brand[viewed[0]].lower()} {noun}")), t))
                inter.append((u, int(viewed[0]), t + 5, "click", math.nan))
            for v in viewed.tolist():
                t += int(rng.integers(20, 240))
                inter.append((u, v, t, "view", math.nan))
            # the best-liked viewed item, with noise, is the one that may go to the cart
            pick = int(viewed[np.argmax(utility[u, viewed] + rng.gumbel(0.0, 0.5, size=n_views))])
            fit = float(utility[u, pick])
            if rng.random() > 0.75 / (1.0 + math.exp(-1.5 * fit)):
                continue
            t += int(rng.integers(30, 600))
            inter.append((u, pick, t, "cart", math.nan))
            if rng.random() > 1.0 / (1.0 + math.exp(-(fit + 0.8))):
                continue
            t += int(rng.integers(60, 900))
            inter.append((u, pick, t, "purchase", math.nan))
            bought[pick] = True
            pending = pick if _LEAVES[leaf].next else None
            if rng.random() < 0.5:
                rating, text = _review(rng, _LEAVES[leaf], cat.quality[pick], prefs[u], fit)
                t_rev = t + int(rng.integers(2 * DAY, 14 * DAY))
                inter.append((u, pick, t_rev, "rating", float(rating)))
                if rng.random() < 0.8:  # some shoppers rate without writing anything
                    reviews.append((u, pick, float(rating), text, t_rev))

    return Dataset(
        interactions=pd.DataFrame(inter, columns=["user", "item", "timestamp", "event", "rating"]),
        user_ids=IdMap.from_raw(f"U{u:05d}" for u in range(n_users)),
        item_ids=IdMap.from_raw(f"SKU{i:05d}" for i in range(n_items)),
        reviews=pd.DataFrame(reviews, columns=["user", "item", "rating", "text", "timestamp"]),
        items=cat.frame,
        queries=pd.DataFrame(queries, columns=["user", "query", "timestamp"]),
        name=f"sample-{seed}",
    )
