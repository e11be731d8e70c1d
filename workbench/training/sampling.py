"""The designs of the random samplers: the frame they draw from, and each row's chance.

A probability sampler (``strategies``) draws from ``sampling_frame``: with ``pool.texts`` every
row of the texts still on offer, copies included, so that a sample stands for the corpus's turns. What it
states for a row is the chance that its turn was reached (``per_turn``), from each copy's
chance of being the one shown (``per_copy``). Texts drawn in proportion to their copies use
``proportional_to_size`` and ``systematic_sample``: exact chances, never a text twice.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from workbench.training.codes import in_codes
from workbench.training.pool import Pool


def proportional_to_size(sizes: np.ndarray, k: int) -> np.ndarray:
    """Inclusion probabilities of ``k`` draws proportional to ``sizes``: k s_i / sum s, with
    the units that would exceed 1 taken for certain and the rest scaled again."""
    pi = np.zeros(sizes.size)
    certain = np.zeros(sizes.size, bool)
    while True:
        rest = np.flatnonzero(~certain)
        p = (k - certain.sum()) * sizes[rest] / sizes[rest].sum()
        if (p < 1).all() or rest.size == 0:
            pi[rest], pi[certain] = p, 1.0
            return pi
        certain[rest[p >= 1]] = True


def allocate(sizes: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws over strata of ``sizes``: one per stratum from the top down, round after
    round, none beyond a stratum's size."""
    alloc = np.zeros(sizes.size, dtype=np.int64)
    remaining = min(n, int(sizes.sum()))
    while remaining > 0:
        for h in range(sizes.size):
            if remaining and alloc[h] < sizes[h]:
                alloc[h] += 1
                remaining -= 1
    return alloc


def ranked_chance(ranked: np.ndarray, edges: np.ndarray, units: np.ndarray,
                  stratum_pi: Callable[[int], np.ndarray]) -> np.ndarray:
    """The chances of ``units`` (rows among ``ranked``), each its stratum's: ``stratum_pi(h)``
    holds those of ``ranked[edges[h]:edges[h + 1]]``."""
    at = np.flatnonzero(in_codes(ranked, units))  # the units' places in the ranking
    at = at[np.argsort(ranked[at])][np.searchsorted(np.sort(ranked[at]), units)]
    strata = np.searchsorted(edges, at, side="right") - 1
    return np.array([stratum_pi(int(h))[a - edges[h]] for h, a in zip(strata, at)], dtype=float)


def systematic_sample(pi: np.ndarray, rng: np.random.Generator, ordered: bool = False) -> np.ndarray:
    """Positions drawn by systematic sampling in random order: each is drawn with exactly its
    ``pi`` (which sum to the number of draws), and never twice. ``ordered``: in the given order
    instead, so that every run of consecutive positions (a score stratum of a ranking) gets its
    expected draws rounded up or down."""
    order = np.arange(pi.size) if ordered else rng.permutation(pi.size)
    cum = np.cumsum(pi[order])
    start = rng.random()
    # Unit j is drawn when some point start + t (t = 0, 1, ...) falls in [cum_{j-1}, cum_j).
    drawn = np.floor(cum - start) > np.floor(np.r_[0.0, cum[:-1]] - start)
    return order[drawn]


def sampling_frame(pool: Pool) -> np.ndarray:
    """The rows a probability sampler draws from: every row of the texts still on offer.

    The other strategies see one row per text (``pool.available``). A random sample draws
    among all the rows instead, copies included, so that it stands for the corpus's turns: a
    text said 500 times is 500 times as likely to be drawn, and the copy drawn, in its own
    turn, is the one shown. Its answer is then a random draw of what that text means across
    its turns; the honest estimate weighs it by 1/pi and leaves the other copies unknown
    (measured: counting one answer for every copy broke the intervals on real conversations,
    where "no" is a rejection in some turns and not in others)."""
    if pool.texts is None:
        return pool.available
    on_offer = np.zeros(int(pool.texts.max()) + 1 if pool.texts.size else 0, bool)
    on_offer[pool.texts[pool.available]] = True
    return (pool.available | pool.copies) & on_offer[pool.texts]


def copies_on_offer(pool: Pool) -> np.ndarray:
    """(texts,) how many rows of each text are in the frame."""
    return np.bincount(pool.texts[sampling_frame(pool)], minlength=int(pool.texts.max()) + 1)


def draw_sizes(pool: Pool) -> np.ndarray:
    """(texts,) the size each text is drawn in proportion to: its copies on offer, capped at
    ``pool.copy_cap`` when set. The chance of each copy still follows from its text's chance
    (``per_copy`` divides it by the true copies), so the estimate's weights stay exact."""
    sizes = copies_on_offer(pool)
    return np.minimum(sizes, pool.copy_cap) if pool.copy_cap else sizes


