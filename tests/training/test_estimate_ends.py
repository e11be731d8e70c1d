"""The honest intervals reach a perfect value that no tag rules out (``ends_when_unseen``), as
Clopper-Pearson's upper bound is 1 at x = n; elsewhere they are the posterior draws' quantiles."""
import numpy as np
import pytest

from workbench.training import estimate_performance
from workbench.training.estimate import HonestEstimate
from workbench.training.estimate.bands import cut_bands, unseen_errors

from .conftest import unit
from .test_estimate import _tracker, _world


def _separable_world(seed, n=3000, d=12, gap=(0.35, 0.55)):
    """A corpus whose concept is one direction with no rows near its edge: a tracker that
    learns it detects only positives, so its true precision is exactly 1."""
    rng = np.random.default_rng(seed)
    X = unit(rng.normal(size=(2 * n, d)))
    X = X[(X[:, 0] < gap[0]) | (X[:, 0] > gap[1])][:n]
    truth = (X[:, 0] > gap[1]).astype(np.int8)
    return X, truth, X[np.flatnonzero(truth)[:5]]


def _estimates(X, truth, E, seed, modes):
    model, scores, labels, excluded, tag_round, pi = _tracker(X, truth, E, seed)
    common = dict(excluded=excluded, tag_round=tag_round, inclusion_prob=pi, scores=scores, example_embeddings=E)
    # mode None: the estimator's default
    return scores, labels, {m: estimate_performance(X, labels, model, **common, **({} if m is None else
                                                                                  {"ends_when_unseen": m}))
                            for m in modes}


@pytest.mark.parametrize("seed", [2, 3])
def test_intervals_reach_one_when_no_tag_shows_a_false_detection_or_a_miss(seed):
    X, truth, E = _separable_world(seed)
    scores, labels, est = _estimates(X, truth, E, seed, ("none", "precision", None))
    det = scores > 0
    # The world is what it claims: every detection is right and every positive detected.
    assert truth[det].mean() == 1.0 and det[truth == 1].mean() == 1.0
    assert not ((labels == 0) & det).any() and not ((labels == 1) & ~det).any()
    quantiles, precision_only, default = est["none"], est["precision"], est[None]
    # The draws alone stop short of the truth; the default intervals hold it.
    assert quantiles.honest_precision.high < 1.0 and quantiles.honest_hit_rate.high < 1.0
    assert default.honest_precision.high == default.honest_hit_rate.high == default.honest_f1.high == 1.0
    for name in ("honest_precision", "honest_hit_rate", "honest_f1"):
        assert (getattr(default, name).value, getattr(default, name).low) == \
               (getattr(quantiles, name).value, getattr(quantiles, name).low)
    # "precision" moves the precision only; F1 can be 1 only if the hit rate can.
    assert precision_only.honest_precision == default.honest_precision
    assert precision_only.honest_hit_rate == quantiles.honest_hit_rate
    assert precision_only.honest_f1 == quantiles.honest_f1


@pytest.mark.parametrize("seed", [3, 5])
def test_intervals_are_unchanged_once_a_detection_is_tagged_no(seed):
    X, truth, E = _world(seed)
    scores, labels, est = _estimates(X, truth, E, seed, ("none", "precision", "both"))
    det = scores > 0
    assert truth[det].mean() < 1.0 and ((labels == 0) & det).any()
    assert ((labels == 1) & ~det).any()  # a miss tagged too: "both" leaves the hit rate alone
    for name in ("honest_precision", "honest_hit_rate", "honest_f1", "estimated_true_detections"):
        assert getattr(est["precision"], name) == getattr(est["none"], name) == getattr(est["both"], name)


def test_unseen_errors_read_each_side_of_the_threshold():
    # Bands of 2,000 unknown units, tags on both sides; probe_w > 0: a probe tag.
    rng = np.random.default_rng(0)
    s = rng.normal(-2.0, 2.0, 2000)
    s_tags = np.array([1.5, 2.5, 0.7, -0.5, -3.0, -6.0])
    probe_w = np.array([10.0, 10.0, 0.0, 40.0, 80.0, 160.0])

    def unseen(y, known_tp=3, known_fp=0, known_fn=0):
        return unseen_errors(cut_bands(s, s_tags, np.asarray(y, float), probe_w, 2), known_tp, known_fp, known_fn)

    every_detection_yes = unseen([1, 1, 1, 0, 0, 0])
    assert every_detection_yes.no_false_detection and every_detection_yes.no_miss
    assert not every_detection_yes.no_true_detection
    # A probe tag NO in a detected band, or a known false detection, rules precision 1 out;
    # a tag that is not from the probe (weight 0) tells nothing about a band.
    assert not unseen([1, 0, 1, 0, 0, 0]).no_false_detection
    assert not unseen([1, 1, 1, 0, 0, 0], known_fp=1).no_false_detection
    assert unseen([1, 1, 0, 0, 0, 0]).no_false_detection
    # A probe YES below the threshold (or a known miss) rules a hit rate of 1 out.
    assert not unseen([1, 1, 1, 0, 1, 0]).no_miss
    assert not unseen([1, 1, 1, 0, 0, 0], known_fn=1).no_miss
    # No YES at all among the detections: TP may be 0.
    assert unseen([0, 0, 0, 0, 0, 0], known_tp=0).no_true_detection


def test_ends_when_unseen_takes_only_its_choices():
    X, truth, E = _world(2, n=800)
    model, scores, labels, excluded, tag_round, pi = _tracker(X, truth, E, 2, rounds=2)
    with pytest.raises(ValueError, match="ends_when_unseen"):
        estimate_performance(X, labels, model, excluded=excluded, tag_round=tag_round, inclusion_prob=pi,
                             scores=scores, example_embeddings=E, ends_when_unseen="hit_rate")
    assert HonestEstimate().ends_when_unseen == "both"
