"""A training's MLflow record, completed after the training returned (issue 16: a round in a second).

Logging a training to MLflow took about 0.2 CPU s of a round at 1,000,000 sentences (params and
metrics in MLflow's database, the run's files, the pyfunc folder: ``mlflow.pyfunc.save_model``
alone about half of it), and a round needs only what identifies the record: the run and the
model version, whose number the tracker stores. So ``log_training(complete_later=True)``:

1. writes everything the record will hold to ``mlruns/pending-versions/<run id>/`` (the run's
   files as they will be logged, the model as plain data, params, metrics): a few milliseconds;
2. creates the run (RUNNING, named after its owner), the logged model (PENDING, the run's
   output) and the model version, and returns them;
3. queues the rest on the registry's worker (the figures' one, before the figures of that run):
   params, the run's files, the pyfunc and the metrics into the logged model, READY, the
   version's hashes; then deletes the folder and ends the run FINISHED. Each step may be done
   again (an open after a kill mid-way): the same params, files and marks.

Nothing is lost:

- readers wait for the worker: ``versions()``, ``runs()`` and every read of a version's model
  (``_resolve_version``), exports and deletions; the worker is not a daemon thread, so a process
  that ends normally first completes what is queued;
- a process killed before the worker finished leaves the folder and its run RUNNING; opening the
  store completes the record from the folder (``complete_left``) before ending stale runs, so the
  version is the one an immediate logging would have left (a draft folder too, once it names
  its version). Only a kill inside the millisecond between the version's creation and the
  writing of ``registration.json`` leaves a version without its model, as a kill inside
  ``log_training`` could before.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import polars as pl

from workbench.core.processes import left_behind, owner_token
from workbench.registry.linear_model import LinearTrackerModel
from workbench.registry.mlflow_store import TrainingRecord
from workbench.registry.model_files import write_run_artifacts

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from workbench.registry.versions import TrackerRegistry

log = logging.getLogger(__name__)

PENDING_DIR = "pending-versions"
_RECORD = "registration.json"
# How long a reader waits for another process to complete a record (it takes well under a second).
OTHER_PROCESS_WAIT_S = 30.0


def log_training_later(
    registry: "TrackerRegistry", tracker_name: str, *, model_name: str, run_name: str, run_tags: Mapping[str, str],
    params: Mapping[str, str], metrics: Mapping[str, float], version_tags: Mapping[str, str], description: str,
    model: LinearTrackerModel, tags_table: pl.DataFrame, figures: Mapping[str, "Figure"],
    extra_artifacts: Mapping[str, Mapping | str],
) -> TrainingRecord:
    """Steps 1-3 of the module: the version now, its content on the registry's worker."""
    pending = registry.root / PENDING_DIR
    pending.mkdir(exist_ok=True)
    draft = pending / f".draft-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        write_run_artifacts(draft / "run", tags_table, figures, extra_artifacts)
        model.save(draft / "linear_model.json")
        run = registry.store.start_run(tracker_name, model_name, run_name, run_tags)
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        raise
    try:
        record = registry.store.register_version_ahead(
            run, tracker_name=tracker_name, model_name=model_name, params=params, version_tags=version_tags,
            description=description)
        (draft / _RECORD).write_text(json.dumps({
            "tracker": tracker_name, "model_name": model_name, "run_id": run.run_id, "model_id": record.model_id,
            "version": record.version, "owner": owner_token(),
            "params": dict(params), "metrics": dict(metrics)}), encoding="utf-8")
        folder = draft.rename(pending / run.run_id)
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        registry.client.set_terminated(run.run_id, "FAILED")
        raise
    registry.figures_later.submit_job(f"the record of MLflow run {run.run_id} (version {record.version})",
                                      lambda: complete(registry, folder))
    return record


def complete(registry: "TrackerRegistry", folder: Path) -> int:
    """Log what ``folder`` holds into its run and version (step 3); returns the version."""
    rec = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
    run_id, tracker = rec["run_id"], rec["tracker"]
    registry.store.log_batch(run_id, params=rec["params"])
    registry.client.log_artifacts(run_id, str(folder / "run"))
    # Where the logged model is now: a workspace moved since keeps it under its own folder.
    location = registry.client.get_logged_model(rec["model_id"]).artifact_location
    registry.store.fill_logged_model(run_id, rec["model_id"], location,
                                     LinearTrackerModel.load(folder / "linear_model.json"), tracker_name=tracker,
                                     metrics=rec["metrics"])
    registry.record_trained(tracker, int(rec["version"]))
    # The folder first: a kill before the end mark leaves a run that opening ends FINISHED, as it
    # registered a version (workbench.registry.recovery).
    shutil.rmtree(folder, ignore_errors=True)
    registry.client.set_terminated(run_id, "FINISHED")
    return int(rec["version"])


def wait_for_another_process(root: Path, run_id: str | None, timeout: float = OTHER_PROCESS_WAIT_S) -> bool:
    """Wait until no record of run ``run_id`` is pending under ``root`` (an MLflow store's
    folder): another process that trained a moment ago completes it on its worker, hashes
    included, and a reader here must not judge the version's folder before that (it would find
    no recorded hashes and refuse it as not the workbench's). False if still pending after
    ``timeout`` seconds (its process killed: the next open completes it)."""
    folder = root / PENDING_DIR / str(run_id)
    deadline = time.monotonic() + timeout
    while run_id and folder.is_dir():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def complete_left(registry: "TrackerRegistry", now: float) -> list[str]:
    """Complete the records that killed processes left pending (and drop their drafts); returns
    a note per record completed. Another live process's are left to it."""
    pending = registry.root / PENDING_DIR
    if not pending.is_dir():
        return []
    notes = []
    for folder in sorted(pending.iterdir()):
        if folder.name.startswith(".draft-"):
            if not _left_draft(folder, now):
                continue
            if not (folder / _RECORD).is_file():  # killed before its version (or in the window named above)
                shutil.rmtree(folder, ignore_errors=True)
                continue
        try:
            rec = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
            if not left_behind(rec.get("owner"), folder.stat().st_mtime, now):
                continue
            complete(registry, folder)
        except Exception as e:  # noqa: BLE001 - kept: the next open tries again
            log.warning("Could not complete the MLflow record left in %s (%s: %s).", folder, type(e).__name__, e)
            continue
        notes.append(f"Version {rec['version']} of tracker {rec['tracker']!r} was registered by a training whose "
                     f"process ended before its MLflow record was complete; it is now (run {rec['run_id']}).")
        log.warning(notes[-1])
    return notes


def _left_draft(folder: Path, now: float) -> bool:
    """A draft (``.draft-<pid>-<random>``) whose process is gone."""
    try:
        pid = int(folder.name.split("-")[1])
    except (IndexError, ValueError):
        return True
    return left_behind(json.dumps({"host": socket.gethostname(), "pid": pid}), folder.stat().st_mtime, now)
