"""Tracker versions in MLflow: one experiment and one registered model per tracker.

Every training of a tracker is an MLflow run in the experiment "tracker: <name>", holding the
settings (params), the performance estimate (metrics), the tags as they were at that moment and the
figures, plus the classifier as a pyfunc model that is registered as the next version of the
registered model named after the tracker. Reviewers compare rounds and versions in the MLflow UI;
the workbench reads the same store back through this module.

A version's classifier is stored as plain data (workbench.registry.linear_model): the pyfunc
loads it without the workbench, and the workbench reads it with ``linear_model()`` in
milliseconds, without loading the pyfunc. Versions written before that (a pickle) are read by a
restricted reader (workbench.registry.legacy) and, where a pyfunc is wanted, served from a
plain-data copy under ``mlruns/plain-models/``.

The store is a workspace folder's `mlruns/`: a SQLite database (`mlflow.db`, which the model
registry needs) and `artifacts/`. Everything goes through an `MlflowClient` bound to that store
(workbench.registry.mlflow_store). MLflow records absolute locations, so opening a store that was
copied or moved with its workspace first points them at its own folder
(workbench.registry.relocation).

Every model folder is hashed when a version is trained or imported, and checked before any read
of it (``_model_dir``): a file changed since, through MLflow's artifact API or by hand, raises
ArtefactChanged (workbench.registry.artefacts).
"""
from __future__ import annotations

import hashlib
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from workbench.core.errors import NotFoundError, ValidationError
from workbench.registry import transfer
from workbench.registry.artefacts import VersionArtefacts
from workbench.registry.deferred import complete_left, log_training_later, wait_for_another_process
from workbench.registry.later import DrawFigures, LaterFigures
from workbench.registry.empty_store import seed_database
from workbench.registry.linear_model import LinearTrackerModel
from workbench.registry.mlflow_store import MlflowStore, TrainingRecord
from workbench.registry.model_files import encoder_dir, is_plain, read_model, save_plain_copy, write_run_artifacts
from workbench.registry.names import (
    DEFAULT_EMBEDDING_MODEL,
    PUBLISHED_ALIAS,
    FIGURES_PENDING,
    TAG_FIGURES,
    TAG_MODEL_NAME,
    TAG_NOTE,
    TAG_ROUND,
    TAG_TRACKER,
    experiment_name,
    flatten,
    metric_value,
    mlflow_key,
    param_value,
    registered_model_name,
    round_of,
)
from workbench.registry.recovery import end_stale_runs
from workbench.registry.relocation import relocate
from workbench.storage.store import Store

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow.pyfunc import PyFuncModel

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "PUBLISHED_ALIAS",
    "TrackerRegistry",
    "TrainingRecord",
    "VersionInfo",
    "experiment_name",
    "registered_model_name",
]


@dataclass(frozen=True)
class VersionInfo:
    """One registered version of a tracker, with the performance its run recorded."""

    version: int
    run_id: str
    created: datetime
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    round: int | None = None
    description: str = ""
    model_uri: str = ""


