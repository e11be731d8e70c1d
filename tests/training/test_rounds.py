import numpy as np
import pytest

from workbench.training import ActiveLearningSession, Pool, RoundPlanner
from workbench.training.rounds import EARLY_MIX, LATE_MIX, _allocate
from workbench.training.strategies import NearMissStrategy

from .conftest import make_pool


def test_allocation_sums_to_the_round_size():
    assert sum(_allocate([4, 5, 4, 3, 9], 25)) == 25
    assert _allocate([1, 1], 3) in ([2, 1], [1, 2])
    assert sum(_allocate(list(EARLY_MIX.values()), 7)) == 7


def test_first_round_without_model_falls_back_to_similarity(clustered):
    X, truth, E, _ = clustered
    plan = RoundPlanner(seed=0).plan(make_pool(X, E), 25)
    assert plan.round_number == 1 and len(plan) == 25
    assert np.unique(plan.indices).size == 25
    assert "top_scored" not in set(plan.strategies)
    assert any("no model yet" in n for n in plan.notes)
    # Early rounds find positives and deliberately show negatives too.
    assert 0 < truth[plan.indices].sum() < 25
    assert {"near_miss", "diversity", "stratified"} <= set(plan.strategies)


def test_inclusion_probability_only_for_the_random_sampler(clustered):
    X, _, E, _ = clustered
    plan = RoundPlanner(seed=0).plan(make_pool(X, E), 25)
    random_pick = plan.strategies == "stratified"
    assert np.isfinite(plan.inclusion_prob[random_pick]).all()
    assert (plan.inclusion_prob[random_pick] > 0).all()
    assert np.isnan(plan.inclusion_prob[~random_pick]).all()


def test_late_rounds_add_uncertainty(clustered):
    X, truth, E, _ = clustered
    scores = X @ E.mean(0) - 0.5
    early = RoundPlanner(seed=0).plan(make_pool(X, E, scores=scores, round_number=2), 25)
    late = RoundPlanner(seed=0).plan(make_pool(X, E, scores=scores, round_number=4), 25)
    assert "uncertainty" not in set(early.strategies)
    assert late.round_number == 5
    assert (late.strategies == "uncertainty").sum() == _allocate(list(LATE_MIX.values()), 25)[
        list(LATE_MIX).index("uncertainty")]


def test_plan_is_reproducible_from_the_seed(clustered):
    X, _, E, _ = clustered
    pool = make_pool(X, E)
    a, b = RoundPlanner(seed=3).plan(pool), RoundPlanner(seed=3).plan(pool)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.strategies, b.strategies)
    c = RoundPlanner(seed=4).plan(pool)
    assert not np.array_equal(np.sort(a.indices), np.sort(c.indices))


def test_never_offers_excluded_rows_and_fills_when_a_strategy_runs_dry(clustered):
    X, _, E, _ = clustered
    excluded = np.ones(len(X), bool)
    excluded[:30] = False
    plan = RoundPlanner(seed=0).plan(make_pool(X, E, excluded=excluded), 25)
    assert len(plan) == 25 and set(plan.indices) <= set(range(30))
    excluded[:] = True
    excluded[:10] = False
    plan = RoundPlanner(seed=0).plan(make_pool(X, E, excluded=excluded), 25)
    assert sorted(plan.indices) == list(range(10))


def test_mix_validation():
    with pytest.raises(ValueError, match="one probability sampler"):
        RoundPlanner(early_mix={"random": 1, "stratified": 1}).mix_for(1)
    with pytest.raises(ValueError, match="unknown"):
        RoundPlanner(early_mix={"nope": 1}).mix_for(1)
    with pytest.raises(ValueError):
        RoundPlanner(early_mix={"random": 0}).mix_for(1)
    # Custom parameters through (Strategy, weight) pairs.
    mix = RoundPlanner(early_mix=[(NearMissStrategy(offset=3), 1.0)]).mix_for(1)
    assert mix[0][0].offset == 3


