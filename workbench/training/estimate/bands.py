"""Post-stratified Bayesian totals: the honest estimate's Monte Carlo draws of TP and FN.

Every shown unit with a YES/NO counts as itself. The others (untagged or NOT SURE) are cut
into bands by the final score: the detected units (``detected_bands`` bands, one by default)
and, below the threshold, bands of doubling size by rank [0, D), [D, 2D), [2D, 4D), ...
(D: units detected), the geometry of the planner's stratified probe, so every band holds some
probe units. U_b: the band's unknown units.

* Band b's positive rate p_b is learned from the probe units whose out-of-fold score falls in
  it (the final model was trained on them, so its own score would move YES units up),
  weighted by 1/pi_i times the round's weight: Hajek rate k/n with the Kish effective size
  n = (sum w)^2 / sum w^2 as a binomial likelihood p^k (1-p)^(n-k). The other tags (chosen
  by similarity or score) are not counted: measured, they bias precision up by ~0.1 even
  within a band.
* Prior: logit p_b ~ Normal(mu_b, prior_sd^2), with mu_b set so that the prior's *mean* is
  qbar_b, the calibrated P(YES | score) averaged over the band's scores. (Centring the
  logit on logit(qbar_b) puts the median there and the mean about 3x higher for a small rate
  at sd 1.5, which summed over the large bands below the threshold overstated the missed
  positives: measured hit-rate bias -0.075, now -0.008.) The calibration supplies the shape
  the probe cannot see in a band it barely reaches; the sd says how far the truth may stray
  from it (measured: 1.5 covers, 0.5 does not).
* Each draw takes one bootstrap replicate of the calibration (the prior's uncertainty), p_b
  from its posterior on a logit grid, and the band's realised count Binomial(U_b, p_b) (the
  truth is one realisation); TP and FN are the known tags plus the bands' counts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp

from workbench.training.estimate.calibration import Calibration

# 33 score quantiles per band stand for the band when averaging the calibration over it.
N_REPRESENTATIVES = 33
# The logit grid on which each band's posterior rate is sampled.
LOGIT_GRID = np.linspace(-14.0, 8.0, 441)


@dataclass(frozen=True)
class Bands:
    """The unknown units cut into score bands, and the probe's evidence in each band."""

    edges: np.ndarray  # ascending cut points: band k holds scores in (e[k-1], e[k]]
    detected: np.ndarray  # (B,) the band lies above the threshold
    unknown: np.ndarray  # (B,) U_b: units with no YES/NO in the band
    representatives: np.ndarray  # (B, N_REPRESENTATIVES) score quantiles of the band
    n_eff: np.ndarray  # (B,) Kish effective number of probe tags in the band
    k_eff: np.ndarray  # (B,) effective number of YES among them
    n_probe: int  # probe tags with a YES/NO


def band_edges(s_unknown: np.ndarray, detected_bands: int) -> np.ndarray:
    """Ascending score cut points; band k holds scores in (e[k-1], e[k]] (0 is always a
    cut, so a band lies wholly on the detected or the missed side). Detected units are cut
    into ``detected_bands`` bands of equal count; missed ones by rank below the threshold
    into bands of doubling size [0, D), [D, 2D), [2D, 4D), ... (D: units detected), the
    same geometry as the planner's stratified probe, so each band holds probe units.
    ``s_unknown`` in any order; ascending spares sorting it."""
    s_unknown = _ascending(s_unknown)
    det = s_unknown[s_unknown > 0]
    mis = s_unknown[s_unknown <= 0][::-1]
    cuts = [0.0]
    if det.size and detected_bands > 1:
        qs = np.quantile(det, np.arange(1, detected_bands) / detected_bands)
        cuts += [float(q) for q in qs if q > 0]
    step = max(det.size, 25)
    r = step
    while r < mis.size:
        cuts.append(float(mis[r]))
        r *= 2
    return np.unique(np.asarray(cuts))


def _ascending(values: np.ndarray) -> np.ndarray:
    """``values`` sorted: as they are when they already are (one pass over them), else a copy."""
    values = np.asarray(values)
    return values if values.size < 2 or bool((values[1:] >= values[:-1]).all()) else np.sort(values)


