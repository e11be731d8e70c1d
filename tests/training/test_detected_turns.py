"""Precision verification rounds that sample detected turns: texts drawn in proportion to their
copies, with exact stated chances, each text once, and the session's option that routes a
round through the sampler."""
import numpy as np

from tests.training.test_duplicates import assert_draws_match
from workbench.trackers.rounds import round_kind
from workbench.training import Pool
from workbench.training.detected_turns import DetectedTurnsStrategy
from workbench.training.neyman import NeymanDetectedStrategy
from workbench.training.sampling import sampling_frame
from workbench.training.session import ActiveLearningSession
from workbench.training.strategies import DetectedSampleStrategy

from .conftest import unit


def _pool_with_a_frequent_text(frequent_copies=8):
    """200 texts, scores 3 down to -1 (150 detected); text 10 is said ``frequent_copies`` more
    times, texts 0, 20, 40, ... twice more."""
    codes = np.concatenate([np.arange(200), np.full(frequent_copies, 10), np.repeat(np.arange(0, 200, 20), 2)])
    rng = np.random.default_rng(3)
    X = unit(rng.normal(size=(200, 8)))[codes]
    return Pool(X, np.full(len(codes), -1, np.int8), X[:2], scores=np.linspace(3, -1, 200)[codes], texts=codes), codes


def test_every_detected_turn_is_about_as_likely_to_be_reached():
    """A copy's stated chance is its text's over its copies: drawn in proportion to the copies,
    every detected row (turn) gets the same chance, the frequent text's copies included; the
    bins of DetectedSampleStrategy gave each of those copies 1/9 of a unique text's."""
    pool, codes = _pool_with_a_frequent_text()
    n = 10
    stated = DetectedTurnsStrategy().inclusion_probabilities(pool, n)
    frame = sampling_frame(pool) & (pool.scores > 0)
    assert np.isclose(stated[sampling_frame(pool)].sum(), n) and (stated[~frame] == 0).all()
    np.testing.assert_allclose(stated[frame], n / frame.sum())
    old = DetectedSampleStrategy().inclusion_probabilities(pool, n)
    assert old[codes == 10].max() < old[codes == 11].max() / 5


def test_the_stated_chances_are_exact_and_each_text_is_drawn_once():
    pool, codes = _pool_with_a_frequent_text()
    strategy = DetectedTurnsStrategy()
    stated = strategy.inclusion_probabilities(pool, 10)
    assert_draws_match(strategy, pool, 10, stated, codes, runs=2000)


def test_a_text_too_frequent_for_its_share_is_drawn_for_certain():
    pool, codes = _pool_with_a_frequent_text(frequent_copies=400)
    strategy = DetectedTurnsStrategy()
    ranked, pi = strategy.design(pool, 10)
    assert pi[codes[ranked] == 10] == 1.0 and np.isclose(pi.sum(), 10)
    for seed in range(20):
        assert 10 in codes[strategy.select(pool, 10, np.random.default_rng(seed))]


def test_neyman_by_copies_gives_the_turns_of_a_stratum_one_chance():
    pool, codes = _pool_with_a_frequent_text()
    strategy = NeymanDetectedStrategy(strata=3, by_copies=True)
    stated = strategy.inclusion_probabilities(pool, 10)
    frame = sampling_frame(pool) & (pool.scores > 0)
    assert np.isclose(stated[sampling_frame(pool)].sum(), 10) and (stated[~frame] == 0).all()
    ranked, edges, _ = strategy.design(pool, 10)
    for a, b in zip(edges[:-1], edges[1:]):
        rows = frame & np.isin(codes, codes[ranked[a:b]])
        np.testing.assert_allclose(stated[rows], stated[rows][0])
    assert_draws_match(strategy, pool, 10, stated, codes, runs=2000)


def test_the_session_draws_precision_rounds_of_detected_turns(clustered):
    X, truth, examples, _ = clustered
    session = ActiveLearningSession(X, examples, seed=0, keep_model_while_verifying=True,
                                    verification_samplers={"precision": "detected_turns"})
    for number in range(1, 4):
        plan = session.plan_round(number)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    plan = session.plan_verification(4, 10, precision=0.01)
    assert set(plan.strategies) == {"detected_turns"} and round_kind(list(plan.strategies)) == "verification"
    assert (session.scores()[plan.indices] > 0).all() and (plan.inclusion_prob > 0).all()
