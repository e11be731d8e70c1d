"""The workspace's SQLite database: imports, trackers, examples, rounds, tags and versions.

Every write is one transaction that is committed before the call returns, so a tag survives a
killed kernel. WAL mode lets a Voila dashboard read while a JupyterLab kernel writes.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    imported_at TEXT NOT NULL,
    calls_source TEXT NOT NULL,
    utterances_source TEXT NOT NULL,
    generation INTEGER NOT NULL,
    n_calls INTEGER NOT NULL,
    n_utterances INTEGER NOT NULL,
    n_sentences INTEGER NOT NULL,
    skipped_calls INTEGER NOT NULL,
    replaced_calls INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trackers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind TEXT NOT NULL CHECK (kind IN ('smart', 'keyword')),
    description TEXT NOT NULL DEFAULT '',
    mentioned_by TEXT NOT NULL,
    filters TEXT NOT NULL,           -- JSON
    call_part TEXT NOT NULL,         -- JSON
    channels TEXT NOT NULL,          -- JSON list
    settings TEXT NOT NULL,          -- JSON: keyword phrases, classifier settings, seed
    status TEXT NOT NULL DEFAULT 'draft',
    published_version INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS examples (
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (tracker_id, position)
);
CREATE TABLE IF NOT EXISTS rounds (
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    candidates TEXT NOT NULL,        -- JSON list of {sentence_id, strategy, inclusion_prob}
    trained_version INTEGER,         -- model version trained when the round was finished
    PRIMARY KEY (tracker_id, number)
);
CREATE TABLE IF NOT EXISTS tags (
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    sentence_id INTEGER NOT NULL,
    answer TEXT NOT NULL CHECK (answer IN ('yes', 'no', 'not_sure')),
    round_number INTEGER,
    strategy TEXT,
    inclusion_prob REAL,
    text TEXT NOT NULL,
    tagged_at TEXT NOT NULL,
    PRIMARY KEY (tracker_id, sentence_id)
);
CREATE TABLE IF NOT EXISTS versions (
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    run_id TEXT,
    round_number INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    metrics TEXT NOT NULL,           -- JSON
    PRIMARY KEY (tracker_id, version)
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """Thin wrapper over one SQLite file; one connection per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # executescript commits on its own, so it runs outside our transaction; IF NOT EXISTS
        # makes it safe when two processes open the same workspace at once.
        self._connection().executescript(_SCHEMA)
        with self.transaction() as con:
            con.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so each call is one transaction.
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")  # a tag must survive a power cut, not just a crash
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
        return con

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self._connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self._connection().execute(sql, params).fetchone()

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
