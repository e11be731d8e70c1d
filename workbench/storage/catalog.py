"""The trackers table: one row per tracker (definition, settings, status), and the import log.

A tracker's definition is stored field by field; callers pass and get plain values (the JSON
columns are encoded here), so that this layer needs no tracker classes.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from workbench.storage.store import Store, dumps, now_iso

DEFINITION_FIELDS = ("description", "mentioned_by", "filters", "call_part", "channels")


def _normal_name(name: str) -> str:
    return " ".join(str(name).split())


class TrackerCatalog:
    """The rows of the trackers table of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, kind: str, name: str, definition: dict[str, Any], settings: dict) -> int:
        now = now_iso()
        with self.store.transaction() as con:
            cur = con.execute(
                "INSERT INTO trackers(name, kind, description, mentioned_by, filters, call_part, channels, settings,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (name, kind, definition["description"], definition["mentioned_by"], dumps(definition["filters"]),
                 dumps(list(definition["call_part"])), dumps(definition["channels"]), dumps(settings), now, now))
            return int(cur.lastrowid)

    def get(self, tracker_id: int) -> sqlite3.Row | None:
        return self.store.query_one("SELECT * FROM trackers WHERE id = ?", (int(tracker_id),))

    def find(self, name: str) -> sqlite3.Row | None:
        """The row of the tracker called ``name`` (case and spacing ignored), or None."""
        return self.store.query_one("SELECT * FROM trackers WHERE name = ?", (_normal_name(name),))

    def names(self, *, order: str = "name") -> list[str]:
        """Every tracker's name, by name or (``order="created"``) in the order they were made."""
        by = "created_at, id" if order == "created" else "name"
        return [r["name"] for r in self.store.query(f"SELECT name FROM trackers ORDER BY {by}")]

    def count(self) -> int:
        return int(self.store.query_one("SELECT COUNT(*) AS n FROM trackers")["n"])

    def update_definition(self, tracker_id: int, definition: dict[str, Any]) -> None:
        with self.store.transaction() as con:
            con.execute(
                "UPDATE trackers SET description=?, mentioned_by=?, filters=?, call_part=?, channels=?, updated_at=?"
                " WHERE id=?",
                (definition["description"], definition["mentioned_by"], dumps(definition["filters"]),
                 dumps(list(definition["call_part"])), dumps(definition["channels"]), now_iso(), int(tracker_id)))

    def rename(self, tracker_id: int, name: str) -> None:
        with self.store.transaction() as con:
            con.execute("UPDATE trackers SET name=?, updated_at=? WHERE id=?",
                        (_normal_name(name), now_iso(), int(tracker_id)))

    def update_settings(self, tracker_id: int, settings: dict) -> None:
        with self.store.transaction() as con:
            con.execute("UPDATE trackers SET settings=?, updated_at=? WHERE id=?",
                        (dumps(settings), now_iso(), int(tracker_id)))

    def set_published_version(self, tracker_id: int, version: int) -> None:
        with self.store.transaction() as con:
            con.execute("UPDATE trackers SET published_version=?, updated_at=? WHERE id=?",
                        (int(version), now_iso(), int(tracker_id)))

    def delete(self, tracker_id: int) -> None:
        """Delete the row; examples, rounds, tags, versions and activation go with it (ON DELETE CASCADE)."""
        with self.store.transaction() as con:
            con.execute("DELETE FROM trackers WHERE id=?", (int(tracker_id),))

    # -- what publishing compares: the newest tag against the newest trained version ------------------------
    def last_tagged_at(self, tracker_id: int) -> str | None:
        return self.store.query_one("SELECT MAX(tagged_at) AS at FROM tags WHERE tracker_id=?", (int(tracker_id),))["at"]

    def last_trained_at(self, tracker_id: int) -> str | None:
        return self.store.query_one("SELECT MAX(created_at) AS at FROM versions WHERE tracker_id=?",
                                    (int(tracker_id),))["at"]

    def version_metrics(self, tracker_id: int, version: int) -> str | None:
        """The JSON estimate recorded with a trained version (None when it was not trained here)."""
        row = self.store.query_one("SELECT metrics FROM versions WHERE tracker_id=? AND version=?",
                                   (int(tracker_id), int(version)))
        return row["metrics"] if row is not None else None


class ImportLog:
    """One row per import: where the calls came from and what they added."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, *, calls_source: str, utterances_source: str, generation: int, n_calls: int,
               n_utterances: int, n_sentences: int, skipped_calls: int, replaced_calls: int) -> None:
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO imports(imported_at, calls_source, utterances_source, generation, n_calls,"
                " n_utterances, n_sentences, skipped_calls, replaced_calls) VALUES (?,?,?,?,?,?,?,?,?)",
                (now_iso(), calls_source, utterances_source, generation, n_calls, n_utterances, n_sentences,
                 skipped_calls, replaced_calls))

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.store.query("SELECT * FROM imports ORDER BY id")]
