"""Write the lexicon's plural exceptions: English plurals whose singular the suffix rules get wrong.

`whyrec.explain.aspects.singular` strips suffixes ("batteries" -> "battery"), which is wrong for "movies" ("movy"),
"lenses" ("lense") and "potatoes" ("potatoe"). This lists, from Debian's English word list (wamerican), each plural
whose rule singular is not an English word while another reading of its suffix is ("movie", "lens", "potato"), and
the plurals of -ie nouns whose -y reading is a rarer word ("cookies": "cookie", not "cooky"). The list ships with
the package, so a lexicon's keys do not depend on the machine it was built on. Run from the repository root:

    .venv/bin/python scripts/plurals.py            # writes src/whyrec/explain/lexicon/plurals.tsv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from whyrec.explain.aspects import rule_singular

DICTIONARY = Path("/usr/share/dict/american-english")
OUT = Path("src/whyrec/explain/lexicon/plurals.tsv")
# -ies plurals where both readings are words and the -ie noun is the one a shopper means; the others keep -y
# ("caddies" -> "caddy", "panties" -> "panty").
IE_NOUNS = frozenset(
    {"cookies", "smoothies", "goodies", "nighties", "scrunchies", "pixies", "hankies", "booties", "hoagies",
     "doggies", "kiddies", "hippies", "yuppies", "preppies", "pinkies", "reveries", "junkies", "homies"}
)  # fmt: skip


def exceptions(words: set[str]) -> dict[str, str]:
    """Plural -> singular where the rule's singular is not in `words` (or is the rarer -y of an -ie noun)."""
    out = {}
    for word in sorted(words):
        if not word.endswith("s") or len(word) <= 3:
            continue
        rule = rule_singular(word)
        if rule == word:
            continue
        if word in IE_NOUNS:
            out[word] = word[:-1]
            continue
        if rule in words:
            continue
        # the other readings of the suffix, most literal first: "movies" -> "movie", "lenses" -> "lens"
        readings = [word[:-1]]
        stem = word[:-2]  # -es only after s, z, o ("lenses", "waltzes", "potatoes"), and never onto a plural ("genes")
        if word.endswith("es") and stem.endswith(("s", "z", "o")):
            base = rule_singular(stem)
            if base == stem or base not in words:
                readings.append(stem)
        if word.endswith("ies"):
            readings.append(word[:-3] + "y")
        fixed = next((r for r in readings if r != rule and r in words), None)
        if fixed is not None:
            out[word] = fixed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the table (default {OUT})")
    out = parser.parse_args().out
    text = DICTIONARY.read_text(encoding="utf-8")
    words = {w for w in text.split() if w.isalpha() and w.isascii() and w.islower()}
    table = exceptions(words)
    header = (
        "# Plurals whose singular the suffix rules get wrong, from Debian's wamerican word list (scripts/plurals.py).\n"
        "# plural<TAB>singular, one per line.\n"
    )
    out.write_text(header + "".join(f"{p}\t{s}\n" for p, s in table.items()), encoding="utf-8")
    print(f"{out}: {len(table)} plurals")


if __name__ == "__main__":
    main()
