"""The loaders' shared field checks: prices, tags, times, ids, and the duplicate policy of the row counts."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whyrec.data.loaders import TableMapping, load
from whyrec.data.loaders._common import (
    MIN_TIME,
    as_id,
    as_int,
    as_rating,
    category_path,
    check_time,
    parse_iso_time,
    parse_price,
    strip_html,
)
from whyrec.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("value", "expected"),
    [("$25.00", 25.0), ("$1,299.99", 1299.99), ("$10.00 - $20.00", 10.0), ("7", 7.0), (12.5, 12.5), (0, 0.0)],
)
def test_prices_parse_and_ranges_give_their_low_end(value: object, expected: float) -> None:
    assert parse_price(value) == expected


@pytest.mark.parametrize("value", ["", "   ", None])
def test_an_empty_price_is_unknown(value: object) -> None:
    assert math.isnan(parse_price(value))


@pytest.mark.parametrize(("value", "reason"), [("-$5.00", "negative price"), (-3, "negative price"), ("call us", "not a price")])
def test_bad_prices_name_the_field(value: object, reason: str) -> None:
    with pytest.raises(DataError, match=reason) as err:
        parse_price(value)
    assert err.value.field == "price"


@given(st.decimals(min_value=0, max_value=10**6, places=2), st.decimals(min_value=0, max_value=10**6, places=2))
def test_a_price_range_parses_to_its_first_price(low: object, high: object) -> None:
    assert parse_price(f"${low:,} - ${high:,}") == pytest.approx(float(low))


def test_strip_html_removes_tags_fragments_and_entities() -> None:
    # titles and descriptions as the 2018 Magazine_Subscriptions metadata holds them
    assert strip_html('<span class="a-size-medium a-color-secondary"') == ""
    assert strip_html(' Magazines" />') == ""
    assert strip_html("Designed for <i>Maximum PC</i> fans, tips &amp; tricks") == "Designed for Maximum PC fans, tips & tricks"
    assert strip_html("Plain   title\n") == "Plain title"


@given(st.text(alphabet=st.sampled_from(list('ab <>/"=i\n')), max_size=40))
def test_strip_html_leaves_no_tag_and_is_idempotent(text: str) -> None:
    # no "&" in the alphabet: an entity like "&lt;b&gt;" rightly decodes to text that looks like a tag
    out = strip_html(text)
    assert re.search(r"<[^<>]*>", out) is None
    assert strip_html(out) == out


def test_category_path_joins_strips_and_merges_repeats() -> None:
    assert category_path(["Gift Cards", "Gift Cards", "Restaurants"], "category") == "Gift Cards > Restaurants"
    assert category_path(["Professional &amp; Trade", "</span></span>"], "category") == "Professional & Trade"
    assert category_path([], "category") is None
    with pytest.raises(DataError, match="list of strings"):
        category_path("Books", "category")  # type: ignore[arg-type]


def test_ids_ratings_and_integers() -> None:
    assert as_id(" A3CIUOJXQ5VDQ2 ", "reviewerID") == "A3CIUOJXQ5VDQ2"
    assert as_id(42, "uid") == "42"
    for bad in ("", "  ", None, 4.0, True):
        with pytest.raises(DataError):
            as_id(bad, "user")
    assert as_rating("4", "overall", (1, 5)) == 4.0
    with pytest.raises(DataError, match="outside the scale 1-5") as err:
        as_rating(7, "overall", (1, 5))
    assert err.value.field == "overall"
    for bad in ("five", float("nan"), True, [5]):
        with pytest.raises(DataError):
            as_rating(bad, "overall", (1, 5))
    assert as_int("881250949", "t") == 881250949
    with pytest.raises(DataError):
        as_int("12.5", "t")


def test_times_outside_shop_history_are_refused_with_a_unit_hint() -> None:
    assert check_time(1472688000, "unixReviewTime") == 1472688000
    with pytest.raises(DataError, match="before 1990"):
        check_time(MIN_TIME - 1, "t")
    with pytest.raises(DataError, match="milliseconds"):
        check_time(1472688000 * 1000, "t")
    assert parse_iso_time("2016-09-01", "t") == 1472688000
    assert parse_iso_time("2016-09-01T02:00:00+02:00", "t") == 1472688000


@given(st.datetimes(min_value=datetime(1990, 1, 2), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_iso_times_round_trip_to_unix_seconds(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert parse_iso_time(moment.isoformat(), "t") == int(moment.timestamp())
    assert parse_iso_time(moment.replace(tzinfo=None).isoformat(), "t") == int(moment.timestamp())  # naive = UTC


def _ml_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "u.data"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_exact_repeats_are_set_aside_by_default_and_bad_rows_under_reject(tmp_path: Path) -> None:
    path = _ml_file(tmp_path, ["1\t10\t4\t881250949", "2\t10\t5\t881250950", "1\t10\t4\t881250949"])
    dropped = load("movielens", [path])  # on_error="raise": a repeat is no error
    assert (dropped.report.read, dropped.report.kept, dropped.report.rejected) == (3, 2, 1)
    assert dropped.rejects[0]["reason"] == "duplicate of row 1" and dropped.rejects[0]["row"] == 3
    with pytest.raises(DataError, match="duplicate of row 1") as err:
        load("movielens", [path], duplicates="reject")
    assert (err.value.file, err.value.row) == (str(path), 3)
    with pytest.raises(ConfigError, match="duplicates"):
        load("movielens", [path], duplicates="keep")  # type: ignore[arg-type]


def test_rejects_are_written_only_when_a_path_is_given(tmp_path: Path) -> None:
    path = _ml_file(tmp_path, ["1\t10\t4\t881250949", "2\t10\t9\t881250950"])
    in_memory = load("movielens", [path], on_error="skip")
    assert in_memory.report.rejects_file is None and in_memory.rejects[0]["field"] == "rating"
    written = load("movielens", [path], on_error="skip", rejects_path=tmp_path / "out" / "rejects.jsonl")
    assert written.report.rejects_file == str(tmp_path / "out" / "rejects.jsonl")
    assert (tmp_path / "out" / "rejects.jsonl").read_text().count("\n") == 1


def test_unknown_format_and_missing_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="amazon, movielens, p5, xrec, peter, table"):
        load("csv", [tmp_path / "x.csv"])
    with pytest.raises(ConfigError, match="at least one path"):
        load("amazon", [])
    with pytest.raises(DataError, match="file not found"):
        load("amazon", [tmp_path / "nope.json.gz"])
    with pytest.raises(ConfigError, match="no metadata"):
        load("p5", [tmp_path], meta=[tmp_path / "m.json"])
    with pytest.raises(ConfigError, match="no column mapping"):
        load("amazon", [tmp_path / "r.json"], mapping=TableMapping(user="reviewerID"))
