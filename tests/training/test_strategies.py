import numpy as np
import pytest

from workbench.training import STRATEGIES, get_strategy
from workbench.training.strategies import StratifiedStrategy

from .conftest import make_pool, unit

ALL = sorted(STRATEGIES)


def _scores(X, examples):
    return X @ examples.mean(axis=0) - 0.5


@pytest.mark.parametrize("name", ALL)
def test_returns_n_distinct_available_rows(name, clustered):
    X, truth, E, _ = clustered
    excluded = np.zeros(len(X), bool)
    excluded[::7] = True
    labels = np.full(len(X), -1, np.int8)
    labels[::14] = truth[::14]  # some tagged, some NOT SURE (excluded, label -1)
    pool = make_pool(X, E, labels=labels, excluded=excluded, scores=_scores(X, E))
    picks = get_strategy(name).select(pool, 25, np.random.default_rng(1))
    assert picks.size == 25
    assert np.unique(picks).size == 25
    assert not pool.excluded[picks].any()


@pytest.mark.parametrize("name", ALL)
def test_never_more_than_available(name, clustered):
    X, _, E, _ = clustered
    excluded = np.ones(len(X), bool)
    excluded[:4] = False
    pool = make_pool(X, E, excluded=excluded, scores=_scores(X, E))
    picks = get_strategy(name).select(pool, 25, np.random.default_rng(0))
    assert set(picks.tolist()) <= {0, 1, 2, 3}


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(ValueError, match="similarity"):
        get_strategy("nope")


def test_similarity_picks_the_nearest_and_uses_the_description(clustered):
    X, truth, E, which = clustered
    pool = make_pool(X, E)
    picks = get_strategy("similarity").select(pool, 20, np.random.default_rng(0))
    sim = pool.seed_similarity
    assert sim[picks].min() >= np.sort(sim[pool.available])[-20]
    assert truth[picks].all()
    # No examples at all: the description alone steers retrieval to its cluster.
    desc = unit(np.eye(X.shape[1])[1])
    pool = make_pool(X, np.empty((0, X.shape[1])), description=desc)
    picks = get_strategy("similarity").select(pool, 20, np.random.default_rng(0))
    assert (which[picks] == 1).all()


def test_top_scored_and_uncertainty(clustered):
    X, _, E, _ = clustered
    scores = np.linspace(-3, 3, len(X))
    pool = make_pool(X, E, scores=scores)
    top = get_strategy("top_scored").select(pool, 10, np.random.default_rng(0))
    assert set(top) == set(range(len(X) - 10, len(X)))
    unc = get_strategy("uncertainty").select(pool, 10, np.random.default_rng(0))
    assert np.abs(scores[unc]).max() <= np.sort(np.abs(scores))[9] + 1e-12


def test_model_strategies_say_they_need_a_model(clustered):
    X, _, E, _ = clustered
    pool = make_pool(X, E)
    assert not get_strategy("top_scored").available(pool)
    assert not get_strategy("uncertainty").available(pool)
    assert get_strategy("similarity").available(pool)


def test_near_miss_is_similar_to_positives_but_scored_negative(clustered):
    X, truth, E, which = clustered
    # A model that wrongly scores half of the concept's cluster negative.
    scores = np.where(which == 0, 1.0, -1.0)
    scores[np.flatnonzero(which == 0)[:30]] = -0.5
    pool = make_pool(X, E, scores=scores)
    picks = get_strategy("near_miss").select(pool, 10, np.random.default_rng(0))
    assert (scores[picks] < 0).all()
    assert (which[picks] == 0).all()  # the look-alikes, not arbitrary negatives


def test_near_miss_without_model_skips_the_very_top(clustered):
    X, _, E, _ = clustered
    pool = make_pool(X, E)
    s = get_strategy("near_miss", offset=10, window=4)
    picks = s.select(pool, 5, np.random.default_rng(0))
    rank = np.argsort(np.argsort(-pool.seed_similarity))
    assert rank[picks].min() >= 10 and rank[picks].max() < 10 + 4 * 5


