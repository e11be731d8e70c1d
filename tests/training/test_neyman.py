"""Neyman allocation of precision verification rounds: exact chances, none zero, draws per
stratum as allocated, and the session's option that routes a round through it."""
import numpy as np
import pytest

from tests.training.test_duplicates import assert_draws_match
from workbench.trackers.rounds import round_kind
from workbench.training import Pool
from workbench.training.neyman import NeymanDetectedStrategy, neyman_shares
from workbench.training.sampling import sampling_frame
from workbench.training.session import ActiveLearningSession

from .conftest import unit


def _pool(seed=0, n=400, texts=None):
    """Detections whose top half the tags say are sure (all YES) and bottom half a coin toss."""
    rng = np.random.default_rng(seed)
    X = unit(rng.normal(size=(n, 8)))
    scores = np.linspace(4.0, -4.0, n)
    labels = np.full(n, -1, np.int8)
    tagged = rng.choice(np.flatnonzero(scores > 0), 40, replace=False)
    labels[tagged] = np.where(scores[tagged] > 2.0, 1, rng.integers(0, 2, tagged.size))
    return Pool(X, labels, X[:2], scores=scores, texts=texts)


def test_neyman_shares_follow_size_times_spread_with_a_uniform_floor():
    shares = neyman_shares(np.array([100, 100, 200]), np.array([0.99, 0.5, 0.5]), floor=0.2)
    spread = np.array([100 * np.sqrt(0.99 * 0.01), 50, 100])
    np.testing.assert_allclose(shares, 0.8 * spread / spread.sum() + 0.2 * np.array([0.25, 0.25, 0.5]))
    assert np.isclose(shares.sum(), 1.0)
    # A sure stratum (p = 1) still gets its floor share: every detection keeps a chance.
    assert neyman_shares(np.array([50, 50]), np.array([1.0, 0.5]), floor=0.2)[0] == pytest.approx(0.1)


def test_the_stated_chances_are_exact_and_never_zero_among_the_detections():
    pool, n = _pool(), 20
    strategy = NeymanDetectedStrategy(strata=4, floor=0.2)
    stated = strategy.inclusion_probabilities(pool, n)
    detections = pool.available & (pool.scores > 0)
    assert np.isclose(stated.sum(), n) and (stated[detections] > 0).all() and (stated[~detections] == 0).all()
    assert_draws_match(strategy, pool, n, stated, np.arange(len(stated)), runs=2000)


def test_the_draws_per_stratum_follow_the_allocation():
    """More draws where the tags say the model is unsure, each stratum within one of n x its share;
    the old equal-count design gave each of the 4 strata 5 of 20."""
    pool, n = _pool(), 20
    strategy = NeymanDetectedStrategy(strata=4, floor=0.2)
    ranked, edges, pi = strategy.design(pool, n)
    rates = strategy.stratum_rates(pool, ranked, edges)
    assert rates[0] > 0.85 and 0.3 < rates[-1] < 0.7  # sure top, uncertain bottom
    expected = n * neyman_shares(np.diff(edges), rates, 0.2)
    np.testing.assert_allclose([pi[a:b].sum() for a, b in zip(edges[:-1], edges[1:])], expected)
    assert expected[-1] > 5 > expected[0]
    stratum = np.full(len(pool), -1)
    for h, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        stratum[ranked[a:b]] = h
    for seed in range(200):
        counts = np.bincount(stratum[strategy.select(pool, n, np.random.default_rng(seed))], minlength=4)
        assert counts.sum() == n and np.all(np.abs(counts - expected) < 1)


def test_with_duplicate_texts_each_text_is_drawn_once_with_its_stated_chance():
    codes = np.concatenate([np.arange(200), np.repeat(np.arange(0, 200, 10), 3)])
    rng = np.random.default_rng(3)
    X = unit(rng.normal(size=(200, 8)))[codes]
    pool = Pool(X, np.full(len(codes), -1, np.int8), X[:2], scores=np.linspace(3, -1, 200)[codes], texts=codes)
    strategy = NeymanDetectedStrategy(strata=3)
    stated = strategy.inclusion_probabilities(pool, 10)
    assert np.isclose(stated[sampling_frame(pool)].sum(), 10)
    assert_draws_match(strategy, pool, 10, stated, codes, runs=2000)


def test_the_session_draws_precision_rounds_with_the_sampler_asked(clustered):
    X, truth, examples, _ = clustered
    session = ActiveLearningSession(X, examples, seed=0,
                                    verification_samplers={"precision": NeymanDetectedStrategy(strata=3)})
    for number in range(1, 4):
        plan = session.plan_round(number)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    plan = session.plan_verification(4, 10, precision=0.01)
    assert set(plan.strategies) == {"detected_neyman"} and round_kind(list(plan.strategies)) == "verification"
    assert plan.kind == "verification"
    assert (session.scores()[plan.indices] > 0).all() and (plan.inclusion_prob > 0).all()
