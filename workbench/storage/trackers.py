"""A smart tracker's records in the workspace's SQLite store: examples, tags, rounds, versions.

Every write is one transaction, committed before it returns (see ``Store``): a tag survives a
killed kernel, and reopening the workspace continues the same round.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from workbench.storage.store import Store, dumps, loads, now_iso

TAG_SCHEMA = {"sentence_id": pl.Int64, "answer": pl.String, "round_number": pl.Int64, "strategy": pl.String,
              "inclusion_prob": pl.Float64, "text": pl.String, "tagged_at": pl.String}


@dataclass(frozen=True)
class StoredRound:
    """A round as stored: its number and its picks ({sentence_id, strategy, inclusion_prob})."""

    number: int
    picks: list[dict]
    trained_version: int | None


class TrainingStore:
    """The examples, tags, rounds and model versions of one tracker."""

    def __init__(self, store: Store, tracker_id: int) -> None:
        self.store = store
        self.tracker_id = tracker_id

    # ------------------------------------------------------------------ examples
    def examples(self) -> list[str]:
        rows = self.store.query("SELECT text FROM examples WHERE tracker_id=? ORDER BY position", (self.tracker_id,))
        return [r["text"] for r in rows]

    def add_examples(self, texts: list[str]) -> list[str]:
        """Append examples after the existing ones; returns those added.

        The positions and the texts already there are read inside the write transaction: two
        processes adding at once both succeed, one after the other, and a text the other one
        has just added is not added twice."""
        added = []
        with self.store.transaction() as con:
            present = {r["text"] for r in con.execute("SELECT text FROM examples WHERE tracker_id=?", (self.tracker_id,))}
            start = con.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM examples WHERE tracker_id=?",
                                (self.tracker_id,)).fetchone()[0]
            for text in texts:
                if text in present:
                    continue
                present.add(text)
                con.execute("INSERT INTO examples(tracker_id, position, text, added_at) VALUES (?,?,?,?)",
                            (self.tracker_id, start + len(added), text, now_iso()))
                added.append(text)
        return added

    def replace_examples(self, texts: list[str]) -> None:
        with self.store.transaction() as con:
            con.execute("DELETE FROM examples WHERE tracker_id=?", (self.tracker_id,))
            for i, text in enumerate(texts):
                con.execute("INSERT INTO examples(tracker_id, position, text, added_at) VALUES (?,?,?,?)",
                            (self.tracker_id, i, text, now_iso()))

    # ------------------------------------------------------------------ tags
    def tags(self) -> pl.DataFrame:
        """Every tag: sentence_id, answer, round_number, strategy, inclusion_prob, text, tagged_at."""
        rows = self.store.query(
            "SELECT sentence_id, answer, round_number, strategy, inclusion_prob, text, tagged_at FROM tags"
            " WHERE tracker_id=? ORDER BY tagged_at, sentence_id", (self.tracker_id,))
        return pl.DataFrame([dict(r) for r in rows], schema=TAG_SCHEMA)

    def answers(self, sentence_ids: list[int]) -> dict[int, str]:
        if not sentence_ids:
            return {}
        return dict(self.store.query(
            f"SELECT sentence_id, answer FROM tags WHERE tracker_id=? AND sentence_id IN ({','.join('?' * len(sentence_ids))})",
            (self.tracker_id, *sentence_ids)))

    def save_tag(self, sentence_id: int, answer: str, text: str) -> None:
        """Tag a sentence, or change its answer. A new tag keeps the round, strategy and
        inclusion probability of the latest round that offered the sentence."""
        origin = self._origin(sentence_id)
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO tags(tracker_id, sentence_id, answer, round_number, strategy, inclusion_prob, text, tagged_at)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(tracker_id, sentence_id) DO UPDATE SET"
                " answer=excluded.answer, tagged_at=excluded.tagged_at",
                (self.tracker_id, sentence_id, answer, origin.get("round"), origin.get("strategy"),
                 origin.get("inclusion_prob"), text, now_iso()),
            )

    def delete_tag(self, sentence_id: int) -> None:
        with self.store.transaction() as con:
            con.execute("DELETE FROM tags WHERE tracker_id=? AND sentence_id=?", (self.tracker_id, sentence_id))

    def _origin(self, sentence_id: int) -> dict:
        for r in reversed(self.rounds()):
            for pick in r.picks:
                if pick["sentence_id"] == sentence_id:
                    return {"round": r.number, **pick}
        return {}

    # ------------------------------------------------------------------ rounds
    def rounds(self) -> list[StoredRound]:
        rows = self.store.query("SELECT * FROM rounds WHERE tracker_id=? ORDER BY number", (self.tracker_id,))
        return [_round(r) for r in rows]

    def latest_round(self) -> StoredRound | None:
        row = self.store.query_one("SELECT * FROM rounds WHERE tracker_id=? ORDER BY number DESC LIMIT 1",
                                   (self.tracker_id,))
        return _round(row) if row else None

    def round(self, number: int) -> StoredRound | None:
        row = self.store.query_one("SELECT * FROM rounds WHERE tracker_id=? AND number=?", (self.tracker_id, number))
        return _round(row) if row else None

    def add_round(self, number: int, picks: list[dict]) -> bool:
        """Store round ``number``; False, storing nothing, when another process stored that
        round (or a later one) first: the caller then shows that round, as every screen on
        the tracker should (two kernels planning at once must not hold different rounds)."""
        with self.store.transaction() as con:
            latest = con.execute("SELECT MAX(number) FROM rounds WHERE tracker_id=?", (self.tracker_id,)).fetchone()[0]
            if latest is not None and latest >= number:
                return False
            con.execute("INSERT INTO rounds(tracker_id, number, created_at, candidates) VALUES (?,?,?,?)",
                        (self.tracker_id, number, now_iso(), dumps(picks)))
        return True

    # ------------------------------------------------------------------ versions
    def versions(self) -> list[dict]:
        """Every model version: version, round_number, run_id, created_at and its metrics (dict)."""
        rows = self.store.query("SELECT * FROM versions WHERE tracker_id=? ORDER BY version", (self.tracker_id,))
        return [{**dict(r), "metrics": loads(r["metrics"])} for r in rows]

    def latest_version(self) -> int | None:
        row = self.store.query_one("SELECT version FROM versions WHERE tracker_id=? ORDER BY version DESC LIMIT 1",
                                   (self.tracker_id,))
        return None if row is None else row["version"]

    def add_imported_tags(self, tags: list[dict]) -> None:
        """Tags a bundle carries (sentence_id, answer, round_number, strategy, inclusion_prob, text,
        tagged_at); a sentence already tagged here keeps its answer."""
        with self.store.transaction() as con:
            con.executemany(
                "INSERT OR IGNORE INTO tags(tracker_id, sentence_id, answer, round_number, strategy, inclusion_prob,"
                " text, tagged_at) VALUES (?,?,?,?,?,?,?,?)",
                [(self.tracker_id, t["sentence_id"], t["answer"], t.get("round_number"), t.get("strategy"),
                  t.get("inclusion_prob"), t["text"], t.get("tagged_at") or now_iso()) for t in tags])

    def add_version(self, version: int, run_id: str | None, round_number: int, metrics: dict) -> None:
        """Record a trained (or imported) version, and mark its round as trained. Recording a
        version again replaces its row: opening the workspace may have adopted it from MLflow
        (workbench.trackers.recovery) while the training that registered it was finishing."""
        with self.store.transaction() as con:
            con.execute("INSERT OR REPLACE INTO versions(tracker_id, version, run_id, round_number, created_at,"
                        " metrics) VALUES (?,?,?,?,?,?)",
                        (self.tracker_id, version, run_id, round_number, now_iso(), dumps(metrics)))
            con.execute("UPDATE rounds SET trained_version=? WHERE tracker_id=? AND number=?",
                        (version, self.tracker_id, round_number))


def _round(row) -> StoredRound:
    return StoredRound(number=row["number"], picks=loads(row["candidates"]), trained_version=row["trained_version"])