def test_diversity_spreads_over_clusters(clustered):
    X, _, E, which = clustered
    pool = make_pool(X, E)
    picks = get_strategy("diversity").select(pool, 6, np.random.default_rng(0))
    assert len(set(which[picks])) == 3
    # Farther apart than a random draw of the same size, on average.
    def mean_sim(idx):
        S = X[idx] @ X[idx].T
        return (S.sum() - len(idx)) / (len(idx) * (len(idx) - 1))
    rng = np.random.default_rng(0)
    rand = np.mean([mean_sim(rng.choice(len(X), 6, replace=False)) for _ in range(50)])
    assert mean_sim(picks) < rand


def test_diversity_avoids_what_is_already_tagged(clustered):
    X, truth, E, which = clustered
    labels = np.full(len(X), -1, np.int8)
    labels[which != 2] = 0  # clusters 0 and 1 fully tagged
    pool = make_pool(X, E, labels=labels)
    picks = get_strategy("diversity").select(pool, 10, np.random.default_rng(0))
    assert (which[picks] == 2).all()


def test_random_is_uniform_and_knows_its_probabilities(clustered):
    X, _, E, _ = clustered
    excluded = np.zeros(len(X), bool)
    excluded[:100] = True
    pool = make_pool(X, E, excluded=excluded)
    s = get_strategy("random")
    counts = np.zeros(len(X))
    for seed in range(400):
        counts[s.select(pool, 10, np.random.default_rng(seed))] += 1
    assert counts[:100].sum() == 0
    pi = s.inclusion_probabilities(pool, 10)
    assert np.allclose(pi[100:], 10 / 500)
    # Empirical inclusion frequency matches 10/500 = 0.02 per draw: 8 expected of 400.
    freq = counts[100:] / 400
    assert abs(freq.mean() - 0.02) < 1e-9
    assert freq.std() < 0.012  # binomial sd sqrt(.02*.98/400) = 0.007


def test_stratified_probabilities_are_exact_and_cover_everything(clustered):
    X, _, E, _ = clustered
    scores = np.linspace(3, -3, len(X))  # 100 rows above 0
    pool = make_pool(X, E, scores=scores)
    s = StratifiedStrategy()
    pi = s.inclusion_probabilities(pool, 8)
    assert (pi > 0).all()  # every row can be drawn: the estimate can speak for all of them
    assert np.isclose(pi.sum(), 8)  # expected sample size
    assert pi[:50].min() > pi[-100:].max()  # concentrates on the top
    counts = np.zeros(len(X))
    runs = 3000
    for seed in range(runs):
        picks = s.select(pool, 8, np.random.default_rng(seed))
        assert picks.size == 8
        counts[picks] += 1
    # Stratum by stratum, the observed frequency matches the stated probability.
    for p in np.unique(pi):
        m = pi == p
        assert abs(counts[m].sum() / (runs * m.sum()) - p) < 4 * np.sqrt(p * (1 - p) / (runs * m.sum()))


def _turns(n, seed=0):
    """Speaker turns of 1 to 4 consecutive rows."""
    rng = np.random.default_rng(seed)
    return np.repeat(np.arange(n), rng.integers(1, 5, n))[:n]


