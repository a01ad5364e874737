"""MovieLens 100K and 1M: ratings, and the movie catalog (title, genres).

100K: `u.data` and the official split files (`u1.base` ... `ub.test`) are `user<TAB>item<TAB>rating<TAB>time`;
`u.item` is `|`-separated, latin-1, with 19 genre flags. 1M: `ratings.dat` is `user::item::rating::time`,
`movies.dat` is `item::title::Genre1|Genre2`, latin-1. A folder stands for its ratings and catalog file.
The catalog lists every rated movie, so when one is read a rating of a movie it lacks is rejected.
Genres become the category, joined with ", " (they are a set, not a path); `u.user`/`users.dat`
(demographics) have no place in a Dataset and are not read.
"""

from __future__ import annotations

from pathlib import Path

from whyrec.data.loaders._common import (
    Collector,
    as_int,
    as_rating,
    catalog_values,
    check_time,
    iter_lines,
    refuse,
)
from whyrec.errors import ConfigError, DataError

SCALE = (1.0, 5.0)
ENCODING = "latin-1"  # both releases' catalogs; their ratings files are ASCII
# u.item's genre flags, in the order of u.genre; "unknown" marks a movie without genre and is no category
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
CATALOG_NAMES = ("u.item", "movies.dat")
DEMOGRAPHICS_NAMES = ("u.user", "users.dat")


def read(into: Collector, paths: list[Path], *, meta: list[Path], mapping: object = None) -> None:
    """Read ratings files, and catalog files (by name, or any file given as `meta`), into `into`."""
    refuse("movielens", mapping=mapping)
    ratings: list[Path] = []
    catalogs = list(meta)
    for p in paths:
        if p.is_dir():
            release = next(
                (names for names in (("u.data", "u.item"), ("ratings.dat", "movies.dat")) if (p / names[0]).is_file()), None
            )
            if release is None:
                raise DataError("no u.data or ratings.dat in this folder", file=p)
            ratings.append(p / release[0])
            catalogs += [p / release[1]] if (p / release[1]).is_file() else []
        elif p.name in CATALOG_NAMES:
            catalogs.append(p)
        elif p.name in DEMOGRAPHICS_NAMES:
            raise ConfigError(f"{p}: user demographics are not loaded; leave this file out")
        else:
            ratings.append(p)
    for path in catalogs:
        _read_catalog(into, path)
    known = set(into.catalog) if catalogs else None
    for path in ratings:
        for row, line in iter_lines(path, into, ENCODING):
            fields = line.split("::") if "::" in line else line.split("\t")
            try:
                if len(fields) != 4:
                    raise DataError(f"expected 4 fields (user, item, rating, time), got {len(fields)}")
                user, item = _movielens_id(fields[0], "user"), _movielens_id(fields[1], "item")
                rating = as_rating(fields[2], "rating", SCALE)
                timestamp = check_time(as_int(fields[3], "timestamp"), "timestamp")
                if known is not None and item not in known:
                    raise DataError(f"movie {item} is not in the catalog", field="item")
            except DataError as err:
                into.reject(err.located(file=path, row=row), line)
                continue
            into.keep_event(path, row, line, user, item, timestamp, "rating", rating)


def _movielens_id(value: str, field: str) -> str:
    """MovieLens ids are positive integers; kept as their digit string."""
    text = value.strip()
    if not text.isdigit() or int(text) == 0:
        raise DataError(f"expected a positive integer id, got {value[:20]!r}", field=field)
    return text


def _read_catalog(into: Collector, path: Path) -> None:
    """u.item (100K) or movies.dat (1M) lines, told apart by their separator, as catalog rows."""
    for row, line in iter_lines(path, into, ENCODING):
        try:
            if "::" in line:  # 1M: item::title::Genre1|Genre2
                fields = line.split("::")
                if len(fields) != 3:
                    raise DataError(f"expected 3 '::'-separated fields (item, title, genres), got {len(fields)}")
                genres = [g for g in fields[2].split("|") if g]
            else:  # 100K: item|title|release|video release|IMDb URL|19 genre flags
                fields = line.split("|")
                if len(fields) != 5 + len(GENRES_100K):
                    raise DataError(f"expected {5 + len(GENRES_100K)} '|'-separated fields, got {len(fields)}")
                flags = fields[5:]
                bad = next((g for g, f in zip(GENRES_100K, flags, strict=True) if f not in ("0", "1")), None)
                if bad is not None:
                    raise DataError("genre flag must be 0 or 1", field=bad)
                genres = [g for g, f in zip(GENRES_100K, flags, strict=True) if f == "1" and g != "unknown"]
            item = _movielens_id(fields[0], "item")
        except DataError as err:
            into.reject(err.located(file=path, row=row), line)
            continue
        title = fields[1].strip() or None
        into.keep_catalog(path, row, line, item, catalog_values(title=title, category=", ".join(genres) or None))
