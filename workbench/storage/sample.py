"""Where the workspace records its tagging sample (workbench.corpus.sample): one row of the
``meta`` table, key ``tagging_sample``, JSON {"size", "seed", "call_ids"}. No row: no sample, the
trackers tag on every call."""
from __future__ import annotations

from typing import Any

from workbench.storage.store import Store, dumps, loads

KEY = "tagging_sample"


class SampleStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self) -> dict[str, Any] | None:
        raw = self.raw()
        return None if raw is None else loads(raw)

    def raw(self) -> str | None:
        """The recorded row as stored (a redraw, a top-up or a removal changes it): what a
        reader compares to know whether the sample it keeps is still the recorded one."""
        row = self.store.query_one("SELECT value FROM meta WHERE key = ?", (KEY,))
        return None if row is None else row["value"]

    def save(self, *, size: int, seed: int, call_ids: list[str]) -> None:
        value = dumps({"size": int(size), "seed": int(seed), "call_ids": list(call_ids)})
        with self.store.transaction() as con:
            con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (KEY, value))

    def clear(self) -> None:
        with self.store.transaction() as con:
            con.execute("DELETE FROM meta WHERE key = ?", (KEY,))