def test_stratified_by_row_states_the_chance_of_reaching_each_turn(clustered):
    # Rows are drawn as without turns; what changes is the probability carried: that of the
    # row's *turn* being reached through any of its sentences, which the turn-level
    # estimate weights by. Checked against the observed frequency, turn by turn group.
    X, _, E, _ = clustered
    groups = _turns(len(X))
    scores = np.linspace(3, -3, len(X))
    plain = StratifiedStrategy().inclusion_probabilities(make_pool(X, E, scores=scores), 8)
    pool = make_pool(X, E, scores=scores, groups=groups)
    s = StratifiedStrategy()
    pi = s.inclusion_probabilities(pool, 8)
    for g in np.unique(groups):
        m = groups == g
        assert np.allclose(pi[m], pi[m][0])  # one value per turn
        assert pi[m][0] == pytest.approx(1 - np.prod(1 - plain[m]))
    reached = np.zeros(groups.max() + 1)
    runs = 3000
    for seed in range(runs):
        picks = s.select(pool, 8, np.random.default_rng(seed))
        assert picks.size == 8
        reached[np.unique(groups[picks])] += 1
    turn_pi = np.zeros(groups.max() + 1)
    turn_pi[groups] = pi
    # Pooled over turns of similar probability, observed and stated rates agree.
    for lo, hi in ((0, 0.02), (0.02, 0.1), (0.1, 1.01)):
        m = (turn_pi >= lo) & (turn_pi < hi)
        if m.any():
            observed = reached[m].sum() / runs
            expected = turn_pi[m].sum()
            assert abs(observed - expected) < 4 * np.sqrt(expected) / np.sqrt(runs) + 0.02 * expected


def test_stratified_by_turn_draws_turns_and_shows_their_best_row(clustered):
    X, _, E, _ = clustered
    groups = _turns(len(X), 1)
    scores = np.linspace(3, -3, len(X))
    pool = make_pool(X, E, scores=scores, groups=groups)
    s = StratifiedStrategy(by_turn=True)
    pi = s.inclusion_probabilities(pool, 8)
    assert np.isclose(np.unique(np.column_stack([groups, pi]), axis=0)[:, 1].sum(), 8)
    for seed in range(20):
        picks = s.select(pool, 8, np.random.default_rng(seed))
        assert np.unique(groups[picks]).size == 8  # one row per turn
        for i in picks:  # the turn's best-scored row stands for it
            assert scores[i] == scores[groups == groups[i]].max()