def _simulate(X, truth, E, answer, rounds=4, seed=0):
    """The Tracker's loop (its session); `answer` maps the shown rows to the user's labels."""
    session = ActiveLearningSession(X, E, seed=seed)
    for number in range(1, rounds + 1):
        plan = session.plan_round(number, 25)
        assert len(plan) == 25
        assert not session.shown[plan.indices].any()
        session.tag(plan.indices, answer(plan.indices), number, plan.inclusion_prob)
    return session


def test_no_collapse_when_every_answer_is_yes(clustered):
    X, truth, E, _ = clustered
    session = _simulate(X, truth, E, lambda idx: np.ones(idx.size, np.int8))
    assert (session.labels == 1).sum() == 100  # four full rounds, no crash, no repeats
    assert session.model() is None  # nothing to learn a boundary from


def test_no_collapse_when_every_answer_is_no(clustered):
    X, truth, E, _ = clustered
    # No model without a YES: the planner falls back to similarity and diverse picks, and
    # the rounds continue without repeats.
    session = _simulate(X, truth, E, lambda idx: np.zeros(idx.size, np.int8))
    assert (session.labels == 0).sum() == 100


def test_a_real_loop_finds_the_concept(clustered):
    X, truth, E, _ = clustered
    session = _simulate(X, truth, E, lambda idx: truth[idx])
    t = session.labels >= 0
    assert (session.model().predict(X) == truth).mean() > 0.97
    assert session.labels[t].sum() >= 20 and (session.labels[t] == 0).sum() >= 20  # both kinds shown


def test_filler_fills_a_mix_without_a_random_sampler(clustered):
    from workbench.training.strategies import Strategy

    class Shy(Strategy):
        name = "shy"

        def select(self, pool, n, rng):
            return np.empty(0, np.int64)

    X, _, E, _ = clustered
    plan = RoundPlanner(early_mix=[(Shy(), 3), ("similarity", 1)], seed=0).plan(make_pool(X, E), 20)
    assert len(plan) == 20 and len(set(plan.indices)) == 20
    assert (plan.strategies == "similarity").sum() == 20
    assert np.isnan(plan.inclusion_prob).all()


def test_learning_slots_hold_back_a_frequent_text_the_model_does_not_detect(clustered):
    """With ``frequent_copies`` a text said that often is not a learning pick while the model
    scores it below its threshold, whatever the learning strategy prefers; the random share
    still draws it with the chance it states, and once detected it is offered again."""
    X, _, E, which = clustered
    codes = np.arange(len(X))
    codes[which == 2] = 10_000  # cluster 2: one text said 300 times ...
    X = X.copy()
    X[which == 2] = X[np.flatnonzero(which == 2)[0]]
    scores = np.where(which == 2, -0.01, np.where(which == 0, 1.0, -3.0))  # ... scored at the boundary
    mix = {"uncertainty": 2, "stratified": 1}
    planner = RoundPlanner(early_mix=mix, late_mix=mix, seed=0)

    def plan(score, **options):
        pool = Pool(X, np.full(len(X), -1, np.int8), E, scores=score, threshold=0.0, texts=codes, **options)
        return pool, planner.plan(pool, 9)

    _, off = plan(scores)
    assert (which[off.indices[off.strategies == "uncertainty"]] == 2).any()
    pool, on = plan(scores, frequent_copies=100)
    assert pool.held_back().sum() == 300
    assert not (which[on.indices[on.strategies == "uncertainty"]] == 2).any()
    random_pick = on.strategies == "stratified"
    assert random_pick.sum() == 3 and (on.inclusion_prob[random_pick] > 0).all()
    _, detected = plan(np.where(which == 2, 0.01, scores), frequent_copies=100)
    assert (which[detected.indices[detected.strategies == "uncertainty"]] == 2).any()
    _, rare = plan(scores, frequent_copies=301)  # said fewer times than the floor: offered
    assert (which[rare.indices[rare.strategies == "uncertainty"]] == 2).any()
