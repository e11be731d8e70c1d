"""The scorer of a published version: a registered model reduced to what scoring needs.

(The rest of activation lives beside this module: context, scoring, backfill, new_calls,
lifecycle, detections, publishing, bundles, spark.)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from workbench.workspace import Workspace


# ---------------------------------------------------------------------------------------------
# Scoring with a published version
# ---------------------------------------------------------------------------------------------
@dataclass
class Scorer:
    """One registered version, reduced to what scoring needs.

    Linear models (the workbench's own) become ``weights``/``bias`` on the decision scale where
    0 is the version's threshold; anything else is scored through its pyfunc.
    """

    tracker: str
    version: int
    weights: np.ndarray | None
    bias: float
    python_model: Any
    embedding_model: str

    def score(self, view, rows: np.ndarray, *, on_block=None) -> tuple[np.ndarray, np.ndarray]:
        """(score, detected) for the given rows of ws.sentences; score is 0.5 at the threshold."""
        from workbench.embedding.matrix import linear_scores

        if self.weights is not None:
            d = linear_scores(view, rows, self.weights, self.bias, on_block=on_block)
            return _sigmoid(d), d >= 0
        scores = np.empty(len(rows), dtype=np.float64)
        for lo in range(0, len(rows), 65_536):
            part = rows[lo : lo + 65_536]
            scores[lo : lo + len(part)] = self.python_model.score_embeddings(view.embeddings(part))
            if on_block is not None:
                on_block(len(part))
        return scores, scores >= self.python_model.threshold


def _sigmoid(d: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-d.astype(np.float64)))


_scorers: dict[tuple[str, str, int], Scorer] = {}


def load_scorer(ws: "Workspace", tracker_name: str, version: int) -> Scorer:
    """The scorer of a registered version; memoised per store and version (versions never change)."""
    key = (str(ws.registry.root), tracker_name, int(version))
    if key in _scorers:
        return _scorers[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's notes on model-from-code and signatures
        pm = ws.registry.load_model(tracker_name, version=int(version)).unwrap_python_model()
    weights, bias = _linear_form(pm)
    scorer = Scorer(tracker=tracker_name, version=int(version), weights=weights, bias=bias, python_model=pm,
                    embedding_model=str(pm.config.get("embedding_model", "")))
    _scorers[key] = scorer
    return scorer


def _linear_form(pm) -> tuple[np.ndarray | None, float]:
    """(w, b) with ``pm.score_embeddings(X) >= pm.threshold  <=>  X @ w + b >= 0``, or (None, 0).

    Read from the classifier's logistic regression and then checked against the pyfunc itself on
    random vectors, so a classifier that only looks linear is scored the slow, right way.
    """
    clf = pm.classifier
    inner = getattr(clf, "model", clf)  # the workbench registers TrackerModel inside a wrapper
    lr = getattr(inner, "lr_", inner)
    coef, intercept = getattr(lr, "coef_", None), getattr(lr, "intercept_", None)
    if coef is None or intercept is None or np.shape(coef)[0] != 1:
        return None, 0.0
    shift = float(getattr(inner, "threshold_", 0.0)) if inner is not lr else 0.0
    p = float(pm.threshold)
    if not 0.0 < p < 1.0:
        return None, 0.0
    w = np.asarray(coef, dtype=np.float64).ravel()
    b = float(np.ravel(intercept)[0]) - shift - math.log(p / (1.0 - p))
    rng = np.random.default_rng(0)
    probe = rng.standard_normal((64, w.shape[0])).astype(np.float32)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    expected = pm.score_embeddings(probe)
    got = 1.0 / (1.0 + np.exp(-(probe.astype(np.float64) @ w + b + math.log(p / (1.0 - p)))))
    if not np.allclose(expected, got, atol=1e-5):
        return None, 0.0
    return w.astype(np.float32), b