def copy_sizes(pool: Pool, rows: np.ndarray) -> np.ndarray:
    """(rows,) float: each row's text's draw size (``draw_sizes``); 1 where texts are not known."""
    return draw_sizes(pool)[pool.texts[rows]].astype(float) if pool.texts is not None else np.ones(len(rows))


def per_copy(pool: Pool, pi: np.ndarray) -> np.ndarray:
    """From each offered row's chance that its text is drawn, each frame row's chance of
    being the copy shown: the text's chance over its copies on offer."""
    if pool.texts is None:
        return pi
    text_pi = np.zeros(int(pool.texts.max()) + 1)
    text_pi[pool.texts[pool.available]] = pi[pool.available]
    frame = sampling_frame(pool)
    out = pi.copy()
    out[frame] = text_pi[pool.texts[frame]] / copies_on_offer(pool)[pool.texts[frame]]
    return out


def a_random_copy(pool: Pool, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each picked text shown by one of its copies on offer, chosen at random, so that the copy
    shown, in its own turn, is a random draw of what the text means across its turns."""
    if pool.texts is None or picks.size == 0:
        return picks
    frame = np.flatnonzero(sampling_frame(pool))
    rows = frame[np.argsort(pool.texts[frame], kind="stable")]
    starts = np.searchsorted(pool.texts[rows], pool.texts[picks])
    counts = copies_on_offer(pool)[pool.texts[picks]]
    return rows[starts + (rng.random(picks.size) * counts).astype(np.int64)]


def per_turn(pool: Pool, pi: np.ndarray) -> np.ndarray:
    """With turns (``pool.groups``), the chance that the sample reached each row's turn.

    What the turn-level estimate needs is the chance that the sample reached the row's
    turn through any of its sentences; every row of the frame (``sampling_frame``) carries it
    for its turn. Strata are small samples of large sets, so the draws of a turn's sentences are
    close to independent: 1 - prod(1 - pi). Without turns, ``pi`` unchanged.
    """
    if pool.groups is None:
        return pi
    frame = sampling_frame(pool)
    g = pool.groups[frame]
    log_miss = np.zeros(int(pool.groups.max()) + 1 if pool.groups.size else 0)
    np.add.at(log_miss, g, np.log1p(-np.minimum(pi[frame], 1.0 - 1e-12)))
    out = pi.copy()
    out[frame] = -np.expm1(log_miss)[g]
    return out


def chance_at(pool: Pool, rows: np.ndarray, pi_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``per_turn(pool, per_copy(pool, pi))[rows]`` from the rows' texts and turns alone, where
    ``pi`` is 0 but on available rows and ``pi_of(available rows)`` gives it there: a planner
    records the chances of its picks only. The same operations on fewer rows, in the same
    order (a turn's misses are summed by row), so the same values to the bit."""
    rows = np.asarray(rows, np.int64)
    frame = sampling_frame(pool)
    if pool.groups is None:
        return _per_copy_at(pool, frame, rows, pi_of)
    need = np.union1d(rows, np.flatnonzero(frame & in_codes(pool.groups, pool.groups[rows])))
    copy_pi = _per_copy_at(pool, frame, need, pi_of)
    turns, turn = np.unique(pool.groups[need], return_inverse=True)
    in_frame = frame[need]
    log_miss = np.zeros(turns.size)
    np.add.at(log_miss, turn[in_frame], np.log1p(-np.minimum(copy_pi[in_frame], 1.0 - 1e-12)))
    copy_pi[in_frame] = -np.expm1(log_miss)[turn[in_frame]]
    return copy_pi[np.searchsorted(need, rows)]


def _per_copy_at(pool: Pool, frame: np.ndarray, rows: np.ndarray, pi_of) -> np.ndarray:
    """``per_copy(pool, pi)[rows]`` (``chance_at``'s ``pi``), from the rows of their texts."""
    avail = pool.available
    pi = np.zeros(rows.size)
    pi[avail[rows]] = pi_of(rows[avail[rows]])
    if pool.texts is None:
        return pi
    texts, text = np.unique(pool.texts[rows], return_inverse=True)
    same = np.flatnonzero(in_codes(pool.texts, texts))  # every row of these texts
    of = np.searchsorted(texts, pool.texts[same])
    on_offer = np.bincount(of[frame[same]], minlength=texts.size)
    text_pi = np.zeros(texts.size)
    shown_by = same[avail[same]]  # the row each text is offered through
    text_pi[of[avail[same]]] = pi_of(shown_by)
    in_frame = frame[rows]
    pi[in_frame] = text_pi[text[in_frame]] / on_offer[text[in_frame]]
    return pi
