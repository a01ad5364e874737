"""Deliberately corrupted files: every bad row is named under "raise" and counted under "skip".

The rows are real Amazon 2018 All_Beauty reviews, each broken one way: bad UTF-8, invalid JSON,
a missing field, a wrong type, a rating of 7 on the 1-5 scale, an exact repeat, and a gzip stream
cut short; the metadata has a negative price. read == kept + rejected must hold whatever happens.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whyrec.data.loaders import load
from whyrec.errors import DataError


@pytest.fixture(scope="module")
def real_lines(datasets_dir: Path) -> list[str]:
    """The first 20 All_Beauty reviews: valid and all distinct (the first repeat is at line 558)."""
    with gzip.open(datasets_dir / "amazon2018-all-beauty-5core" / "All_Beauty_5.json.gz", "rt", encoding="utf-8") as f:
        return [next(f).rstrip("\n") for _ in range(20)]


def corrupt(line: str, how: str) -> bytes:
    """One real review line broken one way."""
    record = json.loads(line)
    if how == "utf8":
        return line.replace(record["reviewerID"], record["reviewerID"] + "\udcff", 1).encode("utf-8", "surrogateescape")
    if how == "json":
        return line[: len(line) // 2].encode()
    if how == "missing":
        return json.dumps({k: v for k, v in record.items() if k != "asin"}).encode()
    if how == "type":
        return json.dumps({**record, "overall": "five"}).encode()
    if how == "range":
        return json.dumps({**record, "overall": 7.0}).encode()
    assert how == "none"
    return line.encode()


# what each corruption is reported as: (field, start of the reason)
EXPECTED = {
    "utf8": (None, "invalid utf-8"),
    "json": (None, "invalid JSON"),
    "missing": ("asin", "missing"),
    "type": ("overall", "not a number: 'five'"),
    "range": ("overall", "rating 7 outside the scale 1-5"),
}


def write_gz(path: Path, lines: list[bytes], cut_member: bytes | None = None) -> Path:
    """Lines as one gzip member; optionally a second member cut short (a truncated download)."""
    data = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
    if cut_member is not None:
        data += gzip.compress(cut_member, mtime=0)[:40]  # header and a few deflate bytes: no whole line
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("how", sorted(EXPECTED))
def test_under_raise_the_error_names_file_row_and_field(tmp_path: Path, real_lines: list[str], how: str) -> None:
    path = write_gz(tmp_path / "reviews.json.gz", [real_lines[0].encode(), corrupt(real_lines[1], how), real_lines[2].encode()])
    with pytest.raises(DataError) as err:
        load("amazon", [path])
    field, reason = EXPECTED[how]
    assert (err.value.file, err.value.row, err.value.field) == (str(path), 2, field)
    assert err.value.message.startswith(reason)
    assert str(err.value).startswith(f"{path}, row 2")


def test_under_raise_a_truncated_gzip_names_the_row_it_reached(tmp_path: Path, real_lines: list[str]) -> None:
    path = write_gz(
        tmp_path / "reviews.json.gz", [line.encode() for line in real_lines[:5]], cut_member=real_lines[5].encode() * 20
    )
    with pytest.raises(DataError, match="compressed file is truncated") as err:
        load("amazon", [path])
    assert (err.value.file, err.value.row) == (str(path), 6)


def test_under_raise_a_negative_price_names_the_field(tmp_path: Path, real_lines: list[str]) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"asin": "B0000530HU", "title": "Aftershave", "price": "-$5.00"}) + "\n")
    with pytest.raises(DataError, match="negative price") as err:
        load("amazon", [write_gz(tmp_path / "r.json.gz", [real_lines[0].encode()])], meta=[meta])
    assert (err.value.file, err.value.row, err.value.field) == (str(meta), 1, "price")


def test_under_skip_every_row_is_counted_and_each_reason_listed(tmp_path: Path, real_lines: list[str]) -> None:
    lines = [
        real_lines[0].encode(),
        real_lines[1].encode(),
        *(corrupt(real_lines[i], how) for i, how in zip(range(2, 7), sorted(EXPECTED), strict=True)),
        real_lines[0].encode(),  # an exact repeat of row 1
        real_lines[7].encode(),
    ]
    reviews = write_gz(tmp_path / "reviews.json.gz", lines, cut_member=real_lines[8].encode() * 20)
    meta = tmp_path / "meta.json"
    good = {"asin": "B0000530HU", "title": "Classic Ice Blue Aftershave", "price": "$7.50", "category": ["Beauty", "Men"]}
    meta.write_text("\n".join(json.dumps(r) for r in (good, {**good, "asin": "B00006L9LC", "price": -2.5}, good)) + "\n")
    rejects = tmp_path / "out" / "rejects.jsonl"
    result = load("amazon", [reviews], meta=[meta], on_error="skip", rejects_path=rejects)
    report = result.report
    # reviews: 9 lines + the truncation = 10 rows, 3 kept; metadata: 3 rows, 1 kept
    assert (report.read, report.kept, report.rejected) == (13, 4, 9)
    assert report.rejects_file == str(rejects)
    listed = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(Path(r["file"]).name, r["row"], r["field"]) for r in listed] == [
        ("reviews.json.gz", 3, None),  # json
        ("reviews.json.gz", 4, "asin"),  # missing
        ("reviews.json.gz", 5, "overall"),  # range
        ("reviews.json.gz", 6, "overall"),  # type
        ("reviews.json.gz", 7, None),  # utf8
        ("reviews.json.gz", 8, None),  # the repeat
        ("reviews.json.gz", 10, None),
        ("meta.json", 2, "price"),
        ("meta.json", 3, None),
    ]
    reasons = [r["reason"] for r in listed]
    for start in ("missing", "invalid JSON", "rating 7 outside", "not a number", "invalid utf-8", "duplicate of row 1",
                  "compressed file is truncated", "negative price", "duplicate of row 1"):  # fmt: skip
        assert any(reason.startswith(start) for reason in reasons), start
    assert all(r["raw"] for r in listed if r["row"] != 10)  # the raw line is kept for each bad row
    data = result.dataset
    assert len(data.interactions) == 3 and len(data.items) == 1 and data.items["price"].iloc[0] == 7.5


CORRUPTIONS = st.sampled_from(["none", "none", "none", "dup", *sorted(EXPECTED)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(CORRUPTIONS, min_size=1, max_size=20), st.integers(0, 12))
def test_read_is_always_kept_plus_rejected(tmp_path: Path, real_lines: list[str], hows: list[str], cut: int) -> None:
    """Random corruptions of a valid file, and of its gzip trailer: the counts always add up."""
    lines: list[bytes] = []
    for i, how in enumerate(hows):
        # "dup" repeats the line before it as written, so it is never kept: a repeat, or as broken as its original
        lines.append(lines[-1] if how == "dup" and lines else corrupt(real_lines[i], "none" if how == "dup" else how))
    data = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
    path = tmp_path / "reviews.json.gz"
    path.write_bytes(data[: len(data) - cut])  # cutting up to 8 bytes loses only the CRC/size trailer
    result = load("amazon", [path], on_error="skip")
    report = result.report
    assert report.read == report.kept + report.rejected == len(result.rejects) + report.kept
    n_good = sum(how == "none" or (how == "dup" and i == 0) for i, how in enumerate(hows))
    if cut == 0:
        assert (report.read, report.kept) == (len(hows), n_good)
    elif cut <= 8:
        assert (report.read, report.kept) == (len(hows) + 1, n_good)
        assert result.rejects[-1]["reason"].startswith("compressed file is truncated")
    else:
        assert report.kept <= n_good
    # under "raise" the same file either loads the same or stops at a bad row
    try:
        strict = load("amazon", [path])
    except DataError as err:
        assert err.file == str(path) and err.row is not None
    else:
        assert strict.report == report
