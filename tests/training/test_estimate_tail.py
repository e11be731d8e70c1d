"""``condition_tail``: the draws' shared tail (calibration replicate and tail shift) conditioned on
the random tags below the threshold, instead of drawn from its prior alone."""
import numpy as np
from scipy.special import logit

from workbench.training.estimate.bands import Bands, N_REPRESENTATIVES, band_totals


def _bands(k_tail, n_tail=5.0):
    """One detected band and three deep bands of 20,000 unknown units; the probe put n_tail
    effective tags in each deep band, k_tail of them YES."""
    rep = np.repeat(np.array([[1.0], [-1.5], [-3.0], [-5.0]]), N_REPRESENTATIVES, axis=1)
    n = np.array([10.0, n_tail, n_tail, n_tail])
    k = np.array([8.0, k_tail, k_tail, k_tail])
    return Bands(edges=np.array([-4.0, -2.0, 0.0]), detected=np.array([True, False, False, False]),
                 unknown=np.array([1000.0, 20000.0, 20000.0, 20000.0]), representatives=rep,
                 n_eff=n, k_eff=k, n_probe=int(n.sum()))


def _missed(bands, condition_tail, seed=0, n_draws=400):
    # A calibration saying 5% of the deep units are positives, 80% of the detected ones.
    cal = [(0.0, float(logit(0.05)), (0.0, float(logit(0.8))))] * n_draws
    T = band_totals(bands, 0.0, 0.0, cal, 1.5, np.random.default_rng(seed), tail_shift_sd=1.0,
                    max_tail_slope=2.0, condition_tail=condition_tail)
    return T[:, 1]


def test_no_yes_among_the_deep_tags_pulls_the_missed_positives_down():
    # 15 deep tags, none YES: a 5% rate would have shown about one; the shared shift's low
    # draws explain the tags better, so the conditioned draws hold fewer missed positives.
    silent = _bands(k_tail=0.0)
    prior, conditioned = _missed(silent, False), _missed(silent, True)
    assert np.median(conditioned) < 0.8 * np.median(prior)
    assert np.mean(conditioned) < 0.9 * np.mean(prior)


def test_many_yes_among_the_deep_tags_pulls_them_up():
    loud = _bands(k_tail=2.0)  # 6 of 15 deep tags YES: far above the calibrated 5%
    assert np.median(_missed(loud, True)) > 1.2 * np.median(_missed(loud, False))


def test_without_deep_tags_the_draws_keep_their_prior():
    # No evidence below the threshold: every draw weighs alike, so the conditioned draws are a
    # plain resample of the same prior (equal in distribution, up to Monte Carlo noise).
    empty = _bands(k_tail=0.0, n_tail=0.0)
    prior = np.concatenate([_missed(empty, False, seed=s) for s in range(5)])
    conditioned = np.concatenate([_missed(empty, True, seed=s) for s in range(5)])
    assert abs(np.median(conditioned) / np.median(prior) - 1.0) < 0.15
