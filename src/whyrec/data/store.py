"""The embedded store: one SQLite file holding a shop's users, catalog, events, reviews and feedback.

Raw string ids live in the store; dense indices are made when a `Dataset` is read back, in
first-seen (rowid) order, so the same store always yields the same ids. Natural-key UNIQUE
constraints make re-ingesting a file a no-op, and catalog rows upsert. SQLite (stdlib) is the
one-machine default of DESIGN.md; WAL lets readers (e.g. the server) run beside one writer.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from whyrec.data.schema import EVENT_TYPES, Dataset, IdMap
from whyrec.errors import ArtifactError, DataError

SCRUB_WAIT_MS = 200  # how long one scrub attempt waits for readers before reporting them
APPLICATION_ID = 0x77687972  # "whyr": PRAGMA application_id marks the file as a whyrec store
BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another writer's lock before failing
_CHUNK = 500  # ids per `IN (...)` query, under SQLite's bound-parameter limit

_CATALOG_FIELDS = ("title", "category", "brand", "price", "description")

_SCHEMA = f"""
CREATE TABLE users (
    id  INTEGER PRIMARY KEY,
    raw TEXT NOT NULL UNIQUE
);
CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    raw         TEXT NOT NULL UNIQUE,
    in_catalog  INTEGER NOT NULL DEFAULT 0,  -- 1 once a catalog row (title, ...) was written
    title       TEXT,
    category    TEXT,                        -- path joined with " > "
    brand       TEXT,
    price       REAL,
    description TEXT
);
CREATE TABLE interactions (
    id        INTEGER PRIMARY KEY,
    user      INTEGER NOT NULL REFERENCES users(id),
    item      INTEGER NOT NULL REFERENCES items(id),
    timestamp INTEGER NOT NULL,
    event     TEXT NOT NULL CHECK ({" OR ".join(f"event = '{e}'" for e in EVENT_TYPES)}),  -- OR, not IN (...): cheaper to check per row
    rating    REAL,
    UNIQUE (user, item, timestamp, event)
);
CREATE TABLE reviews (
    id        INTEGER PRIMARY KEY,
    user      INTEGER NOT NULL REFERENCES users(id),
    item      INTEGER NOT NULL REFERENCES items(id),
    rating    REAL,
    text      TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    UNIQUE (user, item, timestamp, text)
);
CREATE TABLE queries (
    id        INTEGER PRIMARY KEY,
    user      INTEGER NOT NULL REFERENCES users(id),
    query     TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    UNIQUE (user, query, timestamp)
);
CREATE TABLE feedback (
    id        INTEGER PRIMARY KEY,
    user      INTEGER NOT NULL REFERENCES users(id),
    item      INTEGER NOT NULL REFERENCES items(id),
    event     TEXT NOT NULL,                -- e.g. "like", "dismiss"
    timestamp INTEGER NOT NULL,
    payload   TEXT NOT NULL DEFAULT '{{}}'  -- JSON object
);
PRAGMA application_id = {APPLICATION_ID};
"""

# Schema changes after format 1, in order: _MIGRATIONS[n] takes a format n+1 store to format n+2.
# A new store runs _SCHEMA and then every migration, so old and new stores end with the same schema.
_MIGRATIONS: tuple[str, ...] = (
    # 2: A/B experiments (whyrec.serve.experiment) and store-level settings such as pseudonymisation
    """
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE experiments (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        config  TEXT NOT NULL,     -- JSON of whyrec.config.Experiment, as first logged
        created INTEGER NOT NULL
    );
    CREATE TABLE exposures (
        id         INTEGER PRIMARY KEY,
        experiment INTEGER NOT NULL REFERENCES experiments(id),
        arm        TEXT NOT NULL,
        user       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        item       INTEGER NOT NULL REFERENCES items(id),
        position   INTEGER NOT NULL,  -- 0-based rank in the response
        timestamp  INTEGER NOT NULL,
        request    TEXT NOT NULL      -- groups the items of one response
    );
    CREATE INDEX exposures_by_experiment ON exposures(experiment, user);
    """,
    # 3: the serve pipeline's reason cache, one reason per (user, item, model version)
    """
    CREATE TABLE reason_cache (
        user    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        item    INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        model   TEXT NOT NULL,     -- version of the artifact that wrote the reason
        payload TEXT NOT NULL,     -- JSON: text, aspects, evidence, flags
        created INTEGER NOT NULL,
        PRIMARY KEY (user, item, model)
    ) WITHOUT ROWID;
    CREATE INDEX reason_cache_by_item ON reason_cache(item);
    """,
    # 4: forgets recorded before an artifact is rewritten, so a crash mid-rewrite is finished at the next start
    """
    CREATE TABLE pending_forgets (
        artifact TEXT NOT NULL,     -- resolved path of the artifact folder
        created  TEXT NOT NULL,     -- the artifact's created stamp: a retrained artifact is not touched
        position INTEGER NOT NULL,  -- the shopper's dense id (line of users.txt) in that artifact; no raw id kept
        PRIMARY KEY (artifact, created, position)
    ) WITHOUT ROWID;
    """,
)
STORE_FORMAT = 1 + len(_MIGRATIONS)  # PRAGMA user_version; add a migration for any schema change


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one by one (executescript would commit the open transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:60]}")


def _text(value: Any) -> str | None:
    """A string cell as TEXT, or NULL for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _real(value: Any) -> float | None:
    """A number cell as REAL, or NULL for None/NaN."""
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f


