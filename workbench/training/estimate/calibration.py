"""The calibration P(YES | score) that centres the honest estimate's band priors.

A logistic map of the tags' out-of-fold scores (so no tag's score depends on its own label).
Tags chosen by similarity or as near misses are chosen *for looking like positives*, so at a
low score they are YES more often than an untagged row with the same score; fitted on them,
the calibration overstates the positives the model misses (measured: hit rate -0.09 on
average). The missed side (score <= 0) is therefore calibrated on the probe only: the
stratified random tags, whose selection depends on a model's score alone. The detected side
keeps all tags: there the planner's top-scored picks are also chosen by score alone and the
probe is thin.

Each Monte Carlo draw of the estimate takes one bootstrap replicate of both fits, resampled
within (YES/NO) x (probe or not) groups so that each replicate keeps the design's mix: the
calibration's own uncertainty enters the interval.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

# A weak ridge on the slope (not the intercept), towards a flat calibration; measured on the
# benchmark against 0.001 and 1.0 (benchmarks/results/tracker_quality.md).
RIDGE = np.array([0.1, 0.0])
# The probe alone calibrates the missed side once it holds this many tags; with fewer, every
# tag does.
MIN_PROBE_TAGS = 4

Calibration = tuple[float, float, tuple[float, float]]  # (slope, intercept) missed side, detected side


def logistic(Z: np.ndarray, y: np.ndarray, ridge: np.ndarray, start: np.ndarray | None = None,
             iters: int = 30) -> np.ndarray:
    """Ridge-penalised logistic regression by Newton's method on a few columns: cheap enough
    to refit for every bootstrap replicate (warm-started from ``start``)."""
    beta = np.zeros(Z.shape[1]) if start is None else np.array(start, dtype=float)
    R = np.diag(ridge) + 1e-9 * np.eye(Z.shape[1])
    for _ in range(iters):
        p = expit(Z @ beta)
        g = Z.T @ (p - y) + R @ beta
        H = (Z * (p * (1 - p))[:, None]).T @ Z + R
        step = np.linalg.solve(H, g)
        beta = beta - step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def calibration_draws(oof: np.ndarray, y: np.ndarray, is_probe_tag: np.ndarray, n_draws: int,
                      rng: np.random.Generator) -> list[Calibration]:
    """``n_draws`` bootstrap replicates of the calibration, each (a, b, (a2, b2)):
    expit(a s + b) below the threshold, from the probe tags (all tags while the probe holds
    fewer than MIN_PROBE_TAGS), and expit(a2 s + b2) above it, from every tag."""
    yf = y.astype(float)
    Z = np.column_stack([oof, np.ones_like(oof)])
    probe_only = is_probe_tag.sum() >= MIN_PROBE_TAGS
    fit_rows = np.flatnonzero(is_probe_tag) if probe_only else np.arange(len(y))
    # The point fits only warm-start the replicates.
    missed0 = logistic(Z[fit_rows], yf[fit_rows], RIDGE)
    detected0 = tuple(logistic(Z, yf, RIDGE))
    groups = [g for g in (
        np.flatnonzero((y == c) & (is_probe_tag == p)) for c in (0, 1) for p in (False, True)
    ) if g.size]
    draws = []
    for _ in range(n_draws):
        idx = np.concatenate([rng.choice(g, g.size) for g in groups])
        rows = np.sort(idx[is_probe_tag[idx]]) if probe_only else idx
        a, b = logistic(Z[rows], yf[rows], RIDGE, missed0)
        detected = tuple(logistic(Z[idx], yf[idx], RIDGE, detected0))
        draws.append((a, b, detected))
    return draws