def _to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class TrackerRegistry:
    """MLflow runs, versions and aliases of a workspace's trackers."""

    def __init__(self, mlruns_dir: Path | str, *, store: Store | None = None) -> None:
        """``store``: the workspace's database, where the versions' model hashes are recorded;
        by default the one of the workspace ``mlruns_dir`` belongs to (``../data/workbench.sqlite``)."""
        self.root = Path(mlruns_dir).expanduser().resolve()
        self.artifacts_dir = self.root / "artifacts"
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "mlflow.db"
        self.tracking_uri = f"sqlite:///{self.db_path}"
        seed_database(self.db_path)  # a new workspace's schema, copied rather than migrated
        # Building a store once with our artifact root creates (or migrates) the database and
        # gives MLflow's built-in "Default" experiment a location inside this folder instead of
        # ./mlruns under whatever directory the process happens to run in.
        SqlAlchemyStore(self.tracking_uri, self.artifacts_dir.as_uri())
        # A copied or moved workspace still names its original folder; point it here first.
        self.relocation = relocate(self.root)
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.store = MlflowStore(self.client, self.artifacts_dir)
        # Outside mlruns/: MLflow's server lets any local client rewrite what is under it.
        self.artefacts = VersionArtefacts(store or Store(self.root.parent / "data" / "workbench.sqlite"),
                                          self.artifacts_dir.as_uri())
        # Figures drawn, and records completed, after a training returned (log_training's
        # figures_later and complete_later).
        self.figures_later = LaterFigures(self.client)
        # Records a killed process left to complete (complete_later), before their runs are ended.
        self.completed_records = complete_left(self, time.time())
        # Runs of trainings killed with the process (kill -9) would show RUNNING for ever.
        self.ended_runs = end_stale_runs(self.client)

    def __repr__(self) -> str:
        return f"TrackerRegistry({str(self.root)!r})"

    # -- logging a training -------------------------------------------------------------------
    def log_training(
        self,
        tracker_name: str,
        *,
        model: LinearTrackerModel,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        tags_table: pl.DataFrame,
        figures: Mapping[str, Figure] | None = None,
        figures_later: bool = False,
        complete_later: bool = False,
        extra_artifacts: Mapping[str, Mapping | str] | None = None,
        description: str = "",
        label_column: str = "label",
        encoder: Path | None = None,
    ) -> TrainingRecord:
        """Record one training as a run and register its classifier as the tracker's next version.

        `model` is the classifier as plain data (LinearTrackerModel.from_estimator of the fitted
        TrackerModel); its embedding model is logged as the `embedding_model` param. `params`
        are the settings (round, classifier settings, ...; nested dicts become dotted keys);
        counts of the tags per label are added from `tags_table[label_column]` unless given.
        `metrics` are the performance figures; None and NaN are logged as NaN. `encoder` is a
        deep-trained version's own encoder (a sentence-transformers folder): the version carries
        a copy, embeds text with it as a pyfunc, and ``encoder_path`` finds it. A failure leaves
        the run marked FAILED and registers no version. ``complete_later``: create the run and
        the version now and log the rest on the registry's worker (workbench.registry.deferred;
        not with an ``encoder``); readers of the registry wait for it.
        """
        if encoder is not None and not (Path(encoder) / "modules.json").is_file():
            raise ValidationError("encoder", f"{encoder} is not a sentence-transformers folder (no modules.json)",
                                  "Pass the folder EncoderFineTuning.save wrote")
        _check_training_inputs(model, tags_table, figures or {}, extra_artifacts or {})
        model_name = registered_model_name(tracker_name)
        run_params = _run_params(tracker_name, params, tags_table, model.embedding_model, label_column)
        run_metrics = {mlflow_key(k): metric_value(k, v) for k, v in flatten(metrics).items()}
        round_no = round_of(run_params.get("round"))
        round_tag = {TAG_ROUND: str(round_no)} if round_no is not None else {}
        run_tags = {TAG_TRACKER: tracker_name, TAG_MODEL_NAME: model_name, **round_tag}
        if description:
            run_tags[TAG_NOTE] = description
        if figures_later:
            run_tags[TAG_FIGURES] = FIGURES_PENDING
        run_name = f"round {round_no}" if round_no is not None else "training"
        if complete_later and encoder is None:
            return log_training_later(
                self, tracker_name, model_name=model_name, run_name=run_name, run_tags=run_tags, params=run_params,
                metrics=run_metrics, version_tags={TAG_TRACKER: tracker_name, **round_tag}, description=description,
                model=model, tags_table=tags_table, figures=figures or {}, extra_artifacts=extra_artifacts or {})
        with self.store.run(tracker_name, model_name, run_name, run_tags) as run:
            self.store.log_batch(run.run_id, params=run_params)
            with tempfile.TemporaryDirectory(prefix="workbench-run-") as tmp:
                run_dir = Path(tmp, "run")
                write_run_artifacts(run_dir, tags_table, figures or {}, extra_artifacts or {})
                self.client.log_artifacts(run.run_id, str(run_dir))
            record = self.store.register_version(
                run, model, tracker_name=tracker_name, model_name=model_name, params=run_params,
                metrics=run_metrics, version_tags={TAG_TRACKER: tracker_name, **round_tag},
                description=description, encoder=None if encoder is None else Path(encoder))
            # At once, before the run ends: a version left unrecorded by a kill is only adopted
            # on its first load (workbench.registry.artefacts).
            self.record_trained(tracker_name, record.version)
        return record

    def record_trained(self, tracker_name: str, version: int) -> None:
        """Hash a trained version's model folder, now that it is complete (``_model_dir`` checks it)."""
        self._record_artefacts(tracker_name, version, "trained")

    def log_figures_later(self, run_id: str, draw: DrawFigures) -> None:
        """Log ``draw()``'s figures to run ``run_id`` (logged with ``figures_later=True``) on a
        worker thread, and tag it "logged"; this returns at once."""
        self.figures_later.submit(run_id, draw)

    def wait_for_figures(self, timeout: float | None = None) -> bool:
        """Wait until the figures and records of every training of this process are logged
        (``figures_later``, ``complete_later``); False if ``timeout`` seconds passed first."""
        return self.figures_later.wait(timeout)

    # -- reading back -------------------------------------------------------------------------
    def versions(self, tracker_name: str) -> list[VersionInfo]:
        """Registered versions of a tracker, oldest first; [] for a tracker never trained."""
        self.wait_for_figures()  # their runs as a training that logged its figures at once leaves them
        model_name = registered_model_name(tracker_name)
        versions = self.store.model_versions(model_name)
        if not versions:
            return []
        # search_model_versions leaves aliases empty; the registered model has them all.
        aliases: dict[int, list[str]] = {}
        for alias, version in self.client.get_registered_model(model_name).aliases.items():
            aliases.setdefault(int(version), []).append(alias)
        result = []
        for mv in versions:
            run = self.client.get_run(mv.run_id) if mv.run_id else None
            result.append(VersionInfo(
                version=int(mv.version),
                run_id=mv.run_id or "",
                created=_to_datetime(mv.creation_timestamp),
                aliases=tuple(sorted(aliases.get(int(mv.version), ()))),
                metrics=dict(run.data.metrics) if run else {},
                round=round_of((mv.tags or {}).get(TAG_ROUND)),
                description=mv.description or "",
                model_uri=f"models:/{model_name}/{mv.version}",
            ))
        return sorted(result, key=lambda v: v.version)

    def runs(self, tracker_name: str) -> pl.DataFrame:
        """One row per training, oldest first, for comparing rounds: run_id, run_name, round,
        version (null when the run registered none), status, started, then `params.<key>`
        (strings) and `metrics.<key>` (floats) columns."""
        self.wait_for_figures()
        base = {
            "run_id": pl.String, "run_name": pl.String, "round": pl.Int64, "version": pl.Int64,
            "status": pl.String, "started": pl.Datetime("us", "UTC"),
        }
        experiment = self.store.experiment(tracker_name)
        if experiment is None:
            return pl.DataFrame(schema=base)
        version_of_run = {
            mv.run_id: int(mv.version)
            for mv in self.store.model_versions(registered_model_name(tracker_name))
        }
        rows = []
        page_token = None
        while True:
            page = self.client.search_runs(
                [experiment.experiment_id],
                order_by=["attributes.start_time ASC"],
                max_results=1000,
                page_token=page_token,
            )
            for r in page:
                row: dict[str, Any] = {
                    "run_id": r.info.run_id,
                    "run_name": r.info.run_name,
                    "round": round_of(r.data.tags.get(TAG_ROUND)),
                    "version": version_of_run.get(r.info.run_id),
                    "status": r.info.status,
                    "started": _to_datetime(r.info.start_time),
                }
                row.update({f"params.{k}": v for k, v in r.data.params.items()})
                row.update({f"metrics.{k}": float(v) for k, v in r.data.metrics.items()})
                rows.append(row)
            page_token = page.token
            if not page_token:
                break
        if not rows:
            return pl.DataFrame(schema=base)
        extra = sorted({k for row in rows for k in row} - set(base))
        schema = {**base, **{k: pl.String if k.startswith("params.") else pl.Float64 for k in extra}}
        return pl.DataFrame(rows, schema=schema)

    # -- aliases ------------------------------------------------------------------------------
    def set_alias(self, tracker_name: str, alias: str, version: int) -> None:
        """Point `alias` at `version`, moving it from the version it was on."""
        model_name = registered_model_name(tracker_name)
        self.store.model_version(model_name, version, tracker_name)  # a NotFoundError naming the tracker
        try:
            self.client.set_registered_model_alias(model_name, alias, str(int(version)))
        except MlflowException as e:
            if e.error_code == "INVALID_PARAMETER_VALUE":
                raise ValidationError("alias", e.message) from e
            raise

    def get_alias(self, tracker_name: str, alias: str) -> int | None:
        """The version `alias` points at, or None when it is not set (or the tracker is unknown)."""
        try:
            mv = self.client.get_model_version_by_alias(registered_model_name(tracker_name), alias)
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        return int(mv.version)

    # -- models -------------------------------------------------------------------------------
    def linear_model(self, tracker_name: str, version: int | None = None, alias: str | None = None) -> LinearTrackerModel:
        """A version's classifier as plain data, read from its model folder (a legacy pickle
        through the restricted reader); no pyfunc is loaded. Without version or alias: the latest."""
        mv = self._resolve_version(tracker_name, version, alias)
        return read_model(self._model_dir(tracker_name, mv))

    def encoder_path(self, tracker_name: str, version: int | None = None, alias: str | None = None) -> Path | None:
        """The folder of a deep-trained version's own encoder (a sentence-transformers model that
        its classifier's embeddings come from), or None for a version trained on the
        workspace's embeddings. Without version or alias: the latest."""
        return encoder_dir(self._model_dir(tracker_name, self._resolve_version(tracker_name, version, alias)))

    def model_path(self, tracker_name: str, version: int | None = None, alias: str | None = None) -> str:
        """The location (a file URI) of a version's pyfunc model, loadable without the workbench.
        A version stored before models were plain data is served from a plain copy."""
        mv = self._resolve_version(tracker_name, version, alias)
        model_dir = self._model_dir(tracker_name, mv)
        if is_plain(model_dir):
            return model_dir.as_uri()
        return self._plain_copy(mv, model_dir, tracker_name).as_uri()

    def load_model(
        self, tracker_name: str, version: int | None = None, alias: str | None = None
    ) -> PyFuncModel:
        """Load a version as an MLflow pyfunc: `predict(pd.DataFrame({"text": [...]}))` or with an
        `embedding` column gives `score` and `detected`. Without version or alias: the latest.
        `.unwrap_python_model().score_embeddings(array)` skips pandas and schema checks; the
        workbench itself reads `linear_model()` instead."""
        # A file URI, not models:/…, so loading never consults MLflow's global tracking URI.
        return mlflow.pyfunc.load_model(self.model_path(tracker_name, version, alias))

    def _model_dir(self, tracker_name: str, mv) -> Path:
        """The local folder of a version's model, checked against the hashes recorded when the
        version was written (ArtefactChanged otherwise). Every read of a version's model goes
        through here: linear_model, encoder_path, model_path (load_model, exports)."""
        folder = self._stored_dir(mv)
        wait_for_another_process(self.root, mv.run_id)  # this process's own: _resolve_version waited
        self.artefacts.verify(tracker_name, mv, folder)
        return folder

    def _stored_dir(self, mv) -> Path:
        """Where a version's model folder is; the registry only ever writes file URIs."""
        uri = urlparse(self.client.get_model_version_download_uri(mv.name, mv.version))
        return Path(url2pathname(uri.path))

    def _record_artefacts(self, tracker_name: str, version: int, how: str) -> None:
        mv = self.store.model_version(registered_model_name(tracker_name), version, tracker_name)
        self.artefacts.record(mv, self._stored_dir(mv), how)

    def _plain_copy(self, mv, legacy_dir: Path, tracker_name: str) -> Path:
        """A plain-data copy of a legacy version's pyfunc, made once. The original folder stays
        as MLflow wrote it; the copy is keyed by it, so a recreated tracker never finds another's.
        The key is the folder's place inside the store, so a moved workspace keeps its copies."""
        try:
            place = legacy_dir.resolve().relative_to(self.root).as_posix()
        except ValueError:  # not under this store (MLflow was pointed elsewhere by hand)
            place = str(legacy_dir)
        key = hashlib.sha1(place.encode("utf-8")).hexdigest()[:16]
        dest = self.root / "plain-models" / f"{mv.name}-v{mv.version}-{key}"
        if not dest.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".partial-", dir=dest.parent) as tmp:
                save_plain_copy(legacy_dir, Path(tmp, "model"), tracker_name)
                try:
                    Path(tmp, "model").rename(dest)
                except OSError:
                    if not dest.is_dir():  # not another process that got there first
                        raise
        return dest

    def _resolve_version(self, tracker_name: str, version: int | None, alias: str | None):
        self.wait_for_figures()  # a version's model is complete once its record is (complete_later)
        model_name = registered_model_name(tracker_name)
        if version is not None and alias is not None:
            raise ValidationError("version", "given together with alias", "Pass one of them")
        if alias is not None:
            found = self.get_alias(tracker_name, alias)
            if found is None:
                raise NotFoundError(f"tracker {tracker_name!r} has no version with alias {alias!r}")
            version = found
        if version is None:
            versions = self.store.model_versions(model_name)
            if not versions:
                raise NotFoundError(f"tracker {tracker_name!r} has no trained version yet")
            version = max(int(mv.version) for mv in versions)
        return self.store.model_version(model_name, version, tracker_name)

    # -- deleting -----------------------------------------------------------------------------
    def delete_tracker(self, tracker_name: str) -> bool:
        """Remove a tracker from MLflow: its registered model and versions (MLflow has no undo for
        those) and its experiment, soft-deleted so its runs and artifacts stay until
        `mlflow gc`. The experiment is renamed first so a new tracker may take the name.
        Returns whether anything was there to delete."""
        self.wait_for_figures()  # nothing of this process still writing into what is deleted
        model_name = registered_model_name(tracker_name)
        self.artefacts.forget(model_name)
        found = False
        try:
            self.client.delete_registered_model(model_name)
            found = True
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        experiment = self.store.experiment(tracker_name, include_deleted=True)
        if experiment is not None:
            found = True
            if experiment.lifecycle_stage != "deleted":
                stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                self.client.rename_experiment(
                    experiment.experiment_id, f"{experiment.name} (deleted {stamp} {experiment.experiment_id})"
                )
                self.client.delete_experiment(experiment.experiment_id)
        return found

    # -- bundles ------------------------------------------------------------------------------
    def export_version(self, tracker_name: str, version: int, dest_dir: Path | str) -> Path:
        """Copy a version out of the store into `dest_dir` (see workbench.registry.transfer)."""
        self.wait_for_figures()
        return transfer.export_version(self, tracker_name, version, dest_dir)

    def import_version(self, tracker_name: str, src_dir: Path | str) -> TrainingRecord:
        """Register an exported version as the next version of `tracker_name` in this store
        (see workbench.registry.transfer); a legacy model is read safely and stored as plain data."""
        record = transfer.import_version(self, tracker_name, src_dir)
        self._record_artefacts(tracker_name, record.version, "imported")
        return record


