"""A tracker version's model as plain data: the linear form of its classifier.

The workbench's classifier (workbench.training.model.TrackerModel) is a logistic regression over
sentence embeddings with a threshold on the raw decision scale. What scoring needs of it is four
numbers and an array, so that is what a version stores: ``linear_model.json`` next to the MLflow
pyfunc, readable by any JSON parser, with no pickle and no class path that a refactoring could
break::

    {"format": "workbench-linear-tracker-model/1",
     "embedding_model": "...", "embedding_dim": 384,
     "coef": [...384 floats...], "intercept": -2.77, "threshold": 0.23,
     "score": "logistic"}

    decision(x) = x · coef + intercept - threshold     (0 at the version's threshold)
    score(x)    = 1 / (1 + exp(-decision(x)))           (0.5 at the threshold; ranks, not calibrated)
    detected    = score >= 0.5

Python writes floats in JSON as their shortest exact repr, so the numbers read back bit for bit.
The arithmetic follows TrackerModel's (the product in the input's dtype, the rest in float64), so
a stored version scores exactly as the fitted model did. workbench/registry/pyfunc.py repeats
these few lines because it must load without the workbench.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from workbench.core.errors import ValidationError

FORMAT = "workbench-linear-tracker-model/1"
FILE_NAME = "linear_model.json"
# How the score follows from the decision value; a later format may name a calibration here.
SCORE = "logistic"


@dataclass(frozen=True, eq=False)
class LinearTrackerModel:
    """The coefficients, intercept and threshold of a tracker's classifier, and the embeddings
    they apply to. ``threshold`` is on the raw decision scale (TrackerModel's ``threshold_``)."""

    coef: np.ndarray  # (embedding_dim,) float64
    intercept: float
    threshold: float
    embedding_model: str

    def __post_init__(self) -> None:
        coef = np.asarray(self.coef, dtype=np.float64).ravel()
        if coef.size == 0 or not np.isfinite(coef).all():
            raise ValidationError("coef", f"has {coef.size} values, not all finite", "Pass a fitted classifier")
        for name in ("intercept", "threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise ValidationError(name, f"is {value!r}", "Pass a finite number")
            object.__setattr__(self, name, float(value))
        coef.setflags(write=False)
        object.__setattr__(self, "coef", coef)

    @property
    def embedding_dim(self) -> int:
        return int(self.coef.shape[0])

    @classmethod
    def from_estimator(cls, model: Any, embedding_model: str) -> LinearTrackerModel:
        """The plain form of a fitted TrackerModel: its logistic regression (``lr_``) and its
        ``threshold_``. This is the one place outside workbench.training that knows them."""
        lr, threshold = getattr(model, "lr_", None), getattr(model, "threshold_", None)
        coef, intercept = getattr(lr, "coef_", None), getattr(lr, "intercept_", None)
        if coef is None or intercept is None or threshold is None:
            raise ValidationError(
                "model", f"{type(model).__name__} is not a fitted TrackerModel (no lr_ or threshold_)",
                "Fit the tracker's TrackerModel before registering it")
        if np.shape(coef)[0] != 1:
            raise ValidationError("model", f"has {np.shape(coef)[0]} classes of coefficients", "Pass a binary model")
        return cls(coef=np.asarray(coef)[0], intercept=float(np.ravel(intercept)[0]),
                   threshold=float(threshold), embedding_model=embedding_model)

    # -- scoring -----------------------------------------------------------------------------
    def decision(self, X: np.ndarray) -> np.ndarray:
        """Decision values, 0 at the threshold: TrackerModel.decision_function, bit for bit."""
        X = self._check(X)
        # In the input's dtype: upcasting 100,000 x 384 float32 rows to float64 costs more than
        # the product itself (and it is what TrackerModel does, so the scores stay identical).
        raw = X @ self.coef.astype(X.dtype) + X.dtype.type(self.intercept)
        return raw.astype(np.float64) - self.threshold

    def score(self, X: np.ndarray) -> np.ndarray:
        """The logistic of the decision: 0.5 at the threshold. Ranks; not a calibrated rate."""
        return 1.0 / (1.0 + np.exp(-self.decision(X)))

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float32)
        if X.ndim != 2 or X.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape (n, {self.embedding_dim}); got {X.shape}. "
                             f"This version was trained on {self.embedding_model} embeddings.")
        return X

    # -- plain data --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "embedding_model": self.embedding_model, "embedding_dim": self.embedding_dim,
            "coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold,
            "score": SCORE,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "linear model") -> LinearTrackerModel:
        if data.get("format") != FORMAT or data.get("score", SCORE) != SCORE:
            raise ValidationError(source, f"has format {data.get('format')!r} (score {data.get('score')!r})",
                                  f"Expected {FORMAT!r}; a newer workbench wrote it")
        try:
            model = cls(coef=np.asarray(data["coef"], dtype=np.float64), intercept=data["intercept"],
                        threshold=data["threshold"], embedding_model=str(data["embedding_model"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(source, f"is not a complete linear model ({exc})") from exc
        if int(data.get("embedding_dim", model.embedding_dim)) != model.embedding_dim:
            raise ValidationError(source, f"says embedding_dim {data['embedding_dim']} but has "
                                          f"{model.embedding_dim} coefficients")
        return model

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str) -> LinearTrackerModel:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError(str(path), f"cannot be read as a linear model ({exc})") from exc
        return cls.from_dict(data, source=str(path))
