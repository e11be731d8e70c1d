"""MLflow plumbing of the registry: experiments, runs, logged models and registered versions.

Everything goes through one ``MlflowClient`` bound to the workspace's store, never through
``mlflow.set_tracking_uri`` and the fluent API, so two registries in one process (two workspaces,
or a test beside the app) cannot write into each other's store.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from workbench.core.errors import NotFoundError
from workbench.core.processes import owner_token
from workbench.registry.linear_model import LinearTrackerModel
from workbench.registry.model_files import save_pyfunc
from workbench.registry.names import TAG_MODEL_NAME, TAG_NOTE, TAG_OWNER, TAG_TRACKER, experiment_name

_BATCH = 100  # MLflow takes at most 100 params or tags (and 1000 metrics) per log_batch


@dataclass(frozen=True)
class TrainingRecord:
    """What one training left in MLflow."""

    run_id: str
    version: int
    model_uri: str  # models:/<registered model>/<version>; resolve it with this registry's store
    experiment_id: str
    registered_model: str = ""
    model_id: str = ""  # the MLflow LoggedModel behind the version


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str


class MlflowStore:
    """The MLflow calls the registry makes, on one client."""

    def __init__(self, client: MlflowClient, artifacts_dir: Path) -> None:
        self.client = client
        self.artifacts_dir = artifacts_dir

    # -- runs and versions -------------------------------------------------------------------
    @contextlib.contextmanager
    def run(self, tracker_name: str, model_name: str, run_name: str, tags: Mapping[str, str]) -> Iterator[RunInfo]:
        """A run in the tracker's experiment, FINISHED when the block ends and FAILED when it
        raises: a failed attempt stays visible rather than stuck in RUNNING. A killed process
        cannot end its run: the run names its owner, so that the next open ends it
        (workbench.registry.recovery)."""
        run = self.start_run(tracker_name, model_name, run_name, tags)
        try:
            yield run
        except BaseException:
            _quietly(self.client.set_terminated, run.run_id, "FAILED")
            raise
        self.client.set_terminated(run.run_id, "FINISHED")

    def start_run(self, tracker_name: str, model_name: str, run_name: str, tags: Mapping[str, str]) -> RunInfo:
        """A RUNNING run in the tracker's experiment, named after its owner; the caller ends it."""
        experiment_id = self.ensure_experiment(tracker_name, model_name)
        run_id = self.client.create_run(experiment_id, run_name=run_name,
                                        tags={**tags, TAG_OWNER: owner_token()}).info.run_id
        return RunInfo(run_id, experiment_id)

    def register_version(
        self, run: RunInfo, model: LinearTrackerModel, *, tracker_name: str, model_name: str,
        params: Mapping[str, str], metrics: Mapping[str, float], version_tags: Mapping[str, str],
        description: str, encoder: Path | None = None,
    ) -> TrainingRecord:
        """Log ``model`` as the run's pyfunc (with ``encoder``, a deep-trained version's own
        sentence-transformers folder) and register it as the tracker's next version."""
        logged = self._create_logged_model(run, tracker_name, model_name, params)
        self.fill_logged_model(run.run_id, logged.model_id, logged.artifact_location, model, tracker_name=tracker_name,
                               metrics=metrics, encoder=encoder)
        return self._create_version(run, logged, tracker_name=tracker_name, model_name=model_name,
                                    version_tags=version_tags, description=description)

    def register_version_ahead(
        self, run: RunInfo, *, tracker_name: str, model_name: str, params: Mapping[str, str],
        version_tags: Mapping[str, str], description: str,
    ) -> TrainingRecord:
        """The version and its logged model, created before the model is logged into it
        (``fill_logged_model``, workbench.registry.deferred); the logged model stays PENDING until then."""
        logged = self._create_logged_model(run, tracker_name, model_name, params)
        try:
            return self._create_version(run, logged, tracker_name=tracker_name, model_name=model_name,
                                        version_tags=version_tags, description=description)
        except BaseException:
            _quietly(self.client.finalize_logged_model, logged.model_id, LoggedModelStatus.FAILED)
            raise

    def fill_logged_model(
        self, run_id: str, model_id: str, artifact_location: str, model: LinearTrackerModel, *,
        tracker_name: str, metrics: Mapping[str, float], encoder: Path | None = None,
    ) -> None:
        """Log ``model`` as the run's pyfunc into its logged model (with ``encoder``, a
        deep-trained version's own sentence-transformers folder), with the metrics, and mark it
        READY (FAILED when this raises)."""
        try:
            # Metrics logged with the model id show on the model's page as well as the run's.
            self.log_batch(run_id, metrics=metrics, model_id=model_id)
            with tempfile.TemporaryDirectory(prefix="workbench-model-dir-") as tmp:
                model_dir = Path(tmp, "model")
                save_pyfunc(model_dir, model, tracker_name=tracker_name, mlflow_model=Model(
                    artifact_path=artifact_location, model_uuid=model_id, run_id=run_id, model_id=model_id),
                    encoder=encoder)
                self.client.log_model_artifacts(model_id, str(model_dir))
            self.client.finalize_logged_model(model_id, LoggedModelStatus.READY)
        except BaseException:
            _quietly(self.client.finalize_logged_model, model_id, LoggedModelStatus.FAILED)
            raise

    def _create_logged_model(self, run: RunInfo, tracker_name: str, model_name: str, params: Mapping[str, str]):
        """The run's logged model, PENDING, named as the run's output."""
        logged = self.client.create_logged_model(
            run.experiment_id, name=model_name, source_run_id=run.run_id, params=dict(params),
            tags={TAG_TRACKER: tracker_name}, model_type="tracker-classifier",
        )
        try:
            self.client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step=0)])
        except BaseException:
            _quietly(self.client.finalize_logged_model, logged.model_id, LoggedModelStatus.FAILED)
            raise
        return logged

    def _create_version(self, run: RunInfo, logged, *, tracker_name: str, model_name: str,
                        version_tags: Mapping[str, str], description: str) -> TrainingRecord:
        self.ensure_registered_model(tracker_name, model_name)
        mv = self.client.create_model_version(
            model_name, source=logged.artifact_location, run_id=run.run_id, tags=dict(version_tags),
            description=description or None, model_id=logged.model_id,
        )
        return TrainingRecord(
            run_id=run.run_id, version=int(mv.version), model_uri=f"models:/{model_name}/{mv.version}",
            experiment_id=run.experiment_id, registered_model=model_name, model_id=logged.model_id,
        )

    def log_batch(
        self, run_id: str, *, params: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None, model_id: str | None = None,
    ) -> None:
        now = int(time.time() * 1000)
        param_list = [Param(k, v) for k, v in (params or {}).items()]
        metric_list = [
            Metric(k, v, now, 0, model_id=model_id, run_id=run_id) for k, v in (metrics or {}).items()
        ]
        for i in range(0, len(param_list), _BATCH):
            self.client.log_batch(run_id, params=param_list[i : i + _BATCH])
        for i in range(0, len(metric_list), 1000):
            self.client.log_batch(run_id, metrics=metric_list[i : i + 1000])

    # -- experiments and registered models ---------------------------------------------------
    def experiment(self, tracker_name: str, include_deleted: bool = False):
        experiment = self.client.get_experiment_by_name(experiment_name(tracker_name))
        if experiment is None or (experiment.lifecycle_stage == "deleted" and not include_deleted):
            return None
        return experiment

    def ensure_experiment(self, tracker_name: str, model_name: str) -> str:
        name = experiment_name(tracker_name)
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                # Deleted outside the workbench (e.g. in the MLflow UI) without freeing the name;
                # bringing it back keeps the earlier runs with the tracker they belong to.
                self.client.restore_experiment(experiment.experiment_id)
            return experiment.experiment_id
        # A fresh folder per experiment: names can repeat over time (a tracker deleted and made
        # again), locations must not.
        location = self.artifacts_dir / f"{model_name}-{os.urandom(4).hex()}"
        try:
            return self.client.create_experiment(
                name,
                artifact_location=location.as_uri(),
                tags={TAG_TRACKER: tracker_name, TAG_MODEL_NAME: model_name,
                      TAG_NOTE: f"Trainings of the tracker “{tracker_name}”, one run per round.",
                      # MLflow 3's UI opens an experiment on its GenAI traces page unless told it
                      # holds model trainings; a reviewer wants the runs table.
                      "mlflow.experimentKind": "custom_model_development"},
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # Another registry on the same folder created it between our lookup and create.
            return self.client.get_experiment_by_name(name).experiment_id

    def ensure_registered_model(self, tracker_name: str, model_name: str) -> None:
        try:
            self.client.create_registered_model(
                model_name,
                tags={TAG_TRACKER: tracker_name},
                description=f"Versions of the tracker “{tracker_name}”.",
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def model_versions(self, model_name: str) -> list:
        found, page_token = [], None
        while True:
            page = self.client.search_model_versions(
                f"name = '{model_name}'", max_results=10_000, page_token=page_token
            )
            found.extend(page)
            page_token = page.token
            if not page_token:
                return found

    def model_version(self, model_name: str, version: int, tracker_name: str | None = None):
        try:
            return self.client.get_model_version(model_name, str(int(version)))
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError(
                    f"tracker {tracker_name or model_name!r} has no version {version}"
                ) from e
            raise


def _quietly(fn, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - already handling the error that matters
        pass
