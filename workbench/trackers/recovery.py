"""Versions a killed training left half recorded: registered in MLflow, missing in the workspace.

A training registers its version in MLflow, then records it in the workspace's store
(``TrainingStore.add_version``). A process killed between the two leaves a registered version
that ``t.versions()`` does not list, and the next training makes the list jump (1, 2, 3, 4, 6).

MLflow is the source of truth for which versions exist: it holds their models, the run's
metrics and artifacts, and the version numbers it gave out. The workspace's rows index them,
with the round and the estimate. So:

- a version MLflow registered and the workspace lacks is *adopted*: its row is written from
  the run (round from the version's tag, estimate from the run's ``estimate.json``, deep
  figures from ``frozen_estimate.json`` and the run's metrics), unless its run is still
  RUNNING under a live owner (that training records it itself a moment later);
- a version the workspace lists and MLflow does not have (removed in the MLflow UI, or an
  ``mlruns/`` folder replaced by hand) cannot be loaded and is not invented back: it is kept,
  and named in a note.

A training's figures are logged after it returned (workbench.registry.later); a run a killed
process left tagged "pending" is redrawn from its version's stored estimate (``redraw_figures``).

``probe`` tells, by reading both SQLite files directly (milliseconds, no MLflow import), whether
a workspace being opened has anything to heal, and names the lost versions, so that opening
stays fast.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.processes import left_behind
from workbench.registry.names import FIGURES_ABANDONED, FIGURES_PENDING, TAG_FIGURES, TAG_OWNER, TAG_ROUND, TAG_TRACKER, registered_model_name, round_of
from workbench.storage.catalog import TrackerCatalog
from workbench.storage.store import Store
from workbench.storage.trackers import TrainingStore
from workbench.trackers.figures_later import version_figures

if TYPE_CHECKING:
    from workbench.registry.versions import TrackerRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionNote:
    """One version the workspace and MLflow disagreed on, and what was done."""

    tracker: str
    version: int
    action: str  # "adopted" (recorded from MLflow) or "missing in MLflow" (kept, cannot load)

    @property
    def note(self) -> str:
        if self.action == "adopted":
            return (f"Version {self.version} of tracker {self.tracker!r} was registered in MLflow by a training "
                    "that was killed before the workspace recorded it; it is now listed in t.versions().")
        return (f"Version {self.version} of tracker {self.tracker!r} is listed in the workspace but MLflow has no "
                "such version (removed in the MLflow UI, or mlruns/ replaced): its model cannot be loaded.")


@dataclass(frozen=True)
class Probe:
    """What a direct read of the two databases found: whether MLflow must be opened to heal
    (a run left RUNNING by a dead owner, a version registered but not recorded), and the
    versions the workspace lists that MLflow lost (named on every open, without opening MLflow:
    nothing can heal them)."""

    heal: bool
    lost: tuple[VersionNote, ...] = ()
    figures: tuple[str, ...] = ()  # runs whose figures a killed training left to draw


def probe(mlruns_dir: Path, store: Store, *, now: float | None = None) -> Probe:
    """Read both databases directly (milliseconds, no MLflow import); see Probe."""
    db = Path(mlruns_dir) / "mlflow.db"
    if not db.is_file():
        return Probe(False)
    now = time.time() if now is None else now
    tracker_of = {registered_model_name(r["name"]): r["name"]
                  for r in store.query("SELECT name FROM trackers WHERE kind='smart'")}
    recorded = {(registered_model_name(r["name"]), int(r["version"])) for r in store.query(
        "SELECT t.name, v.version FROM versions v JOIN trackers t ON t.id = v.tracker_id WHERE t.kind='smart'")}
    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            running = con.execute(
                "SELECT r.start_time, (SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ?)"
                " FROM runs r WHERE r.status = 'RUNNING' AND r.lifecycle_stage = 'active'", (TAG_OWNER,)).fetchall()
            registered = {(name, int(version)) for name, version in con.execute(
                "SELECT name, version FROM model_versions WHERE current_stage != 'Deleted_Internal'")
                if name in tracker_of}
            pending = con.execute(
                "SELECT r.run_uuid, r.start_time, (SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ?)"
                " FROM runs r JOIN tags f ON f.run_uuid = r.run_uuid AND f.key = ? AND f.value = ?"
                " WHERE r.lifecycle_stage = 'active'", (TAG_OWNER, TAG_FIGURES, FIGURES_PENDING)).fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:  # an MLflow schema we do not know: the registry checks when it opens
        log.debug("could not probe %s: %s", db, e)
        return Probe(False)
    stale = any(left_behind(owner, (started or 0) / 1000, now) for started, owner in running)
    lost = tuple(VersionNote(tracker_of[model], version, "missing in MLflow")
                 for model, version in sorted(recorded - registered))
    figures = tuple(run for run, started, owner in pending if left_behind(owner, (started or 0) / 1000, now))
    return Probe(stale or bool(registered - recorded) or bool(figures), lost, figures)


def reconcile_versions(store: Store, registry: "TrackerRegistry") -> list[VersionNote]:
    """Adopt the versions MLflow registered and the workspace lacks (see the module)."""
    notes = []
    catalog = TrackerCatalog(store)
    for name in catalog.names(order="created"):
        row = catalog.find(name)
        if row is None or row["kind"] != "smart":
            continue
        records = TrainingStore(store, row["id"])
        recorded = {v["version"] for v in records.versions()}
        registered = {int(mv.version): mv for mv in registry.store.model_versions(registered_model_name(name))}
        for version in sorted(set(registered) - recorded):
            if _adopt(records, registry, registered[version]):
                notes.append(VersionNote(name, version, "adopted"))
                log.warning(notes[-1].note)
    return notes


def redraw_figures(store: Store, registry: "TrackerRegistry", run_ids: tuple[str, ...]) -> list[str]:
    """Queue the figures of the runs a killed training left "pending" (``Probe.figures``), drawn
    from their versions' stored estimates on the registry's worker; a note per run."""
    notes = []
    catalog = TrackerCatalog(store)
    for run_id in run_ids:
        tracker = registry.client.get_run(run_id).data.tags.get(TAG_TRACKER, "")
        row = catalog.find(tracker) if tracker else None
        version = next((v["version"] for v in TrainingStore(store, row["id"]).versions() if v["run_id"] == run_id),
                       None) if row is not None else None
        if version is None:  # the tracker was deleted, or the run registered no version: nothing to draw
            registry.client.set_tag(run_id, TAG_FIGURES, FIGURES_ABANDONED)
            continue
        registry.log_figures_later(run_id, partial(version_figures, store, row["id"], version))
        notes.append(f"The figures of version {version} of tracker {tracker!r} were not logged to MLflow run "
                     f"{run_id} by a training that was killed; they are being drawn now.")
        log.warning(notes[-1])
    return notes


def _adopt(records: TrainingStore, registry: "TrackerRegistry", mv) -> bool:
    """Record a registered version from its run; False while its training is still running."""
    run = registry.client.get_run(mv.run_id) if mv.run_id else None
    if run is not None and run.info.status == "RUNNING":
        return False  # end_stale_runs left it running: its owner is alive and records it itself
    metrics = dict(run.data.metrics) if run is not None else {}
    stored = _run_json(registry, mv.run_id, "estimate.json")
    stored["detection_change"] = metrics.get("detection_change")
    if run is not None and run.data.params.get("training") == "deep":
        stored.update({"training": "deep", "frozen": _run_json(registry, mv.run_id, "frozen_estimate.json"),
                       "held_out_f1_on_tags": metrics.get("held_out_f1_on_tags"),
                       "frozen_held_out_f1_on_tags": metrics.get("frozen_held_out_f1_on_tags")})
    round_number = round_of((mv.tags or {}).get(TAG_ROUND))
    if round_number is None and run is not None:
        round_number = round_of(run.data.params.get("round"))
    records.add_version(int(mv.version), mv.run_id, round_number or 0, stored)
    return True


def _run_json(registry: "TrackerRegistry", run_id: str | None, name: str) -> dict:
    """A JSON artifact of a run, or {} when the run has none (an imported or very old version)."""
    if not run_id:
        return {}
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="workbench-adopt-") as tmp:
        try:
            path = registry.client.download_artifacts(run_id, name, tmp)
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            return {}
