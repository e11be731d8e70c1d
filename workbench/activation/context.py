"""LiveContext: what activation, publishing and results work on, handed over by the Workspace.

The corpus tables, the store's rows, the detection store, the embedder and the MLflow registry
of one workspace. The embedder and the registry are opened on first use (loading a model or
MLflow costs seconds), through the functions the Workspace gives. It also reads like a workspace
to the scoring matrix (workbench.embedding.matrix): path, embeddings_dir, sentences, generation.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import polars as pl

from workbench.activation.detections import DetectionStore, LiveResults
from workbench.core.errors import ValidationError
from workbench.storage.activations import ActivationRows
from workbench.storage.catalog import TrackerCatalog
from workbench.storage.store import Store
from workbench.storage.tables import CorpusTables
from workbench.trackers.records import TrackerRecord, resolve_records

if TYPE_CHECKING:
    from workbench.embedding.embedder import Embedder
    from workbench.registry.versions import TrackerRegistry


class LiveContext:
    def __init__(self, path: Path, tables: CorpusTables, store: Store, *, embeddings_dir: Path,
                 embedder: Callable[[], "Embedder"], registry: Callable[[], "TrackerRegistry"]) -> None:
        self.path = path
        self.tables = tables
        self.store = store
        self.embeddings_dir = embeddings_dir
        self.catalog = TrackerCatalog(store)
        self.activations = ActivationRows(store)
        self.detections = DetectionStore(tables.data_dir / "detections")
        self._embedder = embedder
        self._registry = registry

    @property
    def embedder(self) -> "Embedder":
        return self._embedder()

    @property
    def registry(self) -> "TrackerRegistry":
        return self._registry()

    @property
    def data_dir(self) -> Path:
        return self.tables.data_dir

    @property
    def calls(self) -> pl.DataFrame:
        return self.tables.calls

    @property
    def sentences(self) -> pl.DataFrame:
        return self.tables.sentences

    @property
    def generation(self) -> int:
        return self.tables.generation

    # -- trackers ------------------------------------------------------------------------------------------------
    def record(self, tracker_id: int) -> TrackerRecord:
        """The tracker's record as stored now (after a write changed its status or version)."""
        return TrackerRecord.from_row(self.catalog.get(tracker_id))

    def records(self, trackers) -> list[TrackerRecord]:
        return resolve_records(self.catalog, trackers, self.path)

    def live_results(self, record: TrackerRecord) -> LiveResults:
        """The stored results of an activated tracker (active or deactivated: history is kept)."""
        row = self.activations.get(record.id)
        if row is None:
            raise ValidationError("tracker", f"'{record.name}' has never been activated, so it has no results",
                                  f"Activate it first: ws.tracker({record.name!r}).activate(backfill_months=12).")
        dets, calls = self.detections.read(record.id, row["run_dir"], self.calls["call_id"])
        return LiveResults(tracker=record.name, version=row["version"], detections=dets, calls=calls)
