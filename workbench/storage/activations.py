"""The activation tables: which published version of a tracker is live, over which scope and
window, where its detections are, and the new calls it could not score yet (not embedded)."""
from __future__ import annotations

import sqlite3

from workbench.storage.store import Store, dumps, now_iso

_RATE_KEY = "activation.rate"


class ActivationRows:
    """The rows of ``activations`` and ``activation_pending`` of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, tracker_id: int) -> sqlite3.Row | None:
        return self.store.query_one("SELECT * FROM activations WHERE tracker_id=?", (int(tracker_id),))

    def activated(self, *, active_only: bool = False) -> list[sqlite3.Row]:
        """The activations with their tracker's name and kind, oldest tracker first."""
        where = " WHERE a.active = 1" if active_only else ""
        return self.store.query("SELECT a.*, t.name, t.kind FROM activations a JOIN trackers t ON t.id = a.tracker_id"
                                f"{where} ORDER BY t.id")

    def save(self, tracker_id: int, *, active: bool, version: int, definition: dict, backfill_months: int,
             window_start: str, run_dir: str, reactivate: bool) -> None:
        """Point the tracker at a new run folder in one transaction, with its status and
        published version. ``reactivate`` also restarts the activation (and drops pending calls)."""
        now = now_iso()
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO activations(tracker_id, active, version, definition, backfill_months, window_start,"
                " run_dir, activated_at, deactivated_at, updated_at) VALUES (?,?,?,?,?,?,?,?,NULL,?)"
                " ON CONFLICT(tracker_id) DO UPDATE SET active=excluded.active, version=excluded.version,"
                " definition=excluded.definition, backfill_months=excluded.backfill_months,"
                " window_start=excluded.window_start, run_dir=excluded.run_dir, updated_at=excluded.updated_at",
                (tracker_id, int(active), version, dumps(definition), backfill_months, window_start, run_dir, now, now))
            if reactivate:
                con.execute("UPDATE activations SET activated_at=?, deactivated_at=NULL WHERE tracker_id=?",
                            (now, tracker_id))
                con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (tracker_id,))
            con.execute("UPDATE trackers SET status=?, published_version=?, updated_at=? WHERE id=?",
                        ("active" if active else "inactive", version, now, tracker_id))

    def deactivate(self, tracker_id: int) -> None:
        now = now_iso()
        with self.store.transaction() as con:
            con.execute("UPDATE activations SET active=0, deactivated_at=?, updated_at=? WHERE tracker_id=?",
                        (now, now, tracker_id))
            con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (tracker_id,))
            con.execute("UPDATE trackers SET status='inactive', updated_at=? WHERE id=?", (now, tracker_id))

    def forget(self, tracker_id: int) -> None:
        with self.store.transaction() as con:
            con.execute("DELETE FROM activations WHERE tracker_id=?", (tracker_id,))
            con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (tracker_id,))

    # -- calls imported before their sentences were embedded ---------------------------------------------------
    def pending(self, tracker_id: int) -> list[str]:
        return [r["call_id"] for r in
                self.store.query("SELECT call_id FROM activation_pending WHERE tracker_id=?", (tracker_id,))]

    def keep_pending(self, tracker_id: int, call_ids: list[str]) -> None:
        with self.store.transaction() as con:
            con.executemany("INSERT OR IGNORE INTO activation_pending(tracker_id, call_id) VALUES (?,?)",
                            [(tracker_id, c) for c in call_ids])

    def keep_pending_for_active(self, call_ids: list[str]) -> None:
        """Remember ``call_ids`` for every active tracker, in one transaction: the journal an
        import writes before its calls go live, so a kill before they are scored leaves them
        pending (scored by the next import, ``workbench embed`` or ``ws.score_pending()``)."""
        if not call_ids:
            return
        with self.store.transaction() as con:
            ids = [r["tracker_id"] for r in con.execute("SELECT tracker_id FROM activations WHERE active = 1")]
            con.executemany("INSERT OR IGNORE INTO activation_pending(tracker_id, call_id) VALUES (?,?)",
                            [(t, c) for t in ids for c in call_ids])

    def clear_pending(self, tracker_id: int, call_ids: list[str]) -> None:
        """Forget the pending calls just scored; calls another import added meanwhile stay."""
        with self.store.transaction() as con:
            con.executemany("DELETE FROM activation_pending WHERE tracker_id=? AND call_id=?",
                            [(tracker_id, c) for c in call_ids])

    # -- the scoring rate this workspace measured, for backfill plans ------------------------------------------
    def rate(self) -> float | None:
        row = self.store.query_one("SELECT value FROM meta WHERE key=?", (_RATE_KEY,))
        return float(row["value"]) if row else None

    def save_rate(self, rate: float) -> None:
        with self.store.transaction() as con:
            con.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                        " value=excluded.value", (_RATE_KEY, f"{rate:.0f}"))
