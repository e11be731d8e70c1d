"""The streams tables: saved searches and the calls that entered each, read and notified (queued in
the outbox, workbench.storage.outbox)."""
from __future__ import annotations

import sqlite3

from workbench.storage.store import Store, dumps, now_iso


class StreamRows:
    """The rows of ``streams`` and ``stream_calls`` of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, name: str, search: dict, command: list[str] | None, webhook: str | None,
               *, allow_private: bool = False) -> None:
        with self.store.transaction() as con:
            con.execute("INSERT INTO streams(name, search, command, webhook, allow_private, created_at)"
                        " VALUES (?,?,?,?,?,?)",
                        (name, dumps(search), dumps(command) if command else None, webhook, int(allow_private),
                         now_iso()))

    def by_id(self, stream_id: int) -> sqlite3.Row | None:
        return self.store.query_one("SELECT * FROM streams WHERE id=?", (stream_id,))

    def set_allow_private(self, stream_id: int, allowed: bool) -> None:
        with self.store.transaction() as con:
            con.execute("UPDATE streams SET allow_private=? WHERE id=?", (int(allowed), stream_id))

    def find(self, name: str) -> sqlite3.Row | None:
        return self.store.query_one("SELECT * FROM streams WHERE name=?", (" ".join(str(name).split()),))

    def names(self, *, order: str = "id") -> list[str]:
        by = "name" if order == "name" else "id"
        return [r["name"] for r in self.store.query(f"SELECT name FROM streams ORDER BY {by}")]

    def set_paused(self, stream_id: int, paused: bool) -> None:
        with self.store.transaction() as con:
            con.execute("UPDATE streams SET paused=? WHERE id=?", (int(paused), stream_id))

    def mark_notified(self, stream_id: int, call_ids: list[str]) -> None:
        """Calls that need no notification (they entered while the stream was paused)."""
        now = now_iso()
        with self.store.transaction() as con:
            con.executemany("UPDATE stream_calls SET notified_at=? WHERE stream_id=? AND call_id=?",
                            [(now, stream_id, c) for c in call_ids])

    def set_search(self, stream_id: int, search: dict) -> None:
        with self.store.transaction() as con:
            con.execute("UPDATE streams SET search=? WHERE id=?", (dumps(search), stream_id))

    def delete(self, stream_id: int) -> None:
        with self.store.transaction() as con:
            con.execute("DELETE FROM streams WHERE id=?", (stream_id,))

    # -- the calls of a stream ---------------------------------------------------------------------------------
    def seen(self, stream_id: int) -> set[str]:
        return {r["call_id"] for r in self.store.query("SELECT call_id FROM stream_calls WHERE stream_id=?",
                                                       (stream_id,))}

    def enter(self, stream_id: int, call_ids: list[str], *, read: bool, notified: bool) -> None:
        now = now_iso()
        with self.store.transaction() as con:
            con.executemany(
                "INSERT OR IGNORE INTO stream_calls(stream_id, call_id, entered_at, notified_at, read_at)"
                " VALUES (?,?,?,?,?)",
                [(stream_id, c, now, now if notified else None, now if read else None) for c in call_ids])

    def unread(self, stream_id: int) -> set[str]:
        return {r["call_id"] for r in self.store.query(
            "SELECT call_id FROM stream_calls WHERE stream_id=? AND read_at IS NULL", (stream_id,))}

    def unnotified(self, stream_id: int) -> set[str]:
        return {r["call_id"] for r in self.store.query(
            "SELECT call_id FROM stream_calls WHERE stream_id=? AND notified_at IS NULL", (stream_id,))}

    def mark_read(self, stream_id: int, call_ids: list[str]) -> None:
        now = now_iso()
        with self.store.transaction() as con:
            con.executemany("UPDATE stream_calls SET read_at=? WHERE stream_id=? AND call_id=?",
                            [(now, stream_id, c) for c in call_ids])
            con.execute("UPDATE streams SET last_read_at=? WHERE id=?", (now, stream_id))
