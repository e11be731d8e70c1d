"""What the registry calls things in MLflow, and the values MLflow accepts.

One experiment ("tracker: <name>") and one registered model per tracker; params, metrics and
artifact names are cleaned here so that any tracker name or setting can be logged.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
import unicodedata
from pathlib import Path
from typing import Any, Mapping

from workbench.core.errors import ValidationError
from workbench.core.settings import PUBLISHED_ALIAS  # noqa: F401  (the registry re-exports it)

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Tags the workbench reads back; "workbench." keeps them apart from MLflow's own "mlflow." tags.
TAG_TRACKER = "workbench.tracker"
TAG_ROUND = "workbench.round"
TAG_MODEL_NAME = "workbench.registered_model"
# The process that runs a training (workbench.core.processes.owner_token): a run it leaves in
# RUNNING when it is killed is ended by the next open of the store (workbench.registry.recovery).
TAG_OWNER = "workbench.owner"
# A run whose figures are drawn after its training returned (workbench.registry.later): "pending"
# until they are logged, then "logged". A pending run whose owner is gone is redrawn on open.
TAG_FIGURES = "workbench.figures"
# Its values; "abandoned": pending with no recorded version to draw (its tracker was deleted).
FIGURES_PENDING, FIGURES_LOGGED, FIGURES_ABANDONED = "pending", "logged", "abandoned"
# MLflow shows this tag as the description of a run or an experiment.
TAG_NOTE = "mlflow.note.content"

_MAX_PARAM_VALUE = 6000  # MLflow's limit; longer values are cut rather than failing the training


def experiment_name(tracker_name: str) -> str:
    """The experiment holding a tracker's runs: the human name, which MLflow accepts as it is."""
    return f"tracker: {check_tracker_name(tracker_name)}"


def registered_model_name(tracker_name: str) -> str:
    """The registered-model name of a tracker.

    MLflow forbids '/' and ':' in model names and they end up in `models:/<name>/<version>` URIs,
    so anything outside [A-Za-z0-9_.-] is replaced. When that loses information a short hash of the
    exact name is appended, so "Price / discount" and "Price - discount" never share a model. A
    name that is already safe is kept unchanged.
    """
    name = check_tracker_name(tracker_name)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_name)
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")[:100].strip("-.")
    if slug == name:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{slug or 'tracker'}-{digest}"


def check_tracker_name(tracker_name: str) -> str:
    if not isinstance(tracker_name, str) or not tracker_name.strip():
        raise ValidationError("tracker name", "is empty", "Give the tracker a name")
    if len(tracker_name) > 400:
        raise ValidationError("tracker name", f"has {len(tracker_name)} characters", "Use at most 400")
    return tracker_name


def mlflow_key(key: str) -> str:
    """A param or metric key MLflow accepts: its allowed characters, no empty path segment."""
    cleaned = re.sub(r"[^\w.\- :/]", "_", str(key))
    parts = [p for p in cleaned.split("/") if p not in ("", ".", "..")]
    return ("/".join(parts) or "_")[:250]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings ({"classifier": {"C": 1}}) become dotted keys ("classifier.C")."""
    flat: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            flat.update(flatten(v, key))
        else:
            flat[key] = v
    return flat


def param_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)):
        text = json.dumps(list(value), default=str)
    else:
        text = str(value)
    return text if len(text) <= _MAX_PARAM_VALUE else text[: _MAX_PARAM_VALUE - 1] + "…"


def metric_value(key: str, value: Any) -> float:
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


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity; null keeps the artifact readable by any JSON parser."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    return value


def artifact_file_name(name: str, default_suffix: str) -> str:
    base = re.sub(r"[^\w.\- ]", "_", Path(str(name)).name).strip(" .") or "artifact"
    return base if Path(base).suffix else base + default_suffix


def round_of(value: Any) -> int | None:
    """The round number of a param or tag value, or None when it is not a number."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
