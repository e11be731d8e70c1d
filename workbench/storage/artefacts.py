"""The ``artefact_hashes`` table: what each tracker version's model files hashed to when the
workbench wrote them (workbench.registry.artefacts checks them before every load).

The hashes live in the workspace's own database rather than in MLflow: ``workbench mlflow`` lets
any local client rewrite a run's artifacts and a version's tags through MLflow's REST API, but
not this file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.storage.store import Store, now_iso


@dataclass(frozen=True)
class RecordedHashes:
    """One version's recorded model files: ``files`` maps a path inside the model folder to its
    sha256; ``model_id`` is the MLflow logged model they belong to."""

    model_id: str
    files: dict[str, str]
    recorded_how: str
    recorded_at: str


class ArtefactHashes:
    """The rows of ``artefact_hashes`` of one store, by registered model name and version."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, model_name: str, version: int) -> RecordedHashes | None:
        row = self.store.query_one(
            "SELECT model_id, files, recorded_how, recorded_at FROM artefact_hashes WHERE model_name=? AND version=?",
            (model_name, int(version)))
        if row is None:
            return None
        return RecordedHashes(row["model_id"], json.loads(row["files"]), row["recorded_how"], row["recorded_at"])

    def since_ms(self) -> int | None:
        """When this database began recording hashes (ms since 1970), see migrations.ARTEFACTS."""
        row = self.store.query_one("SELECT value FROM meta WHERE key='artefact_hashes_since'")
        return None if row is None else int(row["value"])

    def record(self, model_name: str, version: int, model_id: str, files: dict[str, str], how: str) -> None:
        with self.store.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO artefact_hashes (model_name, version, model_id, files, recorded_how, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (model_name, int(version), model_id, json.dumps(files, sort_keys=True), how, now_iso()))

    def forget(self, model_name: str) -> None:
        """Drop a deleted tracker's rows: a tracker made again under its name starts at version 1."""
        with self.store.transaction() as con:
            con.execute("DELETE FROM artefact_hashes WHERE model_name=?", (model_name,))

    def rename(self, old_model_name: str, new_model_name: str) -> None:
        """A renamed tracker's rows, under its registered model's new name."""
        with self.store.transaction() as con:
            con.execute("UPDATE artefact_hashes SET model_name=? WHERE model_name=?", (new_model_name, old_model_name))