def cut_bands(s_unknown: np.ndarray, s_tags: np.ndarray, y_tags: np.ndarray, probe_w: np.ndarray,
              detected_bands: int) -> Bands:
    """Bands of the unknown units' scores ``s_unknown``, with the evidence of the tags
    (scores ``s_tags``, labels ``y_tags``, probe weights ``probe_w``: 0 for a tag not drawn
    by a probability sampler)."""
    # Sorted (the caller may pass them so), each band is a run of the scores: its bounds are
    # found by searching the edges in them rather than each score in the edges, and the
    # quantiles of a sorted run take a fifth of the time (measured on 900,000 units: the
    # bands 0.068 -> 0.01 CPU s, the same bands to the bit).
    s_sorted = _ascending(s_unknown)
    edges = band_edges(s_sorted, detected_bands)
    B = edges.size + 1
    band_det = np.arange(B) > int(np.searchsorted(edges, 0.0))
    # Band b holds (e[b-1], e[b]]: it ends after the last score <= e[b].
    starts = np.concatenate([[0], np.searchsorted(s_sorted, edges, side="right"), [s_sorted.size]])
    U = np.diff(starts).astype(float)
    rep = np.zeros((B, N_REPRESENTATIVES))
    for b in range(B):
        seg = s_sorted[starts[b]:starts[b + 1]]
        rep[b] = np.quantile(seg, np.linspace(0, 1, N_REPRESENTATIVES)) if seg.size else edges[min(b, B - 2)]
    b_tag = np.searchsorted(edges, s_tags, side="left")
    is_p = probe_w > 0
    W = np.bincount(b_tag[is_p], probe_w[is_p], minlength=B)
    W2 = np.bincount(b_tag[is_p], probe_w[is_p] ** 2, minlength=B)
    K = np.bincount(b_tag[is_p], probe_w[is_p] * y_tags[is_p], minlength=B)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = np.where(W > 0, W ** 2 / np.maximum(W2, 1e-300), 0.0)
        k_eff = np.where(W > 0, K / np.maximum(W, 1e-300), 0.0) * n_eff
    return Bands(edges, band_det, U, rep, n_eff, k_eff, int(is_p.sum()))


def mean_matched_logit(q: np.ndarray, sd: np.ndarray, iters: int = 30) -> np.ndarray:
    """mu such that E[expit(mu + sd Z)] = q, Z standard normal (Gauss-Hermite, bisection).

    The calibration says what a band's *average* rate is; a logit-normal prior centred on
    logit(q) has its median there and its mean far above it for a small q (about
    q exp(sd^2 / 2): 3x at sd 1.5). Summed over large bands that prior inflates the missed
    positives about threefold, so its centre is moved until its mean is q."""
    x, w = np.polynomial.hermite_e.hermegauss(24)
    w = w / w.sum()
    q = np.clip(q, 1e-9, 1 - 1e-9)
    lo = np.log(q) - np.log1p(-q) - 4.0 * sd - 1.0
    hi = np.log(q) - np.log1p(-q) + 4.0 * sd + 1.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        mean = (expit(mid[..., None] + sd[..., None] * x) * w).sum(axis=-1)
        lo, hi = np.where(mean < q, mid, lo), np.where(mean < q, hi, mid)
    return (lo + hi) / 2


def prior_centres(bands: Bands, cal_draws: list[Calibration], prior_sd: np.ndarray,
                  max_tail_slope: float | None = None) -> np.ndarray:
    """(draws, B): the centre of each band's logit-normal prior under each calibration
    replicate, placed so that the prior's mean is the band's average calibrated rate;
    ``prior_sd``: (B,) each band's prior spread. ``max_tail_slope``: the most the calibrated
    logit may fall per doubling of rank below the threshold (the rate at the threshold kept)."""
    rep = bands.representatives
    m = np.empty((len(cal_draws), rep.shape[0]))
    for d, (a, b, (a2, b2)) in enumerate(cal_draws):
        if max_tail_slope is not None:
            a = min(a, max_tail_slope)
        q = np.where(rep > 0, expit(a2 * rep + b2), expit(a * rep + b))
        qm = np.clip(q.mean(axis=1), 1e-6, 1 - 1e-6)
        m[d] = np.log(qm) - np.log1p(-qm)
    sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (rep.shape[0],))
    return mean_matched_logit(expit(m), sd[None, :])


def grid_loglik(k_eff: np.ndarray, n_eff: np.ndarray) -> np.ndarray:
    """(bands, grid): each band's binomial log-likelihood of its (weighted) probe evidence at
    every rate of ``LOGIT_GRID``."""
    pg = expit(LOGIT_GRID)
    return k_eff[:, None] * np.log(pg)[None] + (n_eff - k_eff)[:, None] * np.log1p(-pg)[None]