def _check_training_inputs(model: Any, tags_table: Any, figures: Mapping[str, Any],
                           extra_artifacts: Mapping[str, Any]) -> None:
    """Checked before the run exists, so a caller's mistake leaves no FAILED run behind."""
    if not isinstance(model, LinearTrackerModel):
        raise ValidationError("model", f"is a {type(model).__name__}",
                              "Pass LinearTrackerModel.from_estimator(fitted TrackerModel, embedding model id)")
    if not isinstance(tags_table, pl.DataFrame):
        raise ValidationError("tags_table", f"is a {type(tags_table).__name__}", "Pass a polars DataFrame")
    for name, figure in figures.items():
        if not callable(getattr(figure, "savefig", None)):
            raise ValidationError(f"figures.{name}", f"is a {type(figure).__name__}", "Pass a matplotlib figure")
    for name, content in extra_artifacts.items():
        if not isinstance(content, (Mapping, str)):
            raise ValidationError(
                f"extra_artifacts.{name}", f"is a {type(content).__name__}",
                "Pass a dict (saved as JSON) or a str (saved as text)",
            )


def _run_params(tracker_name: str, params: Mapping[str, Any], tags_table: pl.DataFrame,
                embedding_model: str, label_column: str) -> dict[str, str]:
    derived: dict[str, Any] = {
        "tracker": tracker_name,
        "embedding_model": embedding_model,
        "n_tags": tags_table.height,
    }
    if label_column in tags_table.columns:
        counts = tags_table.get_column(label_column).cast(pl.String).value_counts()
        for label, count in counts.iter_rows():
            key = "n_" + re.sub(r"\W+", "_", str(label).strip().lower()).strip("_")
            derived[key] = count
        for label in ("n_yes", "n_no", "n_not_sure"):
            derived.setdefault(label, 0)
    derived.update(flatten(params))
    return {mlflow_key(k): param_value(v) for k, v in derived.items()}
