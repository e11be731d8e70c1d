"""What the honest estimator counts: its rows (sentences, or speaker turns) and their scores.

The Tracker passes each sentence's speaker turn, and the estimator then runs with turns as
its rows (``Units.by_turn``): a turn's score is its best sentence's, it is a positive when a
tagged sentence of it is YES, and its probe weight is 1 / the chance that the round's sample
reached the turn through any of its sentences (the stratified sampler states that chance
when its pool has groups). That is the level the quality benchmark's truth (utterance
labels) and its F1 use.

Scores are then put on a log-rank scale (``Units.on_rank_scale``): doublings of rank below
the threshold rather than raw decision values; the calibration is a logistic map of that
scale, measured better on the benchmark than of the raw score (hit rate within 0.10 of the
truth on 61% of runs against 58%; benchmarks/results/tracker_quality.md, "the estimate by
speaker turn").
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Units:
    """The honest estimator's inputs, one entry per unit (N units).

    labels: 1 YES, 0 NO, -1 unknown (untagged or NOT SURE). shown: shown to the user.
    detected: the final model detects the unit. scores: the final model's scores.
    tagged: indices of the YES/NO units; y: their labels; oof: their out-of-fold scores.
    tag_round, inclusion_prob: the round each unit was shown in and, for a unit drawn by a
    probability sampler, its inclusion probability (NaN otherwise); None when not recorded.
    copy_label, copy_text: for a unit holding a copy of a tagged text (not shown itself), the
    label that text's tag gives and the text's code (-1 otherwise); own_text: a tagged unit's
    text (-1 otherwise); None when not passed (``copies.copies_per_unit``).
    """

    labels: np.ndarray
    shown: np.ndarray
    detected: np.ndarray
    scores: np.ndarray
    tagged: np.ndarray
    y: np.ndarray
    oof: np.ndarray
    tag_round: np.ndarray | None
    inclusion_prob: np.ndarray | None
    copy_label: np.ndarray | None = None
    copy_text: np.ndarray | None = None
    own_text: np.ndarray | None = None

    def by_turn(self, groups) -> Units:
        """The same inputs with speaker turns as the units.

        A turn's score is its best sentence's, so it is detected when any sentence is; it is
        shown when any sentence was, and a positive when any tagged sentence is YES (else NO
        when some are NO). Its auxiliary score (what the estimator calibrates) takes the
        tagged sentences' out-of-fold values and the others' final scores. A turn drawn by
        the probe carries the round and inclusion probability of that draw (with groups in
        its pool, the stratified sampler states for every sentence the chance that its turn
        was reached)."""
        inv = turn_codes(groups)
        G = int(inv.max()) + 1 if inv.size else 0
        s_u = np.full(G, -np.inf)
        np.maximum.at(s_u, inv, self.scores)
        shown_u = np.zeros(G, bool)
        shown_u[inv[self.shown]] = True
        labels_u = np.full(G, -1, np.int8)
        np.maximum.at(labels_u, inv[self.tagged], self.y.astype(np.int8))
        aux = self.scores.copy()
        aux[self.tagged] = self.oof
        aux_u = np.full(G, -np.inf)
        np.maximum.at(aux_u, inv, aux)
        tagged_u = np.flatnonzero(labels_u >= 0)
        round_u = pi_u = None
        if self.tag_round is not None and self.inclusion_prob is not None:
            round_u, pi_u = self._turn_draws(inv, G)
        copy_label_u = copy_text_u = own_text_u = None
        if self.copy_label is not None:
            copy_label_u, copy_text_u = self._turn_copies(inv, G, shown_u | (labels_u >= 0))
            own_text_u = np.full(G, -1, np.int64)
            np.maximum.at(own_text_u, inv[self.tagged], np.asarray(self.own_text)[self.tagged])
        return Units(labels_u, shown_u, s_u > 0, s_u, tagged_u, labels_u[tagged_u].astype(int),
                     aux_u[tagged_u], round_u, pi_u, copy_label_u, copy_text_u, own_text_u)

    def _turn_copies(self, inv: np.ndarray, G: int, known_u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per turn not shown: the label of a tagged text it holds a copy of (YES over NO) and
        that text's code; -1 for a turn shown (it counts as itself) or holding no copy."""
        label_u = np.full(G, -1, np.int8)
        np.maximum.at(label_u, inv, self.copy_label)
        text_u = np.full(G, -1, np.int64)
        # The text whose tag gave the turn its label (the largest such code, to be definite).
        agrees = (self.copy_label >= 0) & (self.copy_label == label_u[inv])
        np.maximum.at(text_u, inv[agrees], np.asarray(self.copy_text)[agrees])
        label_u[known_u], text_u[known_u] = -1, -1
        return label_u, text_u

    def _turn_draws(self, inv: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray]:
        """Per turn: the round it was first shown in, and the probe draw that reached it."""
        tr = np.asarray(self.tag_round).astype(np.int64)
        pi = np.asarray(self.inclusion_prob, dtype=float)
        never = np.iinfo(np.int64).max
        round_u = np.full(G, never)
        has_round = self.shown & (tr >= 0)
        np.minimum.at(round_u, inv[has_round], tr[has_round])
        round_u[round_u == never] = -1
        pi_u = np.full(G, np.nan)
        probe = self.shown & np.isfinite(pi) & (pi > 0) & (tr >= 1)
        # A turn drawn twice (its best sentence, then another in a later round) keeps the
        # first draw; later draws are of a turn already known.
        for i in np.flatnonzero(probe)[np.argsort(-tr[probe], kind="stable")]:
            round_u[inv[i]], pi_u[inv[i]] = tr[i], pi[i]
        return round_u, pi_u

    def on_rank_scale(self, kept: RankOrder | None = None) -> Units:
        """Scores and out-of-fold scores on the log-rank scale of the units' final scores;
        ``kept``: an order of earlier scores of these units to try first (``RankOrder``)."""
        order = np.argsort(self.scores) if kept is None else kept.order_of(self.scores)
        ref = self.scores[order]
        return replace(self, scores=log_rank(self.scores, ref, order=order), oof=log_rank(self.oof, ref))