def posterior_rates(bands: Bands, centres: np.ndarray, prior_sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(draws, B): one positive rate per band and draw, sampled from its posterior on the
    logit grid (the binomial evidence times the draw's prior), jittered within a grid step."""
    g = LOGIT_GRID
    loglik = grid_loglik(bands.k_eff, bands.n_eff)
    n_draws, B = centres.shape
    sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (B,))[None, :, None]
    logpost = loglik[None] - 0.5 * ((g[None, None, :] - centres[:, :, None]) / sd) ** 2
    logpost -= logpost.max(axis=2, keepdims=True)
    cdf = np.cumsum(np.exp(logpost), axis=2)
    cdf /= cdf[:, :, -1:]
    u = rng.random((n_draws, B, 1))
    idx = np.minimum((cdf < u).sum(axis=2), g.size - 1)
    gg = g[idx] + (rng.random((n_draws, B)) - 0.5) * (g[1] - g[0])
    return expit(gg)


def tail_conditioned(bands: Bands, centres: np.ndarray, prior_sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The draws' prior centres (draws, B) below the threshold resampled in proportion to the marginal likelihood of
    the probe's evidence in all the bands below the threshold: each band's binomial integrated
    over its logit-normal prior on the grid, multiplied over the bands.

    A draw's centres carry its calibration replicate and its shared tail shift, both drawn from
    their priors; each band's posterior then sees only its own 2-4 probe tags, too few to pull
    back a prior that is several times too high. Resampled, the shared part is conditioned on
    the tail's tags together, as the hierarchical model it states requires (diagnosis:
    benchmarks/results/hit_rate_bias.md)."""
    g = LOGIT_GRID
    tail = ~bands.detected
    loglik = grid_loglik(bands.k_eff[tail], bands.n_eff[tail])
    sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), (centres.shape[1],))[tail][None, :, None]
    logprior = -0.5 * ((g[None, None, :] - centres[:, tail, None]) / sd) ** 2
    logprior -= logsumexp(logprior, axis=-1)[..., None]
    log_marginal = logsumexp(loglik[None] + logprior, axis=-1).sum(axis=1)
    w = np.exp(log_marginal - log_marginal.max())
    # Only the tail's centres: the detected bands keep their own draws (a replicate's detected
    # fit is not what the tail's tags speak about; resampling it moved precision's intervals).
    out = centres.copy()
    out[:, tail] = centres[rng.choice(len(w), len(w), p=w / w.sum())][:, tail]
    return out


def band_totals(bands: Bands, tp_known: float, fn_known: float, cal_draws: list[Calibration],
                prior_sd: float, rng: np.random.Generator, *, detected_prior_sd: float | None = None,
                tail_shift_sd: float = 0.0, max_tail_slope: float | None = None,
                condition_tail: bool = False, missed_sd: float | None = None,
                missed_centres: Callable[[Bands, np.ndarray, np.ndarray, np.random.Generator], np.ndarray] | None = None,
                ) -> np.ndarray:
    """(draws, 2): Monte Carlo draws of the totals (TP, FN): the known tags' counts plus
    each band's realised count of positives, Binomial(U_b, p_b).

    ``detected_prior_sd``: the prior's spread in the detected bands (default ``prior_sd``).
    ``tail_shift_sd``: the sd of one logit shift, drawn once per draw and shared by every band
    below the threshold. The calibration's error there is systematic, not independent per
    band: it extrapolates one curve into bands the probe barely reaches, so when it is wrong
    it is wrong in all of them together. Independent per-band spreads average out over the
    many deep bands; a shared shift does not. ``condition_tail``: the draws' centres are then
    conditioned on the tail's probe tags (``tail_conditioned``).

    ``missed_centres`` (centres, sd, rng -> centres; e.g. ``missed_side.line_centres``): the
    missed bands' centres from a model of their own, in place of the shared calibration's
    with its tail shift; ``missed_sd``: their spread (default ``prior_sd``)."""
    sd = np.where(bands.detected, prior_sd if detected_prior_sd is None else detected_prior_sd,
                  prior_sd if missed_sd is None else missed_sd)
    centres = prior_centres(bands, cal_draws, sd, max_tail_slope)
    if missed_centres is not None:
        centres = missed_centres(bands, centres, sd, rng)
    else:
        if tail_shift_sd > 0:
            centres = centres + np.where(bands.detected, 0.0, tail_shift_sd)[None, :] * rng.standard_normal(
                (len(cal_draws), 1))
        if condition_tail:
            centres = tail_conditioned(bands, centres, sd, rng)
    p = posterior_rates(bands, centres, sd, rng)
    counts = rng.binomial(bands.unknown.astype(np.int64)[None, :].repeat(len(cal_draws), 0), p)
    tp = tp_known + counts[:, bands.detected].sum(axis=1)
    fn = fn_known + counts[:, ~bands.detected].sum(axis=1)
    return np.column_stack([tp, fn]).astype(float)


@dataclass(frozen=True)
class UnseenErrors:
    """What no tag behind the estimate has shown, so that the truth may be perfect.

    The evidence on each side of the threshold: the tags that count as themselves (by the
    final model's detection) and the probe tags read in each band (by their out-of-fold
    score). ``no_false_detection``: none of it on the detected side is NO (precision may be
    1); ``no_miss``: none of it on the missed side is YES (the hit rate may be 1);
    ``no_true_detection``: none on the detected side is YES (TP, precision and hit rate may
    be 0)."""

    no_false_detection: bool
    no_miss: bool
    no_true_detection: bool


def unseen_errors(bands: Bands, known_tp: float, known_fp: float, known_fn: float) -> UnseenErrors:
    """Which outcomes the tags have never shown (see ``UnseenErrors``): the banded analogue
    of a binomial sample with x = n or x = 0."""
    tol = 1e-9 * np.maximum(bands.n_eff, 1.0)
    has_evidence = bands.n_eff > 0
    some_yes = has_evidence & (bands.k_eff > tol)
    some_no = has_evidence & (bands.n_eff - bands.k_eff > tol)
    return UnseenErrors(
        no_false_detection=known_fp == 0 and not some_no[bands.detected].any(),
        no_miss=known_fn == 0 and not some_yes[~bands.detected].any(),
        no_true_detection=known_tp == 0 and not some_yes[bands.detected].any(),
    )

