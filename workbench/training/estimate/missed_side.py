"""The missed side's own calibration: a line in depth below the threshold, fitted to the bands.

Today's prior centres below the threshold (``bands.prior_centres``) extrapolate one logistic
of the log-rank score, fitted across the threshold and capped in slope. On the benchmark that
extrapolation put 2.5-5.5x the true positives in the deep bands (more than one doubling of
rank below the threshold, most of the scope), where 15-17 random tags, almost never a YES,
cannot pull it back band by band (benchmarks/results/hit_rate_bias.md). The truth is steep at
the threshold and slow in the deep tail: a logistic across the cut cannot follow both.

Here the missed side has a model of its own, the hierarchical one the bands state:

    logit p_b = level + slope * x_b + e_b,   e_b ~ Normal(0, band_sd^2)

for each band b below the threshold, x_b its depth (doublings of rank below the threshold,
``depth_feature``), with priors level ~ Normal(the shared calibration's rate in the first band,
``level_sd``^2) and slope ~ Normal(``slope_prior``) truncated to a falling rate. The posterior
of (level, slope) is computed on a grid from the random tags of *all* the missed bands
together (each band's binomial integrated over e_b on ``bands.LOGIT_GRID``), so the deep
bands' silent tags pull the line down together and the first band's tags set its level, apart
from the detected side. Each Monte Carlo draw takes one (level, slope) from it; the bands'
rates are then drawn by ``bands.posterior_rates`` around the line, as for the other bands.

Off by default (``HonestEstimate(missed_fit="shared")``): measured on the benchmark (seeds
0-11, benchmarks/results/missed_side.md) it holds the truth on the typed corpora but widens
every hit-rate interval, and on the meetings it covers 82% and lowers F1 through the threshold
bound's count. About 20 random tags below the threshold cannot tell the tail's shape, which
differs by corpus, so the line's priors decide it.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, logsumexp

from workbench.training.estimate.bands import LOGIT_GRID, Bands, grid_loglik

# How the depth below the threshold enters the line: "line", doublings of rank (the rate
# falls by a constant factor per doubling); "log_line", log2(1 + doublings) (steep at the
# threshold, slow in the deep tail).
MISSED_FITS = ("shared", "line", "log_line")
# The grid of the (level, slope) posterior: level in the prior's centre +- 4 sd, slope from 0
# (flat) to MAX_SLOPE logits per unit of depth.
N_LEVELS, N_SLOPES, MAX_SLOPE = 41, 33, 4.0


def depth_feature(scores: np.ndarray, shape: str) -> np.ndarray:
    """The depth below the threshold of log-rank ``scores`` (0 at it, -1 one doubling of rank
    below), as the line of ``shape`` uses it (0 at the threshold, growing with depth)."""
    depth = np.maximum(-np.asarray(scores, dtype=float), 0.0)
    if shape == "line":
        return depth
    if shape == "log_line":
        return np.log2(1.0 + depth)
    raise ValueError(f"missed_fit={shape!r}: expected one of {', '.join(MISSED_FITS[1:])}")


def band_logits(level: np.ndarray, slope: np.ndarray, x_rep: np.ndarray) -> np.ndarray:
    """(..., M): each band's average rate under the line (level, slope), as a logit; ``x_rep``
    (M, R): the depths of the bands' representative scores. The rate is averaged over the band
    (its depths span a doubling), then put back on the logit scale as the band's centre."""
    q = expit(level[..., None, None] - slope[..., None, None] * x_rep).mean(axis=-1)
    q = np.clip(q, 1e-12, 1 - 1e-12)
    return np.log(q) - np.log1p(-q)


def line_posterior(bands: Bands, shape: str, level_centre: float, level_sd: float,
                   slope_prior: tuple[float, float], band_sd: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (level, slope) grid and its posterior weights given the missed bands' random tags.

    Returns (levels (L,), slopes (S,), weights (L, S) summing to 1)."""
    missed = ~bands.detected
    x_rep = depth_feature(bands.representatives[missed], shape)
    levels = level_centre + level_sd * np.linspace(-4.0, 4.0, N_LEVELS)
    slopes = np.linspace(0.0, MAX_SLOPE, N_SLOPES)
    log_prior = (-0.5 * ((levels[:, None] - level_centre) / level_sd) ** 2
                 - 0.5 * ((slopes[None, :] - slope_prior[0]) / slope_prior[1]) ** 2)
    has_tags = bands.n_eff[missed] > 0
    if has_tags.any():
        loglik = grid_loglik(bands.k_eff[missed][has_tags], bands.n_eff[missed][has_tags])  # (M', G)
        centres = band_logits(levels[:, None], slopes[None, :], x_rep[has_tags])  # (L, S, M')
        # Each band's binomial integrated over its deviation from the line, on the logit grid.
        log_dev = -0.5 * ((LOGIT_GRID - centres[..., None]) / band_sd) ** 2
        log_dev -= logsumexp(log_dev, axis=-1, keepdims=True)
        log_prior = log_prior + logsumexp(loglik + log_dev, axis=-1).sum(axis=-1)
    w = np.exp(log_prior - log_prior.max())
    return levels, slopes, w / w.sum()


def line_centres(bands: Bands, centres: np.ndarray, sd: np.ndarray, rng: np.random.Generator, *,
                 shape: str = "line", level_sd: float = 1.5,
                 slope_prior: tuple[float, float] = (1.0, 0.5)) -> np.ndarray:
    """The draws' band centres (draws, B) with those below the threshold replaced by the line's:
    one (level, slope) per draw from ``line_posterior`` (jittered within a grid cell).

    ``centres``: the shared calibration's centres (``bands.prior_centres``); the level's prior
    is centred on their mean rate in the first band below the threshold, the detected bands keep
    theirs. ``sd``: (B,) the bands' spreads around their centres (the line's e_b below the
    threshold)."""
    missed = np.flatnonzero(~bands.detected)
    out = centres.copy()
    if missed.size == 0:
        return out
    band_sd = float(np.broadcast_to(np.asarray(sd, dtype=float), (bands.detected.size,))[missed[-1]])
    # The calibration's mean rate in the band just below the threshold (its centres are
    # mean-matched medians, ~1 logit lower at sd 1.5), as a logit: the line's level is the
    # typical rate there, and the tags move it.
    x, gw = np.polynomial.hermite_e.hermegauss(24)
    q = float(np.median((expit(centres[:, missed[-1], None] + band_sd * x) * gw).sum(axis=1) / gw.sum()))
    level_centre = float(np.log(q) - np.log1p(-q))
    levels, slopes, w = line_posterior(bands, shape, level_centre, level_sd, tuple(slope_prior), band_sd)
    n_draws = centres.shape[0]
    cell = rng.choice(w.size, n_draws, p=w.ravel())
    li, si = np.unravel_index(cell, w.shape)
    level = levels[li] + (rng.random(n_draws) - 0.5) * (levels[1] - levels[0])
    slope = np.clip(slopes[si] + (rng.random(n_draws) - 0.5) * (slopes[1] - slopes[0]), 0.0, None)
    x_rep = depth_feature(bands.representatives[missed], shape)
    out[:, missed] = band_logits(level, slope, x_rep)
    return out