def test_detected_sample_spreads_over_the_detections_with_known_chances(clustered):
    X, _, E, _ = clustered
    scores = np.where(np.arange(len(X)) < 100, np.linspace(3, 1, len(X)), -1.0)  # rows 0-99 detected, best first
    detected = scores > 0
    pool = make_pool(X, E, scores=scores)
    s = get_strategy("detected_sample")
    pi = s.inclusion_probabilities(pool, 10)
    assert np.allclose(pi[detected], 0.1) and (pi[~detected] == 0).all()
    picks = s.select(pool, 10, np.random.default_rng(0))
    assert picks.size == 10 and detected[picks].all()
    assert np.array_equal(np.sort(picks // 10), np.arange(10))  # one from each tenth of the ranking
    # With fewer detections than slots, every detection, each surely.
    few = make_pool(X, E, scores=np.where(np.arange(len(X)) < 4, 1.0, -1.0))
    assert s.select(few, 10, np.random.default_rng(0)).size == 4
    assert np.allclose(s.inclusion_probabilities(few, 10)[:4], 1.0)


def test_pool_rejects_groups_of_the_wrong_shape(clustered):
    X, _, E, _ = clustered
    with pytest.raises(ValueError, match="groups"):
        make_pool(X, E, groups=np.zeros(3, int))
    with pytest.raises(ValueError, match="groups"):
        make_pool(X, E, groups=np.zeros(len(X)))  # floats are not codes


def test_stratified_merges_strata_when_slots_are_few(clustered):
    X, _, E, _ = clustered
    pool = make_pool(X, E, scores=np.linspace(3, -3, len(X)))
    pi = StratifiedStrategy().inclusion_probabilities(pool, 2)
    assert (pi > 0).all() and np.isclose(pi.sum(), 2)


def test_same_generator_same_picks(clustered):
    X, _, E, _ = clustered
    pool = make_pool(X, E, scores=_scores(X, E))
    for name in ALL:
        a = get_strategy(name).select(pool, 10, np.random.default_rng(5))
        b = get_strategy(name).select(pool, 10, np.random.default_rng(5))
        assert np.array_equal(a, b), name


def test_top_orders_like_the_lexsort_with_ties_by_row_and_nan_last():
    """``_top`` sorts by a quicksort and puts tied values in row order (a million rows in 60%
    of the time); with ties, zeros of both signs or a NaN, the lexsort's order."""
    from workbench.training.strategies import _top

    rng = np.random.default_rng(0)
    for values in (rng.standard_normal(500), np.round(rng.standard_normal(500), 1), np.round(rng.random(5000), 2),
                   np.r_[rng.standard_normal(50), 0.0, -0.0, np.nan, np.nan, 0.0]):
        mask = rng.random(values.size) < 0.8
        idx = np.flatnonzero(mask)
        expected = idx[np.lexsort((idx, -values[idx]))]
        np.testing.assert_array_equal(_top(values, mask, int(mask.sum())), expected)
        if np.unique(values).size == values.size:  # (argpartition picks any of values tied at the cut)
            np.testing.assert_array_equal(_top(values, mask, 7), expected[:7])


def test_stratified_select_reuses_the_probabilities_its_inclusion_probabilities_computed(clustered):
    """The planner asks inclusion_probabilities then select of the same pool: each stratum's
    probabilities are computed once (a million rows at scale), and the picks are those of a
    pool that kept nothing."""
    X, _, E, _ = clustered
    texts = np.arange(len(X)) % 400  # rows i and i + 400 say the same text
    scores = np.linspace(3, -3, len(X))

    class Counting(StratifiedStrategy):
        computed = 0

        def _stratum_probabilities(self, *args):
            Counting.computed += 1
            return super()._stratum_probabilities(*args)

    s = Counting()
    pool = make_pool(X, E, scores=scores)
    pool.texts, pool.copies = texts, np.zeros(len(X), bool)
    pool.copies[400:] = True  # the second copies stand for no text
    s.inclusion_probabilities(pool, 8)
    strata = Counting.computed
    picks = s.select(pool, 8, np.random.default_rng(5))
    assert strata > 0 and Counting.computed == strata
    fresh = make_pool(X, E, scores=scores)
    fresh.texts, fresh.copies = texts, pool.copies
    np.testing.assert_array_equal(picks, StratifiedStrategy().select(fresh, 8, np.random.default_rng(5)))


@pytest.mark.parametrize("with_texts", [True, False])
@pytest.mark.parametrize("with_turns", [True, False])
def test_stratified_chances_at_given_rows_are_those_of_every_rows(clustered, with_texts, with_turns):
    # The planner asks only for its picks' chances (inclusion_probabilities_at): computed from
    # their texts and turns alone, they are the full computation's to the bit, for any row
    # (offered, a copy, shown), with texts said many times, a copy cap and turns not in row order.
    from workbench.training.pool import Pool

    X, _, E, _ = clustered
    rng = np.random.default_rng(7)
    n = len(X)
    labels = np.full(n, -1, np.int8)
    labels[rng.choice(n, 30, replace=False)] = rng.integers(0, 2, 30)
    pool = Pool(X, labels, E, None, scores=rng.normal(-1, 1, n), threshold=0.0,
                groups=rng.permutation(_turns(n)) if with_turns else None,
                texts=rng.integers(0, n // 3, n) if with_texts else None, copy_cap=3 if with_texts else 0)
    for k in (8, 25):
        s = StratifiedStrategy()
        full = s.inclusion_probabilities(pool, k)
        picks = s.select(pool, k, np.random.default_rng(k))
        np.testing.assert_array_equal(s.inclusion_probabilities_at(pool, k, picks), full[picks])
        rows = rng.choice(n, 200, replace=False)
        np.testing.assert_array_equal(StratifiedStrategy().inclusion_probabilities_at(pool, k, rows), full[rows])
