"""Table loader: a shop export as CSV, Parquet and gzipped JSON lines through one column mapping."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from whyrec.data.loaders import TableMapping, load
from whyrec.errors import ConfigError, DataError

# A small shop's event log: a session (search -> view -> cart -> purchase -> rating with a review)
EVENTS = pd.DataFrame(
    {
        "customer": ["c1", "c1", "c1", "c1", "c1", "c2", "c2", "c2"],
        "sku": ["", "JKT-1", "JKT-1", "JKT-1", "JKT-1", "PAN-24", "LID-24", "PAN-24"],
        "when": ["2024-03-01T10:00:00Z", "2024-03-01T10:01:00Z", "2024-03-01T10:05:00Z", "2024-03-01T10:06:00Z",
                 "2024-03-09T08:00:00Z", "2024-03-02T12:00:00+01:00", "2024-03-02T12:00:30+01:00", "2024-03-20"],
        "action": ["search", "view", "cart", "purchase", "rating", "purchase", "purchase", "RATING"],
        "stars": ["", "", "", "", "4", "", "", "5"],
        "review": ["", "", "", "", "Warm, and the zipper is sturdy.", "", "", ""],
        "q": ["rain jacket", "", "", "", "", "", "", ""],
    }
)  # fmt: skip
CATALOG = pd.DataFrame(
    {
        "product_id": ["JKT-1", "PAN-24", "LID-24", "TENT-2"],
        "name": ["Storm Rain Jacket", "Cast Iron Pan 24 cm", "Glass Lid 24 cm", "Two-person Tent"],
        "cat": ["Outdoor/Jackets/Rain", "Kitchen/Pans", "Kitchen/Lids", "Outdoor/Tents"],
        "maker": ["Northwind", "Ferro", "Ferro", ""],
        "cost": ["$89.00", "39.5", "$12.00 - $15.00", ""],
    }
)
MAPPING = TableMapping(
    user="customer", item="sku", timestamp="when", event="action", rating="stars", text="review", query="q",
    title="name", category="cat", brand="maker", price="cost", category_separator="/", catalog_item="product_id",
)  # fmt: skip
EVENTS_ONLY = MAPPING.model_copy(update=dict.fromkeys(("title", "category", "brand", "price"), None))  # no catalog columns


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def shop(tmp_path: Path) -> tuple[Path, Path]:
    events = write_csv(tmp_path / "events.csv", EVENTS.assign(action=EVENTS["action"].replace({"search": "view"})))
    return events, write_csv(tmp_path / "catalog.csv", CATALOG)


def test_csv_events_reviews_queries_and_catalog(tmp_path: Path) -> None:
    events, catalog = shop(tmp_path)
    result = load("table", [events], meta=[catalog], mapping=MAPPING)
    data = result.dataset
    assert (result.report.read, result.report.kept, result.report.rejected) == (8 + 4, 12, 0)
    assert data.user_ids.raw == ("c1", "c2") and data.item_ids.raw == ("JKT-1", "PAN-24", "LID-24", "TENT-2")
    # the search row has no item: it is a query only
    assert data.queries[["user", "query", "timestamp"]].values.tolist() == [[0, "rain jacket", 1709287200]]
    inter = data.interactions
    assert len(inter) == 7
    assert inter.loc[inter["user"] == 0, "event"].tolist() == ["view", "cart", "purchase", "rating"]
    # "+01:00" is honoured, a bare date is midnight UTC, event names are case-insensitive
    assert inter.loc[inter["user"] == 1, "timestamp"].tolist() == [1709377200, 1709377230, 1710892800]
    assert inter.loc[inter["event"] == "rating", "rating"].tolist() == [4.0, 5.0]
    assert data.reviews[["user", "item", "rating", "text"]].values.tolist() == [[0, 0, 4.0, "Warm, and the zipper is sturdy."]]
    items = data.items.set_index("item")
    assert items.loc[0, "category"] == "Outdoor > Jackets > Rain" and items.loc[0, "price"] == 89.0
    assert items.loc[2, "price"] == 12.0 and items.loc[1, "brand"] == "Ferro"
    assert pd.isna(items.loc[3, "brand"]) and pd.isna(items.loc[3, "price"])  # empty cells are unknown


def test_parquet_and_gzipped_jsonl_give_the_same_dataset(tmp_path: Path) -> None:
    events, catalog = shop(tmp_path)
    from_csv = load("table", [events], meta=[catalog], mapping=MAPPING).dataset
    # Parquet with real types: a timestamp column, float ratings, nulls
    typed = EVENTS.replace({"": None}).assign(
        action=EVENTS["action"].replace({"search": "view"}),
        when=pd.to_datetime(EVENTS["when"], utc=True, format="ISO8601"),
        stars=pd.to_numeric(EVENTS["stars"].replace({"": None})),
    )
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), tmp_path / "events.parquet")
    pq.write_table(pa.Table.from_pandas(CATALOG, preserve_index=False), tmp_path / "catalog.parquet")
    from_parquet = load("table", [tmp_path / "events.parquet"], meta=[tmp_path / "catalog.parquet"], mapping=MAPPING).dataset
    # JSON lines, gzipped, with times in milliseconds
    millis = typed.assign(when=typed["when"].astype("int64") // 10**6)
    with gzip.open(tmp_path / "events.jsonl.gz", "wt") as f:
        for rec in millis.to_dict("records"):
            f.write(json.dumps({k: (None if pd.isna(v) else v) for k, v in rec.items()}) + "\n")
    from_jsonl = load("table", [tmp_path / "events.jsonl.gz"], meta=[catalog], mapping=MAPPING).dataset
    for other in (from_parquet, from_jsonl):
        for table in ("interactions", "reviews", "items", "queries"):
            pd.testing.assert_frame_equal(getattr(other, table), getattr(from_csv, table))
        assert other.user_ids == from_csv.user_ids and other.item_ids == from_csv.item_ids


def test_mapping_from_toml_and_its_errors(tmp_path: Path) -> None:
    events, catalog = shop(tmp_path)
    toml = tmp_path / "mapping.toml"
    toml.write_text(
        'user = "customer"\nitem = "sku"\ntimestamp = "when"\nevent = "action"\nrating = "stars"\n'
        'query = "q"\ntitle = "name"\ncatalog_item = "product_id"\n'
    )
    data = load("table", [events], meta=[catalog], mapping=toml).dataset
    assert len(data.interactions) == 7 and data.items["title"].tolist()[0] == "Storm Rain Jacket"
    toml.write_text('user = "customer"\nitme = "sku"\n')
    with pytest.raises(ConfigError, match="field 'itme'"):
        load("table", [events], mapping=toml)
    toml.write_text('default_event = "like"\n')
    with pytest.raises(ConfigError, match="default_event"):
        TableMapping.from_toml(toml)


def test_inline_catalog_columns_and_positions_as_time(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        pd.DataFrame(
            {"user": ["a", "b", "a", "c"], "item": ["x", "x", "y", "x"], "title": ["Kettle", "Kettle", "Mug", "Kettel"]}
        ),
    )
    mapping = TableMapping(timestamp=None, title="title")
    result = load("table", [path], mapping=mapping, on_error="skip")
    data = result.dataset
    assert list(data.interactions["timestamp"]) == [0, 2, 1]  # the row's position; sorted by user
    assert set(data.interactions["event"]) == {"purchase"}  # the default event
    assert data.items["title"].tolist() == ["Kettle", "Mug"]
    # a row that gives an item a different title than an earlier row is rejected, naming the first
    assert [(r["row"], r["field"]) for r in result.rejects] == [(5, "title")]
    assert "different title at" in result.rejects[0]["reason"] and "row 2" in result.rejects[0]["reason"]


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ({"action": "like"}, "action", "unknown event 'like'"),
        ({"action": "purchase", "stars": "4"}, "stars", "carries no rating"),
        ({"action": "rating", "stars": ""}, "stars", "needs a rating"),
        ({"stars": "9", "action": "rating"}, "stars", "outside the scale 1-5"),
        ({"when": "yesterday"}, "when", "not an ISO-8601 time"),
        ({"when": "1710892800000000"}, "when", "future"),
        ({"customer": ""}, "customer", "missing"),
        ({"sku": "", "q": ""}, "sku", r"missing \(and no query either\)"),
    ],
)
def test_bad_rows_name_row_and_column(tmp_path: Path, row: dict, field: str, reason: str) -> None:
    good = {
        "customer": "c1",
        "sku": "JKT-1",
        "when": "2024-03-01T10:00:00Z",
        "action": "view",
        "stars": "",
        "review": "",
        "q": "",
    }
    path = write_csv(tmp_path / "events.csv", pd.DataFrame([good, {**good, **row}]))
    with pytest.raises(DataError, match=reason) as err:
        load("table", [path], mapping=EVENTS_ONLY)
    assert (err.value.file, err.value.row, err.value.field) == (str(path), 3, field)


def test_a_mapped_column_missing_from_the_header_is_named(tmp_path: Path) -> None:
    events, _ = shop(tmp_path)
    with pytest.raises(DataError, match="mapped column") as err:
        load("table", [events], mapping=MAPPING.model_copy(update={"rating": "score"}))
    assert (err.value.row, err.value.field) == (1, "score")
    with pytest.raises(ConfigError, match=r"\.csv, \.tsv, \.parquet or \.jsonl"):
        load("table", [tmp_path / "events.xlsx"])


def test_unit_options_read_seconds_and_milliseconds(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.tsv", pd.DataFrame({"user": ["a"], "item": ["x"], "timestamp": ["1709287200000"]}))
    path.write_text(path.read_text().replace(",", "\t"))
    assert load("table", [path]).dataset.interactions["timestamp"].tolist() == [1709287200]  # auto: ms
    with pytest.raises(DataError, match="milliseconds"):
        load("table", [path], mapping=TableMapping(timestamp_format="unix"))