class Store:
    """A whyrec SQLite store; use as `with Store(path) as s: ...`.

    `create=False` refuses a missing file (for commands that only read an existing store).
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ArtifactError(f"{self.path}: a folder, not a store file")
        if not create and not self.path.exists():
            raise ArtifactError(f"{self.path}: no store here (run `whyrec ingest ... --store {self.path}` first)")
        folder = self.path.parent
        if not self.path.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ArtifactError(f"{self.path}: cannot create a store here ({exc.strerror})") from exc
            if not os.access(folder, os.W_OK):
                raise ArtifactError(f"{self.path}: cannot create a store here (folder {folder} is not writable)")
        # A store in a folder this process cannot write (no room for SQLite's -wal and -shm files) is opened read-only.
        self.read_only = not os.access(folder, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK))
        target = f"file:{self.path.resolve()}?mode=ro" + ("&immutable=1" if not Path(f"{self.path}-wal").exists() else "")
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a write takes the lock up front.
        # check_same_thread=False: the serve pipeline uses one Store per thread but closes them all from one.
        try:
            self._conn = sqlite3.connect(
                target if self.read_only else self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
                uri=self.read_only,
            )
        except sqlite3.OperationalError as exc:
            raise ArtifactError(f"{self.path}: cannot open the store ({exc})") from exc
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ArtifactError(f"{self.path}: not a whyrec store ({exc})") from exc
        except ArtifactError:
            self._conn.close()
            raise

    def _open(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        n_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if app_id == 0 and version == 0 and n_tables == 0:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
            conn.executescript(_SCHEMA + "PRAGMA user_version = 1;")
            version = 1
        elif app_id != APPLICATION_ID:
            raise ArtifactError(f"{self.path}: an SQLite file, but not a whyrec store")
        if not 1 <= version <= STORE_FORMAT:
            raise ArtifactError(
                f"{self.path}: store format {version}, this whyrec reads formats 1 to {STORE_FORMAT}; "
                "re-ingest the data into a new store"
            )
        if self.read_only:
            return
        self._migrate(version)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; commits skip one fsync

    def _migrate(self, version: int) -> None:
        """Bring a store of an older format up to STORE_FORMAT, one transaction per step."""
        conn = self._conn
        for target, script in enumerate(_MIGRATIONS[version - 1 :], start=version + 1):
            with self._write():
                # another process may have upgraded the file while this one waited for the lock
                if conn.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue
                try:
                    for statement in _statements(script):
                        conn.execute(statement)
                except sqlite3.Error as exc:
                    raise ArtifactError(f"{self.path}: could not upgrade the store to format {target} ({exc})") from exc
                conn.execute(f"PRAGMA user_version = {target}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock now, waiting up to the busy timeout."""
        if self.read_only:
            raise ArtifactError(f"{self.path}: the store is read-only here (its folder or file is not writable)")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ArtifactError(f"{self.path}: store is busy with another writer ({exc})") from exc
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # ---- writing -------------------------------------------------------------------------

    def _ids(self, conn: sqlite3.Connection, table: str, raw: Iterable[str]) -> np.ndarray:
        """Insert unseen raw ids (in order) into users/items; return their store ids, aligned with `raw`."""
        raw = [str(r) for r in raw]
        conn.executemany(f"INSERT OR IGNORE INTO {table}(raw) VALUES (?)", ((r,) for r in raw))
        # look up only these ids (through the UNIQUE index), so one live event costs one query, not a table scan
        wanted = list(dict.fromkeys(raw))
        lookup: dict[str, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            lookup.update(conn.execute(f"SELECT raw, id FROM {table} WHERE raw IN ({marks})", chunk))
        return np.fromiter((lookup[r] for r in raw), dtype=np.int64, count=len(raw))

    def write_dataset(self, dataset: Dataset) -> dict[str, int]:
        """Add a dataset's rows in one transaction; return how many rows of each table were new.

        Rows already present (same natural key) are skipped, so writing the same data twice adds
        nothing; catalog fields upsert, a missing (NULL) field never erasing a known one.
        """
        bad = ~dataset.interactions["event"].isin(EVENT_TYPES)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"unknown event {dataset.interactions['event'].iloc[row]!r} (expected one of {', '.join(EVENT_TYPES)})",
                file=dataset.name or None,
                row=row + 1,
                field="event",
            )
        added: dict[str, int] = {}
        with self._write() as conn:

            def count(table: str) -> int:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

            before = {t: count(t) for t in ("users", "items", "interactions", "reviews", "queries")}
            users = self._ids(conn, "users", dataset.user_ids.raw)
            items = self._ids(conn, "items", dataset.item_ids.raw)

            cat = dataset.items
            conn.executemany(
                "UPDATE items SET in_catalog = 1, "
                + ", ".join(f"{f} = COALESCE(?, {f})" for f in _CATALOG_FIELDS)
                + " WHERE id = ?",
                zip(
                    map(_text, cat["title"]),
                    map(_text, cat["category"]),
                    map(_text, cat["brand"]),
                    map(_real, cat["price"]),
                    map(_text, cat["description"]),
                    items[cat["item"].to_numpy()].tolist(),
                    strict=True,
                ),
            )
            inter = dataset.interactions
            conn.executemany(
                "INSERT OR IGNORE INTO interactions(user, item, timestamp, event, rating) VALUES (?, ?, ?, ?, ?)",
                zip(
                    users[inter["user"].to_numpy()].tolist(),
                    items[inter["item"].to_numpy()].tolist(),
                    inter["timestamp"].tolist(),
                    inter["event"].tolist(),
                    map(_real, inter["rating"].tolist()),
                    strict=True,
                ),
            )
            rev = dataset.reviews
            conn.executemany(
                "INSERT OR IGNORE INTO reviews(user, item, rating, text, timestamp) VALUES (?, ?, ?, ?, ?)",
                zip(
                    users[rev["user"].to_numpy()].tolist(),
                    items[rev["item"].to_numpy()].tolist(),
                    map(_real, rev["rating"].tolist()),
                    # NULLs are distinct under UNIQUE, so a missing text is stored as '' to keep dedup working
                    (_text(t) or "" for t in rev["text"]),
                    rev["timestamp"].tolist(),
                    strict=True,
                ),
            )
            q = dataset.queries
            conn.executemany(
                "INSERT OR IGNORE INTO queries(user, query, timestamp) VALUES (?, ?, ?)",
                zip(users[q["user"].to_numpy()].tolist(), q["query"].astype(str).tolist(), q["timestamp"].tolist(), strict=True),
            )
            for table, n in before.items():
                added[table] = count(table) - n
        return added

    def add_events(self, events: Iterable[tuple[str, str, int, str, float | None]]) -> list[int]:
        """Append (user, item, timestamp, event, rating) events by raw id; new users/items are created.

        Returns the positions (0-based, in `events`) of the events that were new: repeats of stored
        events, and of earlier ones in the same batch, are not. The serve stage folds in exactly these.
        """
        rows = list(events)
        for n, (_, _, _, event, _) in enumerate(rows, start=1):
            if event not in EVENT_TYPES:
                raise DataError(f"unknown event {event!r} (expected one of {', '.join(EVENT_TYPES)})", row=n, field="event")
        with self._write() as conn:
            users = self._ids(conn, "users", (r[0] for r in rows))
            items = self._ids(conn, "items", (r[1] for r in rows))
            insert = "INSERT OR IGNORE INTO interactions(user, item, timestamp, event, rating) VALUES (?, ?, ?, ?, ?)"
            return [
                n
                for n, (u, i, r) in enumerate(zip(users, items, rows, strict=True))
                if conn.execute(insert, (int(u), int(i), int(r[2]), r[3], _real(r[4]))).rowcount
            ]

    def add_feedback(self, user: str, item: str, event: str, *, timestamp: int | None = None, payload: dict | None = None) -> int:
        """Record one feedback event (e.g. "like", "dismiss" on a recommendation); returns its row id."""
        with self._write() as conn:
            (uid,) = self._ids(conn, "users", [user])
            (iid,) = self._ids(conn, "items", [item])
            cur = conn.execute(
                "INSERT INTO feedback(user, item, event, timestamp, payload) VALUES (?, ?, ?, ?, ?)",
                (
                    int(uid),
                    int(iid),
                    event,
                    int(time.time()) if timestamp is None else int(timestamp),
                    json.dumps(payload or {}, ensure_ascii=False),
                ),
            )
            return int(cur.lastrowid)

    def upsert_item(self, item: str, **fields: Any) -> None:
        """Create or update one catalog row; fields are among title, category, brand, price, description."""
        unknown = set(fields) - set(_CATALOG_FIELDS)
        if unknown:
            raise DataError(f"unknown catalog field(s) {sorted(unknown)}", field=sorted(unknown)[0])
        with self._write() as conn:
            (iid,) = self._ids(conn, "items", [item])
            values = [_real(fields[f]) if f == "price" else _text(fields[f]) for f in fields]
            sets = "".join(f", {f} = ?" for f in fields)
            conn.execute(f"UPDATE items SET in_catalog = 1{sets} WHERE id = ?", (*values, int(iid)))

    # ---- reading -------------------------------------------------------------------------

    def read_dataset(self, name: str = "") -> Dataset:
        """The whole store as a Dataset; dense ids follow first-seen (rowid) order, so reads are deterministic."""
        conn = self._conn
        user_rows = conn.execute("SELECT id, raw FROM users ORDER BY id").fetchall()
        item_rows = conn.execute("SELECT id, raw FROM items ORDER BY id").fetchall()
        user_sid = np.array([r[0] for r in user_rows], dtype=np.int64)
        item_sid = np.array([r[0] for r in item_rows], dtype=np.int64)

        def frame(sql: str) -> pd.DataFrame:
            df = pd.read_sql_query(sql, conn)
            # store ids -> dense indices; ids are sorted (ORDER BY id), so searchsorted finds each one
            if "user" in df:
                df["user"] = np.searchsorted(user_sid, df["user"].to_numpy(dtype=np.int64))
            if "item" in df:
                df["item"] = np.searchsorted(item_sid, df["item"].to_numpy(dtype=np.int64))
            return df

        items = frame("SELECT id AS item, " + ", ".join(_CATALOG_FIELDS) + " FROM items WHERE in_catalog = 1 ORDER BY id")
        # ratings are NULL for non-rating events; astype(float) turns an all-NULL object column into NaNs
        inter = frame("SELECT user, item, timestamp, event, rating FROM interactions ORDER BY id")
        inter["rating"] = inter["rating"].astype("float64")
        reviews = frame("SELECT user, item, rating, text, timestamp FROM reviews ORDER BY id")
        reviews["rating"] = reviews["rating"].astype("float64")
        items["price"] = items["price"].astype("float64")
        return Dataset(
            interactions=inter,
            user_ids=IdMap(tuple(r[1] for r in user_rows)),
            item_ids=IdMap(tuple(r[1] for r in item_rows)),
            reviews=reviews,
            items=items,
            queries=frame("SELECT user, query, timestamp FROM queries ORDER BY id"),
            name=name,
        )

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Every catalog row by raw item id: title, category, brand, price (None when unknown), description."""
        rows = self._conn.execute("SELECT raw, " + ", ".join(_CATALOG_FIELDS) + " FROM items WHERE in_catalog = 1")
        return {r[0]: dict(zip(_CATALOG_FIELDS, r[1:], strict=True)) for r in rows}

    def counts(self) -> dict[str, int]:
        """Rows per table, plus `catalog_items` (items with a catalog row)."""
        out = {
            t: self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("users", "items", "interactions", "reviews", "queries", "feedback")
        }
        out["catalog_items"] = self._conn.execute("SELECT count(*) FROM items WHERE in_catalog = 1").fetchone()[0]
        return out

    def feedback(self) -> list[dict[str, Any]]:
        """All feedback events in the order recorded, with raw ids and the payload decoded."""
        rows = self._conn.execute(
            "SELECT u.raw, i.raw, f.event, f.timestamp, f.payload FROM feedback f "
            "JOIN users u ON u.id = f.user JOIN items i ON i.id = f.item ORDER BY f.id"
        )
        return [{"user": u, "item": i, "event": e, "timestamp": t, "payload": json.loads(p)} for u, i, e, t, p in rows]

    def sparsity(self) -> float:
        """1 - (distinct user-item pairs with an interaction) / (users x items); 1.0 for an empty store."""
        c = self.counts()
        cells = c["users"] * c["items"]
        if cells == 0:
            return 1.0
        pairs = self._conn.execute("SELECT count(*) FROM (SELECT DISTINCT user, item FROM interactions)").fetchone()[0]
        return 1.0 - pairs / cells

    def event_histogram(self) -> dict[str, int]:
        """Interactions per event type, in EVENT_TYPES order (zero counts included)."""
        found = dict(self._conn.execute("SELECT event, count(*) FROM interactions GROUP BY event"))
        return {e: int(found.get(e, 0)) for e in EVENT_TYPES}

    def rating_histogram(self) -> dict[str, int]:
        """Rated interactions per rating value (as a string key, e.g. "4" or "3.5"), ascending."""
        rows = self._conn.execute(
            "SELECT rating, count(*) FROM interactions WHERE rating IS NOT NULL GROUP BY rating ORDER BY rating"
        )
        return {f"{r:g}": int(n) for r, n in rows}

    def review_texts(self, limit: int, seed: int = 0) -> list[str]:
        """Up to `limit` non-empty review texts, a seeded uniform sample so stats stay fast on big stores."""
        ids = np.array([r[0] for r in self._conn.execute("SELECT id FROM reviews WHERE text != ''")], dtype=np.int64)
        if len(ids) > limit:
            ids = np.sort(np.random.default_rng(seed).choice(ids, size=limit, replace=False))
        texts: list[str] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK].tolist()
            marks = ", ".join("?" * len(chunk))
            texts += [t for (t,) in self._conn.execute(f"SELECT text FROM reviews WHERE id IN ({marks}) ORDER BY id", chunk)]
        return texts

    # ---- settings and A/B experiments ---------------------------------------------------------

    def setting(self, key: str) -> str | None:
        """A store-level setting (e.g. how user ids were pseudonymised), or None when unset."""
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_setting(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def add_exposures(self, experiment: str, config: str, rows: Iterable[tuple[str, str, str, int, int, str]]) -> int:
        """Log (arm, user, item, position, timestamp, request) exposures by raw id; returns how many were written.

        The experiment is created on first use with `config` (its JSON); later calls keep the first config.
        """
        rows = list(rows)
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments(name, config, created) VALUES (?, ?, ?)",
                (experiment, config, int(time.time())),
            )
            (eid,) = conn.execute("SELECT id FROM experiments WHERE name = ?", (experiment,)).fetchone()
            users = self._ids(conn, "users", (r[1] for r in rows))
            items = self._ids(conn, "items", (r[2] for r in rows))
            conn.executemany(
                "INSERT INTO exposures(experiment, arm, user, item, position, timestamp, request) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((eid, r[0], int(u), int(i), int(r[3]), int(r[4]), r[5]) for u, i, r in zip(users, items, rows, strict=True)),
            )
        return len(rows)

    def experiments(self) -> dict[str, str]:
        """Logged experiments: name -> config JSON, oldest first."""
        return dict(self._conn.execute("SELECT name, config FROM experiments ORDER BY id"))

    def exposure_outcomes(self, experiment: str, window_s: int) -> pd.DataFrame:
        """One row per exposure of `experiment`: arm, user (store id), item, timestamp, and whether the user
        clicked / purchased that item within `window_s` seconds after it was shown (0/1)."""
        return pd.read_sql_query(
            """
            SELECT e.arm, e.user, e.item, e.timestamp, e.request,
                   EXISTS (SELECT 1 FROM interactions i WHERE i.user = e.user AND i.item = e.item AND i.event = 'click'
                           AND i.timestamp BETWEEN e.timestamp AND e.timestamp + :w) AS clicked,
                   EXISTS (SELECT 1 FROM interactions i WHERE i.user = e.user AND i.item = e.item AND i.event = 'purchase'
                           AND i.timestamp BETWEEN e.timestamp AND e.timestamp + :w) AS purchased
            FROM exposures e JOIN experiments x ON x.id = e.experiment
            WHERE x.name = :name ORDER BY e.id
            """,
            self._conn,
            params={"w": int(window_s), "name": experiment},
        )

    def popular_items(self, n: int) -> list[str]:
        """Raw ids of the `n` items with the most interactions, most first (ties by first seen)."""
        rows = self._conn.execute(
            "SELECT i.raw FROM interactions x JOIN items i ON i.id = x.item GROUP BY x.item ORDER BY count(*) DESC, x.item LIMIT ?",
            (n,),
        )
        return [r for (r,) in rows]

    # ---- serving: per-user reads, the reason cache, forgetting a user ------------------------------

    def user_events(self, user: str) -> list[dict[str, Any]]:
        """One user's interactions by raw id, oldest first: item, event, timestamp, rating."""
        rows = self._conn.execute(
            "SELECT i.raw, x.event, x.timestamp, x.rating FROM interactions x JOIN items i ON i.id = x.item "
            "WHERE x.user = (SELECT id FROM users WHERE raw = ?) ORDER BY x.timestamp, x.id",
            (user,),
        )
        return [{"item": i, "event": e, "timestamp": t, "rating": r} for i, e, t, r in rows]

    def user_reviews(self, user: str) -> list[dict[str, Any]]:
        """One user's reviews by raw id, oldest first: item, rating, text, timestamp."""
        rows = self._conn.execute(
            "SELECT i.raw, r.rating, r.text, r.timestamp FROM reviews r JOIN items i ON i.id = r.item "
            "WHERE r.user = (SELECT id FROM users WHERE raw = ?) ORDER BY r.timestamp, r.id",
            (user,),
        )
        return [{"item": i, "rating": g, "text": t, "timestamp": s} for i, g, t, s in rows]

    def cached_reasons(self, user: str, items: Iterable[str], model: str) -> dict[str, dict[str, Any]]:
        """Cached reason payloads of `model` for (user, item) pairs, by raw item id (absent = not cached)."""
        wanted = list(dict.fromkeys(items))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT i.raw, c.payload FROM reason_cache c JOIN items i ON i.id = c.item "
                f"WHERE c.user = (SELECT id FROM users WHERE raw = ?) AND c.model = ? AND i.raw IN ({marks})",
                (user, model, *chunk),
            )
            found.update((i, json.loads(p)) for i, p in rows)
        return found

    def put_reasons(self, user: str, model: str, reasons: dict[str, dict[str, Any]]) -> None:
        """Cache reason payloads (raw item id -> JSON-able dict) for one user and model version.

        Only users and items the store knows are cached: reading recommendations never creates a user.
        """
        if not reasons:
            return
        now = int(time.time())
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO reason_cache(user, item, model, payload, created) "
                "SELECT u.id, i.id, ?, ?, ? FROM users u, items i WHERE u.raw = ? AND i.raw = ?",
                ((model, json.dumps(p, ensure_ascii=False), now, user, item) for item, p in reasons.items()),
            )

    def reason_counts(self, model: str) -> dict[str, int]:
        """Cached reasons per raw user under one model version, its A/B arms' ("model:arm") included."""
        rows = self._conn.execute(
            "SELECT u.raw, count(*) FROM reason_cache c JOIN users u ON u.id = c.user "
            "WHERE c.model = ? OR substr(c.model, 1, ?) = ? GROUP BY c.user",
            (model, len(model) + 1, model + ":"),
        )
        return {u: int(n) for u, n in rows}

    def drop_reasons(self, items: Iterable[str]) -> int:
        """Invalidate cached reasons about these items (any model, any user); returns rows removed."""
        return self._each_chunk("DELETE FROM reason_cache WHERE item IN (SELECT id FROM items WHERE raw IN ({marks}))", items)

    def stale_attributions(self, users: Iterable[str]) -> int:
        """Drop the recommender's credit ("because you bought ...") from these users' cached payloads, keeping their
        reasons: a shopper's new events change what the model credits, not what a reasoner wrote. Returns rows changed."""
        return self._each_chunk(
            "UPDATE reason_cache SET payload = json_remove(payload, '$.attribution') WHERE user IN "
            "(SELECT id FROM users WHERE raw IN ({marks})) AND json_type(payload, '$.attribution') IS NOT NULL",
            users,
        )

    def _each_chunk(self, statement: str, raw: Iterable[str]) -> int:
        """Run `statement` (its `{marks}` the placeholders of one chunk of raw ids) over `raw` in one transaction; rows changed."""
        raw, changed = list(raw), 0
        with self._write() as conn:
            for start in range(0, len(raw), _CHUNK):
                chunk = raw[start : start + _CHUNK]
                changed += conn.execute(statement.format(marks=", ".join("?" * len(chunk))), chunk).rowcount
        return changed

    def forget_user(self, user: str, pending: tuple[str, str, int] | None = None) -> dict[str, int]:
        """Delete everything the store holds about one user; returns rows removed per table.

        Deleted content is overwritten (secure_delete); `scrub` then clears it from the WAL. `pending`
        (artifact, created, position) records, in the same transaction, that the artifact still holds
        the user, so a crash before its rewrite finishes is completed at the next start.
        """
        tables = ("interactions", "reviews", "queries", "feedback", "reason_cache", "exposures")
        removed = dict.fromkeys((*tables, "users"), 0)
        self._conn.execute("PRAGMA secure_delete = ON")
        try:
            with self._write() as conn:
                row = conn.execute("SELECT id FROM users WHERE raw = ?", (user,)).fetchone()
                if row is not None:
                    for table in tables:
                        removed[table] = conn.execute(f"DELETE FROM {table} WHERE user = ?", row).rowcount
                    removed["users"] = conn.execute("DELETE FROM users WHERE id = ?", row).rowcount
                if pending is not None:
                    conn.execute("INSERT OR IGNORE INTO pending_forgets(artifact, created, position) VALUES (?, ?, ?)", pending)
        finally:
            self._conn.execute("PRAGMA secure_delete = OFF")
        return removed

    def pending_forgets(self, artifact: str, created: str) -> list[int]:
        """Positions of shoppers forgotten in the store whose removal from this artifact may not have finished."""
        rows = self._conn.execute(
            "SELECT position FROM pending_forgets WHERE artifact = ? AND created = ? ORDER BY position", (artifact, created)
        )
        return [p for (p,) in rows]

    def clear_forgets(self, artifact: str, created: str, positions: Iterable[int] | None = None) -> None:
        """Drop pending forgets of `artifact` once its rewrite is on disk: these `positions` of the `created`
        artifact, or, without positions, those recorded for artifacts of other `created` stamps (since retrained)."""
        if positions is None:
            stale = "FROM pending_forgets WHERE artifact = ? AND created != ?"
            if not self._conn.execute(f"SELECT count(*) {stale}", (artifact, created)).fetchone()[0]:
                return  # nothing to do, so a read-only store can be served too
            with self._write() as conn:
                conn.execute(f"DELETE {stale}", (artifact, created))
            return
        with self._write() as conn:
            conn.executemany(
                "DELETE FROM pending_forgets WHERE artifact = ? AND created = ? AND position = ?",
                ((artifact, created, int(p)) for p in positions),
            )

    def scrub(self) -> int:
        """Move the WAL into the main file and truncate it, so deleted rows survive in no file; 0 when done.

        Waits at most SCRUB_WAIT_MS for readers; while one holds an older snapshot the WAL cannot be
        emptied, and the number of readers seen is returned (at least 1) so the caller retries later.
        """
        if self.read_only:
            return 0  # nothing was deleted through a read-only store
        self._conn.execute(f"PRAGMA busy_timeout = {SCRUB_WAIT_MS}")
        try:
            busy, log, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if busy == 0 and log <= 0:
            return 0
        return max(1, wal_readers(self.path))


def wal_readers(path: Path) -> int:
    """How many of SQLite's five WAL read slots other processes hold on this store (0 when unknown).

    SQLite's unix VFS marks a reader with a shared lock on one byte of the -shm file (offset 123 + slot);
    readers in this process share its locks and are not seen, nor readers sharing one slot.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return 0
    held = 0
    try:
        with open(f"{path}-shm", "rb") as shm:
            for slot in range(5):
                probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 123 + slot, 1, 0)
                if struct.unpack("hhqqi", fcntl.fcntl(shm.fileno(), fcntl.F_GETLK, probe))[0] != fcntl.F_UNLCK:
                    held += 1
    except OSError:
        return 0
    return held
