"""The outbox of stream notifications: ``stream_deliveries``, one row per message to send.

An import only adds rows (``enqueue``), in the same transaction that marks the calls as told, so a
call is either queued or still waiting to be queued, never lost and never queued twice. A sender
takes one due row at a time with a lease (``claim_next``), so two senders (a notebook's background
sender and ``workbench streams send`` from cron) never send the same row at once; a sender killed
mid-delivery leaves a lease that runs out, and the row is tried again.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from workbench.storage.store import Store, dumps, now_iso


def iso_in(seconds: float) -> str:
    """ISO UTC time ``seconds`` from now, in the same form as ``now_iso`` (so strings compare as times)."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


class DeliveryRows:
    """The rows of ``stream_deliveries`` of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(self, stream_id: int, call_ids: list[str], messages: list[tuple[str, dict]]) -> list[int]:
        """Queue one delivery per (target, payload) and mark the calls as told, in one transaction."""
        now = now_iso()
        ids = []
        with self.store.transaction() as con:
            for target, payload in messages:
                cur = con.execute(
                    "INSERT INTO stream_deliveries(stream_id, target, payload, n_calls, created_at, next_attempt_at)"
                    " VALUES (?,?,?,?,?,?)", (stream_id, target, dumps(payload), len(call_ids), now, now))
                ids.append(cur.lastrowid)
            con.executemany("UPDATE stream_calls SET notified_at=? WHERE stream_id=? AND call_id=?",
                            [(now, stream_id, c) for c in call_ids])
        return ids

    def claim_next(self, after_id: int, lease_s: float, stream_id: int | None = None) -> sqlite3.Row | None:
        """The first due, unleased delivery with an id above ``after_id``, leased for ``lease_s``
        seconds; None when there is none. Walking ids upwards tries each delivery once per pass."""
        now = now_iso()
        where = "" if stream_id is None else " AND stream_id = :stream"
        with self.store.transaction() as con:
            row = con.execute(
                "SELECT * FROM stream_deliveries WHERE status = 'pending' AND id > :after AND next_attempt_at <= :now"
                " AND (leased_until IS NULL OR leased_until < :now)" + where + " ORDER BY id LIMIT 1",
                {"after": after_id, "now": now, "stream": stream_id}).fetchone()
            if row is not None:
                con.execute("UPDATE stream_deliveries SET leased_until=? WHERE id=?", (iso_in(lease_s), row["id"]))
        return row

    def record_sent(self, delivery_id: int, stream_id: int) -> None:
        now = now_iso()
        with self.store.transaction() as con:
            con.execute("UPDATE stream_deliveries SET status='sent', attempts=attempts+1, sent_at=?, leased_until=NULL,"
                        " last_error=NULL WHERE id=?", (now, delivery_id))
            con.execute("UPDATE streams SET last_notified_at=?, last_error=NULL WHERE id=?", (now, stream_id))

    def record_failure(self, delivery_id: int, stream_id: int, error: str, retry_in_s: float | None) -> None:
        """One failed attempt: tried again in ``retry_in_s`` seconds, or given up when None."""
        with self.store.transaction() as con:
            if retry_in_s is None:
                con.execute("UPDATE stream_deliveries SET status='failed', attempts=attempts+1, leased_until=NULL,"
                            " last_error=? WHERE id=?", (error, delivery_id))
            else:
                con.execute("UPDATE stream_deliveries SET attempts=attempts+1, leased_until=NULL, last_error=?,"
                            " next_attempt_at=? WHERE id=?", (error, iso_in(retry_in_s), delivery_id))
            con.execute("UPDATE streams SET last_error=? WHERE id=?", (error, stream_id))

    def pending_count(self) -> int:
        return self.store.query_one("SELECT COUNT(*) FROM stream_deliveries WHERE status='pending'")[0]

    def of_stream(self, stream_id: int) -> list[sqlite3.Row]:
        return self.store.query("SELECT * FROM stream_deliveries WHERE stream_id=? ORDER BY id", (stream_id,))

    def counts(self, stream_id: int) -> dict[str, int]:
        """pending, sent and failed (given up) deliveries, and failed_attempts: every attempt that
        did not get through, those of deliveries that later did included."""
        row = self.store.query_one(
            "SELECT COALESCE(SUM(status='pending'), 0) AS pending, COALESCE(SUM(status='sent'), 0) AS sent,"
            " COALESCE(SUM(status='failed'), 0) AS failed,"
            " COALESCE(SUM(CASE status WHEN 'sent' THEN attempts - 1 ELSE attempts END), 0) AS failed_attempts"
            " FROM stream_deliveries WHERE stream_id=?", (stream_id,))
        return dict(row)
