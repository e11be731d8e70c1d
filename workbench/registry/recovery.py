"""Ending the MLflow runs of trainings that were killed.

A training's run is ended by the process that runs it (``MlflowStore.run``): FINISHED, or
FAILED when it raises. A process killed with ``kill -9`` (a kernel restarted mid-training, the
out-of-memory killer) ends nothing, and its run would show as RUNNING in the MLflow UI for
ever. Every run names its owner process (``TAG_OWNER``); opening the store ends the RUNNING
runs whose owner is gone on this host:

- FINISHED when the run registered a model version: the training completed in MLflow (its
  model was logged, finalised and registered) and only the end mark is missing;
- KILLED otherwise, with its logged model, if any, marked FAILED: nothing of it is usable.

A run without an owner (written before runs named one) or owned on another host is ended
the same way once it has been RUNNING for ``UNOWNED_STALE_AFTER_S`` (six hours): no training takes that
long, and we cannot ask that process.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

from workbench.core.processes import left_behind
from workbench.registry.names import TAG_OWNER, TAG_TRACKER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndedRun:
    """A run a killed training left RUNNING, and the status it was given."""

    run_id: str
    tracker: str
    status: str  # FINISHED (it registered a version) or KILLED

    @property
    def note(self) -> str:
        why = ("its version was registered; only the end mark was missing" if self.status == "FINISHED"
               else "it registered no version")
        return (f"MLflow run {self.run_id} of tracker {self.tracker!r} was left RUNNING by a training "
                f"that was killed; marked {self.status} ({why}).")


def end_stale_runs(client: MlflowClient, *, now: float | None = None) -> list[EndedRun]:
    """End every RUNNING run whose training was killed (see the module); returns them."""
    now = time.time() if now is None else now
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return []
    ended = []
    for run in _running(client, experiment_ids):
        if not _stale(run, now):
            continue
        run_id = run.info.run_id
        registered = client.search_model_versions(f"run_id = '{run_id}'")
        status = "FINISHED" if registered else "KILLED"
        if not registered:
            for logged in client.search_logged_models([run.info.experiment_id],
                                                      filter_string=f"source_run_id = '{run_id}'"):
                if logged.status == LoggedModelStatus.PENDING:
                    client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        client.set_terminated(run_id, status)
        ended.append(EndedRun(run_id, run.data.tags.get(TAG_TRACKER, ""), status))
        log.warning(ended[-1].note)
    return ended


def _running(client: MlflowClient, experiment_ids: list[str]) -> list:
    found, token = [], None
    while True:
        page = client.search_runs(experiment_ids, "attributes.status = 'RUNNING'", max_results=1000,
                                  page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _stale(run, now: float) -> bool:
    return left_behind(run.data.tags.get(TAG_OWNER), (run.info.start_time or 0) / 1000, now)
