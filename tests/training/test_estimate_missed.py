"""``missed_fit="line"``: the missed side's own model (``missed_side``), a line in depth below the
threshold whose (level, slope) posterior the random tags of all the missed bands set together."""
import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import spearmanr

from workbench.training.estimate import HonestEstimate, estimate_performance
from workbench.training.estimate.bands import N_REPRESENTATIVES, Bands, band_totals
from workbench.training.estimate.missed_side import depth_feature, line_centres

from .test_estimate import _tracker, _world

# Five bands below the threshold, one doubling of rank each and doubling in size, and one
# detected band; the truth falls 0.8 logits per doubling from 10% just below the threshold.
DEPTHS = np.array([4.5, 3.5, 2.5, 1.5, 0.5])
UNKNOWN = np.array([32000.0, 16000.0, 8000.0, 4000.0, 2000.0])
TRUE_RATE = expit(logit(0.1) - 0.8 * (DEPTHS - 0.5))
TRUE_FN = float((UNKNOWN * TRUE_RATE).sum())  # ~730


def _bands(rng, tags_per_band=6):
    """The scope above, with a probe of ``tags_per_band`` random tags in each band."""
    k = rng.binomial(tags_per_band, TRUE_RATE).astype(float)
    rep = np.repeat(np.append(-DEPTHS, 1.0)[:, None], N_REPRESENTATIVES, axis=1)
    n = np.append(np.full(DEPTHS.size, float(tags_per_band)), 10.0)
    return Bands(edges=np.array([-4.0, -3.0, -2.0, -1.0, 0.0]), detected=np.append(np.zeros(DEPTHS.size, bool), True),
                 unknown=np.append(UNKNOWN, 1000.0), representatives=rep, n_eff=n, k_eff=np.append(k, 8.0),
                 n_probe=int(n.sum()))


def _missed(bands, line, seed=0, n_draws=300):
    # A calibration saying 5% below the threshold whatever the depth: 4x the true missed
    # positives, as the shared calibration overstated them on the benchmark.
    cal = [(0.0, float(logit(0.05)), (0.0, float(logit(0.8))))] * n_draws
    centres = line_centres if line else None
    T = band_totals(bands, 0.0, 0.0, cal, 1.5, np.random.default_rng(seed), tail_shift_sd=1.0,
                    max_tail_slope=2.0, missed_centres=centres)
    return T[:, 1]


def test_the_line_covers_the_missed_positives_and_follows_the_tags():
    # Six tags per band: 0-3 YES in all, so the line's interval is wide (measured: 0.01x-2.5x
    # the truth) and must still hold it; its median follows what the tags found.
    covered, medians, tag_totals = 0, [], []
    for seed in range(30):
        bands = _bands(np.random.default_rng(seed))
        fn_line = _missed(bands, True, seed)
        lo, hi = np.quantile(fn_line, [0.05, 0.95])
        covered += lo <= TRUE_FN <= hi
        medians.append(np.median(fn_line))
        tag_totals.append(float((bands.unknown * bands.k_eff / bands.n_eff)[~bands.detected].sum()))
    assert covered >= 26  # 90% intervals: measured 30 of 30
    assert spearmanr(medians, tag_totals).statistic > 0.8


def test_silent_deep_tags_pull_the_line_down_and_many_yes_pull_it_up():
    rng = np.random.default_rng(0)
    silent, loud = _bands(rng), _bands(rng)
    silent = Bands(**{**silent.__dict__, "k_eff": np.append(np.zeros(DEPTHS.size), 8.0)})
    loud = Bands(**{**loud.__dict__, "k_eff": np.append(np.full(DEPTHS.size, 2.0), 8.0)})
    assert np.median(_missed(silent, True)) < 0.5 * np.median(_missed(loud, True))
    assert np.median(_missed(silent, True)) < np.median(_missed(silent, False))


def test_the_detected_bands_keep_their_centres():
    bands = _bands(np.random.default_rng(1))
    centres = np.tile(np.linspace(-5.0, 1.0, bands.detected.size), (50, 1))
    out = line_centres(bands, centres, np.full(bands.detected.size, 1.5), np.random.default_rng(0))
    assert np.array_equal(out[:, bands.detected], centres[:, bands.detected])
    # Deeper bands get lower rates on every draw (the slope is never negative).
    assert np.all(np.diff(out[:, ~bands.detected], axis=1) >= -1e-9)


def test_depth_features():
    s = np.array([0.5, 0.0, -1.0, -3.0])
    assert depth_feature(s, "line").tolist() == [0.0, 0.0, 1.0, 3.0]
    assert depth_feature(s, "log_line").tolist() == [0.0, 0.0, 1.0, 2.0]
    with pytest.raises(ValueError):
        depth_feature(s, "shared")


def test_the_option_runs_through_the_estimate_and_is_checked():
    X, truth, E = _world(7)
    model, scores, labels, excluded, tag_round, pi = _tracker(X, truth, E, 7)
    det = scores > 0
    true_r = det[truth == 1].mean()
    kw = dict(excluded=excluded, tag_round=tag_round, inclusion_prob=pi, scores=scores, example_embeddings=E,
              n_draws=100, random_state=7)
    shared = estimate_performance(X, labels, model, **kw)
    line = estimate_performance(X, labels, model, missed_fit="line", **kw)
    assert 0.0 <= line.honest_hit_rate.low <= line.honest_hit_rate.value <= line.honest_hit_rate.high <= 1.0
    assert line.honest_hit_rate.contains(true_r)
    # Only the missed side moves: the precision's draws are the same model's, its value near.
    assert line.honest_precision.value == pytest.approx(shared.honest_precision.value, abs=0.05)
    with pytest.raises(ValueError, match="missed_fit"):
        estimate_performance(X, labels, model, missed_fit="spline", **kw)
    assert HonestEstimate(missed_fit="log_line").get_params()["missed_fit"] == "log_line"
