"""Moving one version between stores: the folder that bundles carry.

``export_version`` writes a version as ``model/`` (its pyfunc, always in the plain-data format),
``run/`` (its run's artifacts) and ``version.json`` (params, metrics, description);
``import_version`` registers such a folder as the next version of a tracker in another store.
The model is read before anything is created: as plain data, or, for a folder exported before
models were plain data, through the restricted reader of workbench.registry.legacy, which refuses
a pickle that asks for anything but a tracker model's arrays. The imported version is written in
the plain format, whatever format it came in.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow

from workbench.core.errors import ValidationError
from workbench.registry.mlflow_store import TrainingRecord
from workbench.registry.model_files import encoder_dir, read_model
from workbench.registry.names import (
    TAG_MODEL_NAME,
    TAG_NOTE,
    TAG_ROUND,
    TAG_TRACKER,
    json_safe,
    mlflow_key,
    param_value,
    registered_model_name,
    round_of,
)

if TYPE_CHECKING:
    from workbench.registry.versions import TrackerRegistry

FORMAT = "workbench-tracker-version/1"


def export_version(registry: TrackerRegistry, tracker_name: str, version: int, dest_dir: Path | str) -> Path:
    """Copy a version out of the store into `dest_dir`, enough for `import_version` to recreate
    it in another workspace."""
    model_name = registered_model_name(tracker_name)
    mv = registry.store.model_version(model_name, version, tracker_name)
    dest = Path(dest_dir)
    if dest.exists() and any(dest.iterdir()):
        raise ValidationError("dest_dir", f"{dest} is not empty", "Export into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    run = registry.client.get_run(mv.run_id)
    with tempfile.TemporaryDirectory(prefix="workbench-export-", dir=dest) as tmp:
        # download_artifacts puts a folder named after the URI's last segment under dst_path;
        # move it to a name of our own.
        model = mlflow.artifacts.download_artifacts(
            artifact_uri=registry.model_path(tracker_name, version=int(mv.version)), dst_path=str(Path(tmp, "model")),
        )
        shutil.move(model, dest / "model")
        if registry.client.list_artifacts(mv.run_id):
            artifacts = mlflow.artifacts.download_artifacts(
                artifact_uri=run.info.artifact_uri, dst_path=str(Path(tmp, "run"))
            )
            shutil.move(artifacts, dest / "run")
        else:
            (dest / "run").mkdir()
    manifest = {
        "format": FORMAT,
        "tracker": tracker_name,
        "version": int(mv.version),
        "run_name": run.info.run_name,
        "params": dict(run.data.params),
        "metrics": json_safe(dict(run.data.metrics)),
        "description": mv.description or "",
        "exported_at": datetime.now(timezone.utc).isoformat(),
    }
    (dest / "version.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return dest


def import_version(registry: TrackerRegistry, tracker_name: str, src_dir: Path | str) -> TrainingRecord:
    """Register an exported version as the next version of `tracker_name`, with a new run
    carrying the exported params, metrics and artifacts."""
    src = Path(src_dir)
    manifest_path = src / "version.json"
    if not manifest_path.is_file() or not (src / "model" / "MLmodel").is_file():
        raise ValidationError("src_dir", f"{src} holds no exported version", "Pick a folder made by export_version")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    model = read_model(src / "model")  # refuses an unsafe legacy pickle before anything exists
    model_name = registered_model_name(tracker_name)
    params = {**manifest.get("params", {}), "tracker": tracker_name}
    metrics = {k: (math.nan if v is None else float(v)) for k, v in manifest.get("metrics", {}).items()}
    description = manifest.get("description", "")
    round_no = round_of(params.get("round"))
    version_tags = {
        TAG_TRACKER: tracker_name,
        "workbench.imported_from": f"{manifest.get('tracker')} v{manifest.get('version')}",
        **({TAG_ROUND: str(round_no)} if round_no is not None else {}),
    }
    run_tags = {**version_tags, TAG_MODEL_NAME: model_name, **({TAG_NOTE: description} if description else {})}
    run_params = {mlflow_key(k): param_value(v) for k, v in params.items()}
    with registry.store.run(tracker_name, model_name, manifest.get("run_name") or "imported", run_tags) as run:
        registry.store.log_batch(run.run_id, params=run_params)
        if (src / "run").is_dir() and any((src / "run").iterdir()):
            registry.client.log_artifacts(run.run_id, str(src / "run"))
        return registry.store.register_version(
            run, model, tracker_name=tracker_name, model_name=model_name, params=run_params,
            metrics=metrics, version_tags=version_tags, description=description,
            encoder=encoder_dir(src / "model"))
