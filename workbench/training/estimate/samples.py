"""Detections to show the user: spread over the score range, so that the sure hits and the
borderline ones both appear, in proportion to how many of each the tracker makes."""
from __future__ import annotations

import numpy as np


def sample_detections(scores: np.ndarray, threshold: float = 0.0, n: int = 20,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """``n`` detections spread over the score range above ``threshold``, highest first.

    The detections are cut into n bins of equal count by score and one row is drawn from
    each, so the user sees the sure hits *and* the borderline ones, in proportion to how
    many of each the tracker makes. Returns all detections when there are fewer than n.
    """
    rng = np.random.default_rng() if rng is None else rng
    scores = np.asarray(scores, dtype=float)
    det = np.flatnonzero(scores > threshold)
    if det.size <= n:
        return det[np.argsort(-scores[det], kind="stable")]
    ranked = det[np.argsort(-scores[det], kind="stable")]
    edges = np.linspace(0, ranked.size, n + 1).round().astype(int)
    picks = np.array([ranked[rng.integers(edges[i], edges[i + 1])] for i in range(n)])
    return picks
