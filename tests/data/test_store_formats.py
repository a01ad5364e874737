"""Store format upgrades: a format-1 store (before A/B and settings tables) opens, upgrades in place, keeps its rows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from whyrec.data.sample import generate_sample
from whyrec.data.store import _MIGRATIONS, _SCHEMA, STORE_FORMAT, Store


def _downgrade_to_format_1(path: Path) -> None:
    """Turn a current store into what whyrec with STORE_FORMAT 1 wrote: no tables added by migrations."""
    v1 = sqlite3.connect(":memory:")
    v1.executescript(_SCHEMA)
    v1_tables = {r[0] for r in v1.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid DESC")]
    for table in tables:
        if table not in v1_tables:
            conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_format_1_store_is_upgraded_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    sample = generate_sample(seed=1, n_users=40, n_items=30)
    with Store(path) as store:
        store.write_dataset(sample)
        before = store.counts()
    _downgrade_to_format_1(path)
    with Store(path) as store:
        assert store.counts() == before
        store.set_setting("k", "v")
        assert store.setting("k") == "v"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_FORMAT == 1 + len(_MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"settings", "experiments", "exposures"} <= tables


def test_concurrent_openers_upgrade_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    Store(path).close()
    _downgrade_to_format_1(path)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store(path).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == STORE_FORMAT


def test_exposures_go_with_a_deleted_user(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.add_exposures("exp", "{}", [("a", "u1", "i1", 0, 10, "r"), ("a", "u2", "i1", 0, 10, "r2")])
        conn = sqlite3.connect(store.path)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM users WHERE raw = 'u1'")
        conn.commit()
        assert store.exposure_outcomes("exp", 60)["request"].tolist() == ["r2"]
