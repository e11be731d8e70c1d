"""The workspace's SQLite database: one connection per thread, one transaction per write.

The tables are made and upgraded by workbench.storage.migrations when the store opens; the SQL
that reads and writes them lives in the modules beside this one (catalog, activations, streams),
so that no layer above storage needs the connection. Every write is one transaction that is
committed before the call returns, so a tag survives a killed kernel. WAL mode lets a Voila
dashboard read while a JupyterLab kernel writes.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from workbench.core.errors import ConcurrentChangeError
from workbench.storage.migrations import migrate


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """Thin wrapper over one SQLite file; one connection per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        migrate(self._connection(), self.path)

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
        """One write, all or nothing. The writes above make their rows unique inside the
        transaction (BEGIN IMMEDIATE holds the write lock, so what they read there is current);
        should a uniqueness conflict or a lock held past the timeout still reach us, the caller
        gets a ConcurrentChangeError saying to retry instead of sqlite's own exception."""
        con = self._connection()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if _is_concurrent(e):
                raise _concurrent(self.path, e) from e
            raise
        try:
            yield con
        except BaseException as e:
            con.execute("ROLLBACK")
            if isinstance(e, (sqlite3.IntegrityError, sqlite3.OperationalError)) and _is_concurrent(e):
                raise _concurrent(self.path, e) from e
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


def _is_concurrent(error: sqlite3.Error) -> bool:
    """A row another writer made first (a primary key or unique name), or a busy database; not a
    broken CHECK or foreign key, which are bugs and keep sqlite's message."""
    text = str(error).lower()
    return "unique constraint" in text or "locked" in text or "busy" in text


def _concurrent(path: Path, error: sqlite3.Error) -> ConcurrentChangeError:
    if isinstance(error, sqlite3.IntegrityError):
        what = f"another process wrote the same record at the same time ({error})"
    else:
        what = f"the database stayed busy with another process's write for more than 30 s ({error})"
    return ConcurrentChangeError(str(path), what)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
