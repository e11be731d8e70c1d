"""The log-rank scale read from the sort of the scores equals the binary searches it replaced."""
from __future__ import annotations

import numpy as np

from workbench.training.estimate.units import log_rank


def searched(values: np.ndarray, ref_sorted: np.ndarray) -> np.ndarray:
    """The definition: each value's place found by binary search (the code before issue 16)."""
    n = ref_sorted.size
    d = n - np.searchsorted(ref_sorted, 0.0, side="right")
    return -np.log2((n - np.searchsorted(ref_sorted, values, side="left") + 1.0) / (d + 1.0))


def test_ranks_from_the_sort_equal_the_searched_ones_with_ties_zeros_and_nan():
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(0, 200))
        scores = np.round(rng.standard_normal(n), trial % 3)  # rounding makes ties
        if n:
            scores[rng.integers(0, n, 3)] = -0.0 if trial % 2 else 0.0
        order = np.argsort(scores)
        ref = scores[order]
        assert np.array_equal(log_rank(scores, ref, order=order), searched(scores, ref))
        oof = np.where(rng.random(n) < 0.2, scores + 0.01, np.nan)  # untagged units: NaN
        assert np.array_equal(log_rank(oof, ref), searched(oof, ref), equal_nan=True)
    with_nan = np.array([0.3, np.nan, -0.2, 0.3])  # NaN scores: the searched path, same result
    order = np.argsort(with_nan)
    assert np.array_equal(log_rank(with_nan, with_nan[order], order=order), searched(with_nan, with_nan[order]))


def test_a_kept_order_gives_the_scale_of_a_sort_of_its_own_for_shifted_scores():
    """RankOrder: the count's order serves the final estimate's scores (the same raw scores less
    another threshold), bit for bit, and a stale order is sorted anew."""
    from dataclasses import replace

    from workbench.training.estimate.units import RankOrder, Units

    rng = np.random.default_rng(1)
    raw = np.round(rng.standard_normal(500), 1)  # ties, some of them made by the shift
    tagged = np.sort(rng.choice(500, 40, replace=False))
    units = Units(labels=np.full(500, -1, np.int8), shown=np.zeros(500, bool), detected=raw > 0, scores=raw,
                  tagged=tagged, y=(raw[tagged] > 0).astype(int), oof=raw[tagged] + 0.05, tag_round=None,
                  inclusion_prob=None)
    kept = RankOrder()
    for at in (0.0, 0.3, -0.7, 1e-17, 0.3):
        shifted = replace(units, scores=raw - at)
        first = kept._order
        a, b = shifted.on_rank_scale(kept), shifted.on_rank_scale()
        assert np.array_equal(a.scores, b.scores) and np.array_equal(a.oof, b.oof)
        assert first is None or kept._order is first  # the shift kept the order: no sort
    other = replace(units, scores=rng.permutation(raw))  # another model's scores: sorted anew
    assert np.array_equal(other.on_rank_scale(kept).scores, other.on_rank_scale().scores)
    assert kept._order is not first