class RankOrder:
    """The last order that sorted a set of units' scores, tried first on the next scores.

    A round's two honest estimates, the bound's count at the "cv" cut and the final estimate,
    score the same units with one model's raw scores less two thresholds: a shift keeps their
    order, so the second need not sort a turn per unit again (a few hundred thousand at a
    million sentences). The order is taken only where it sorts the new scores (one pass); the
    log-rank scale reads the sorted values and each unit's place among equal ones, never which
    of equal units comes first, so it is the same bit for bit as after a sort of its own."""

    def __init__(self) -> None:
        self._order: np.ndarray | None = None

    def order_of(self, scores: np.ndarray) -> np.ndarray:
        order = self._order
        if order is not None and order.size == scores.size:
            ranked = scores[order]
            if not (np.isnan(ranked).any() or (ranked[1:] < ranked[:-1]).any()):
                return order
        self._order = order = np.argsort(scores)
        return order


def turn_codes(groups) -> np.ndarray:
    """Each row's turn as a code 0..G-1 in the order of the turns' ids (``np.unique``'s
    inverse). The Tracker's turns are such codes already (every one of 0..G-1 used): they are
    returned as they are, sparing a sort of a million rows on every estimate."""
    groups = np.asarray(groups)
    dense = (groups.ndim == 1 and groups.size and np.issubdtype(groups.dtype, np.integer)
             and groups.min() == 0 and groups.max() < groups.size)
    if dense and np.bincount(groups).all():
        return groups
    return np.unique(groups, return_inverse=True)[1].reshape(groups.shape)


def log_rank(values: np.ndarray, ref_sorted: np.ndarray, *, order: np.ndarray | None = None) -> np.ndarray:
    """Scores on a log-rank scale: -log2 of (rows scoring at least as high + 1) over
    (detected rows + 1); 0 at the threshold, -1 one doubling of rank below it.

    ``order``: ``values`` are the very scores ``ref_sorted`` sorts, in this order
    (``ref_sorted == values[order]``, NaN-free): each one's place is then read from the sort
    instead of searched for (a million binary searches took a fifth of a round's estimate).
    NaN values (the untagged units' out-of-fold scores) are searched for once."""
    n = ref_sorted.size
    d = n - np.searchsorted(ref_sorted, 0.0, side="right")
    if order is not None and not (n and np.isnan(ref_sorted[-1])):  # NaN sorts last
        left = _first_equal(ref_sorted)
        r = np.empty(n, np.int64)
        r[order] = n - left
    else:
        values = np.asarray(values)
        r = np.empty(values.shape, np.int64)
        nan = np.isnan(values)
        r[~nan] = n - np.searchsorted(ref_sorted, values[~nan], side="left")
        if nan.any():
            r[nan] = n - np.searchsorted(ref_sorted, np.nan, side="left")
    return -np.log2((r + 1.0) / (d + 1.0))


def _first_equal(ref_sorted: np.ndarray) -> np.ndarray:
    """Per position of a sorted NaN-free array, the first position holding an equal value:
    what ``searchsorted(ref_sorted, ref_sorted, side="left")`` returns."""
    n = ref_sorted.size
    start = np.ones(n, bool)
    start[1:] = ref_sorted[1:] != ref_sorted[:-1]
    first = np.where(start, np.arange(n), 0)
    return np.maximum.accumulate(first) if n else first
