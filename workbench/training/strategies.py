"""Query strategies: which untagged sentences to show the user next.

Each strategy is a small object with its parameters in ``__init__`` and one method,
``select(pool, n, rng) -> row indices``: at most ``n`` distinct rows, never an excluded one.
Strategies hold no state between calls, so the same pool and the same generator give the
same picks. A strategy that needs a model (``needs_model``) is only asked when the pool
carries scores; the planner substitutes another one otherwise.

Probability samplers (``is_probability_sample``) also say, through
``inclusion_probabilities(pool, n)``, how likely each row was to be drawn. Tags they bring
in are a proper random sample of the corpus, which is what makes an honest performance
estimate possible (see ``workbench.training.performance``).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from workbench.training.pool import Pool
from workbench.training.sampling import (a_random_copy, allocate, chance_at, draw_sizes, per_copy, per_turn,
                                         proportional_to_size, ranked_chance, systematic_sample)

STRATEGIES: dict[str, type["Strategy"]] = {}


def register_strategy(cls: type["Strategy"]) -> type["Strategy"]:
    """Class decorator: make a strategy available to the planner by its ``name``."""
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise ValueError(f"a strategy named {cls.name!r} is already registered")
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str, **params) -> "Strategy":
    try:
        return STRATEGIES[name](**params)
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise ValueError(f"unknown query strategy {name!r}; known: {known}") from None


class Strategy:
    name: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False
    is_probability_sample: ClassVar[bool] = False

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def available(self, pool: Pool) -> bool:
        """Whether this strategy can run on the pool at all."""
        return pool.has_model or not self.needs_model

    def inclusion_probabilities_at(self, pool: Pool, n: int, rows: np.ndarray) -> np.ndarray:
        """``inclusion_probabilities(pool, n)[rows]`` (a sampler may spare the other rows')."""
        return self.inclusion_probabilities(pool, n)[rows]

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def _top(values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values among masked rows, largest first; ties by row order."""
    idx = np.flatnonzero(mask)
    if n <= 0 or idx.size == 0:
        return np.empty(0, dtype=np.int64)
    v = values[idx]
    if idx.size > n:
        part = np.argpartition(-v, n - 1)[:n]
        idx, v = idx[part], v[part]
    # A quicksort, then each run of tied values put in row order, orders a million rows in
    # about 60% of the lexsort's time with the lexsort's order (a NaN: the lexsort itself).
    order = np.argsort(-v)
    ranked = v[order]
    if ranked.size and np.isnan(ranked[-1]):  # NaN sorts last
        order = np.lexsort((idx, -v))
    else:
        _ties_in_row_order(order, ranked)
    return idx[order].astype(np.int64)


def detected_ranking(pool: Pool) -> np.ndarray:
    """The detections still available, best first: what the verification samplers draw from."""
    detected = pool.available & (pool.scores > pool.threshold)
    return _top(pool.scores, detected, int(detected.sum()))


def _ties_in_row_order(order: np.ndarray, ranked: np.ndarray) -> None:
    """Reorder ``order`` in place so that positions of equal ``ranked`` values (scores of
    float32 vectors tie for a few percent of a million rows) follow one another by row."""
    same = ranked[1:] == ranked[:-1]
    if not same.any():
        return
    tied = np.zeros(ranked.size, bool)
    tied[1:] |= same
    tied[:-1] |= same
    at = np.flatnonzero(tied)
    run = np.cumsum(np.r_[True, ~same])[at]
    order[at] = order[at][np.lexsort((order[at], run))]


@register_strategy
class SimilarityStrategy(Strategy):
    """Seed retrieval: the sentences most like the examples, the description and the YES tags.

    Works before any model exists, and is the fallback whenever a model cannot be fit
    (every tag so far YES, or every tag NO).
    """

    name = "similarity"

    def __init__(self, use_tagged_positives: bool = True) -> None:
        self.use_tagged_positives = use_tagged_positives

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        return _top(_similarity(pool, self.use_tagged_positives), pool.available, n)


def _similarity(pool: Pool, use_tagged_positives: bool) -> np.ndarray:
    if not use_tagged_positives or pool.n_positive == 0:
        return pool.seed_similarity
    w = pool.description_weight if pool.description_embedding is not None else 0.0
    sim = (1.0 - w) * pool.positive_similarity
    if w:
        sim = sim + w * (pool.embeddings @ pool.description_embedding)
    return sim


@register_strategy
class TopScoredStrategy(Strategy):
    """The sentences the current model is surest are positive: confirms or corrects its core."""

    name = "top_scored"
    needs_model = True

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        return _top(pool.scores, pool.available, n)


@register_strategy
class UncertaintyStrategy(Strategy):
    """Sentences closest to the model's threshold: where a tag moves the boundary most."""

    name = "uncertainty"
    needs_model = True

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        return _top(-np.abs(pool.scores - pool.threshold), pool.available, n)


@register_strategy
class NearMissStrategy(Strategy):
    """Sentences that look like the positives but are (believed) not: the hard negatives.

    With a model: among rows scored below the threshold, those most similar to any known
    positive. Before a model: rows just past the top of the seed-similarity ranking
    (ranks ``offset`` to ``offset + window``), drawn at random, since those are the look-alikes
    a user is shown to learn where the concept ends. ``window`` is in multiples of ``n``.
    """

    name = "near_miss"

    def __init__(self, offset: int = 25, window: int = 8) -> None:
        self.offset = offset
        self.window = window

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        avail = pool.available
        if pool.has_model:
            below = avail & (pool.scores < pool.threshold)
            if below.sum() >= n:
                return _top(pool.positive_similarity, below, n)
        ranked = _top(_similarity(pool, True), avail, self.offset + self.window * n)
        band = ranked[self.offset :] if ranked.size - self.offset >= n else ranked[-n:]
        return rng.choice(band, size=min(n, band.size), replace=False).astype(np.int64)


@register_strategy
class DiversityStrategy(Strategy):
    """Spread-out sentences: k-means++ seeding over a random candidate set.

    Each pick is drawn with probability proportional to its squared distance from what is
    already tagged or picked, so the user sees the corpus's variety (and the many kinds of
    NO a concept has) rather than more of what they have seen. ``top_k`` restricts the
    candidates to the most relevant rows (diverse positives) instead of the whole pool.
    """

    name = "diversity"

    def __init__(self, candidates: int = 2000, top_k: int | None = None) -> None:
        self.candidates = candidates
        self.top_k = top_k

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        avail = pool.available
        if self.top_k is not None:
            cand = _top(pool.relevance(), avail, self.top_k)
        else:
            cand = np.flatnonzero(avail)
        if cand.size > self.candidates:
            cand = rng.choice(cand, size=self.candidates, replace=False)
        if cand.size == 0 or n <= 0:
            return np.empty(0, dtype=np.int64)
        X = pool.embeddings[cand]
        anchors = pool.embeddings[pool.excluded]
        if len(anchors) > 2000:
            anchors = anchors[rng.choice(len(anchors), 2000, replace=False)]
        # Squared distance of unit vectors: 2 - 2 cos.
        d2 = (2.0 - 2.0 * (X @ anchors.T).max(axis=1)) if len(anchors) else np.full(len(X), 4.0)
        d2 = np.maximum(d2, 0.0)
        picked: list[int] = []
        for _ in range(min(n, cand.size)):
            total = d2.sum()
            if total <= 1e-12:
                rest = np.setdiff1d(np.arange(cand.size), picked)
                j = int(rng.choice(rest))
            else:
                j = int(rng.choice(cand.size, p=d2 / total))
            picked.append(j)
            d2 = np.minimum(d2, np.maximum(2.0 - 2.0 * (X @ X[j]), 0.0))
            d2[j] = 0.0
        return cand[np.asarray(picked)].astype(np.int64)


@register_strategy
class RandomStrategy(Strategy):
    """Uniform random sentences: unbiased, and the baseline every other strategy must beat."""

    name = "random"
    is_probability_sample = True

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        idx = np.flatnonzero(pool.available)
        return a_random_copy(pool, rng.choice(idx, size=min(n, idx.size), replace=False).astype(np.int64), rng)

    def inclusion_probabilities(self, pool: Pool, n: int) -> np.ndarray:
        avail = pool.available
        pi = np.zeros(len(pool))
        pi[avail] = min(1.0, n / max(avail.sum(), 1))
        return per_copy(pool, pi)


@register_strategy
class StratifiedStrategy(Strategy):
    """A random sample stratified by rank, with every row's inclusion probability known.

    Rows still available are ranked by the model's score (or by seed similarity before a
    model exists) and cut into strata of doubling size measured from ``base``, the number of
    rows the model detects (at least ``n``; before a model, ``prior_fraction`` of the pool):
    [0, base/2), [base/2, base), [base, 2 base), [2 base, 4 base), ... with the remainder as
    the last stratum. One row is drawn from each stratum from the top down (more than one
    when ``n`` exceeds the number of strata), so the sample concentrates where the
    positives are while every row keeps a chance of being drawn: that is what lets the
    performance estimate weight each tag by 1/probability and speak for the whole corpus.
    With fewer slots than strata, the lowest strata are merged rather than dropped.

    With ``pool.groups`` (speaker turns) the rows drawn are the same, but the probability
    stated for each row is that of its *turn* being reached through any of its sentences,
    which is what the turn-level estimate weights by. ``by_turn=True`` draws turns instead,
    each shown by its best row (measured on the benchmark: the same estimate accuracy,
    a worse model, as turns' best rows teach less about the boundary).

    With ``pool.texts`` the strata hold texts (all copies of a text score alike), a stratum's
    texts are drawn with probability proportional to their copies on offer (systematic
    sampling, exact probabilities), and a random copy of each drawn text is shown: every row
    of the frame (``sampling.sampling_frame``) then has the chance rows had before texts were
    one item, and no text shows twice.
    """

    name = "stratified"
    is_probability_sample = True

    def __init__(self, max_strata: int = 8, prior_fraction: float = 0.02, by_turn: bool = False) -> None:
        self.max_strata = max_strata
        self.prior_fraction = prior_fraction
        self.by_turn = by_turn

    def _stratum_probabilities(self, pool: Pool, units: np.ndarray, k: int, offer: np.ndarray | None) -> np.ndarray:
        """Each unit's chance of being among a stratum's ``k`` draws: k / size, or with
        ``pool.texts`` proportional to its text's copies on offer (``offer``, ``_copies_on_offer``)."""
        if offer is None or units.size == 0:
            return np.full(units.size, k / max(units.size, 1))
        return proportional_to_size(offer[pool.texts[units]].astype(float), k)

    def _copies_on_offer(self, pool: Pool) -> np.ndarray | None:
        """``draw_sizes`` (copies on offer, capped by ``pool.copy_cap``) once for all the strata
        of a draw (None where texts are not sampled)."""
        return None if pool.texts is None or self.by_turn else draw_sizes(pool)

    def _units(self, pool: Pool) -> np.ndarray:
        """Available rows to sample, best first (one per text), or (``by_turn`` with
        ``pool.groups``) the best available row of each turn, which then stands for it."""
        avail = pool.available
        rel = pool.relevance()
        if pool.groups is None or not self.by_turn:
            return _top(rel, avail, int(avail.sum()))
        rows = np.flatnonzero(avail)
        r, g = rel[rows], pool.groups[rows]
        order = np.lexsort((-r, g))
        gs = g[order]
        first = np.r_[True, gs[1:] != gs[:-1]] if gs.size else np.zeros(0, bool)
        reps = rows[order[first]]
        return reps[np.argsort(-rel[reps], kind="stable")]

    def strata(self, pool: Pool, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(ranked available units, stratum boundaries into that ranking)."""
        return self._design(pool, n)["strata"]

    def _design(self, pool: Pool, n: int) -> dict:
        """The draw's design, kept on the pool: its strata and, once asked, the copies on offer
        and each stratum's probabilities."""
        # The planner asks twice for the same pool, inclusion_probabilities then select: ranking
        # a million rows, and their probabilities, once is enough. Its `excluded` is changed in
        # place between strategies, so the memo is keyed by what is available, not by the pool.
        key = (self.max_strata, self.prior_fraction, self.by_turn, n, pool.available.tobytes())
        memo = pool.__dict__.get("_strata_memo")
        if memo is None or memo[0] != key:
            memo = (key, {"strata": self._strata(pool, n)})
            pool.__dict__["_strata_memo"] = memo
        return memo[1]

    def _stratum_pi(self, pool: Pool, n: int, h: int, units: np.ndarray, k: int) -> np.ndarray:
        """``_stratum_probabilities`` of stratum ``h`` for ``k`` draws, from the design's memo."""
        design = self._design(pool, n)
        if "offer" not in design:
            design["offer"] = self._copies_on_offer(pool)
        if (h, k) not in design:
            design[(h, k)] = self._stratum_probabilities(pool, units, k, design["offer"])
        return design[(h, k)]

    def _strata(self, pool: Pool, n: int) -> tuple[np.ndarray, np.ndarray]:
        ranked = self._units(pool)
        N = ranked.size
        if N == 0 or n <= 0:
            return ranked, np.array([0, N])
        if pool.has_model:
            base = int((pool.scores[ranked] >= pool.threshold).sum())
        else:
            base = int(round(self.prior_fraction * N))
        base = max(base, n, 2)
        edges = [0, base // 2]
        while edges[-1] < N:
            edges.append(edges[-1] * 2 if edges[-1] >= base else base)
        edges[-1] = N
        edges = sorted(set(min(e, N) for e in edges))
        k = max(1, min(self.max_strata, n, len(edges) - 1))
        edges = edges[:k] + [N]
        return ranked, np.asarray(edges)

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        ranked, edges = self.strata(pool, n)
        sizes = np.diff(edges)
        alloc = allocate(sizes, n)
        picks = []
        for h in np.flatnonzero(alloc):
            units = ranked[edges[h] : edges[h + 1]]
            pi = self._stratum_pi(pool, n, int(h), units, int(alloc[h]))
            picks.append(units[systematic_sample(pi, rng)] if pool.texts is not None and not self.by_turn
                         else rng.choice(units, size=alloc[h], replace=False))
        picks = np.concatenate(picks).astype(np.int64) if picks else np.empty(0, np.int64)
        return picks if self.by_turn else a_random_copy(pool, picks, rng)

    def inclusion_probabilities(self, pool: Pool, n: int) -> np.ndarray:
        ranked, edges = self.strata(pool, n)
        sizes = np.diff(edges)
        alloc = allocate(sizes, n)
        pi = np.zeros(len(pool))
        for h in range(sizes.size):
            if sizes[h]:
                units = ranked[edges[h] : edges[h + 1]]
                pi[units] = self._stratum_pi(pool, n, h, units, int(alloc[h]))
        if pool.groups is not None and self.by_turn:
            turn_pi = np.zeros(int(pool.groups.max()) + 1)
            turn_pi[pool.groups[ranked]] = pi[ranked]
            avail = pool.available
            pi[avail] = turn_pi[pool.groups[avail]]
            return pi
        return per_turn(pool, per_copy(pool, pi))

    def inclusion_probabilities_at(self, pool: Pool, n: int, rows: np.ndarray) -> np.ndarray:
        # The rows' texts and turns alone (``chance_at``): every row's took a third of a plan.
        if self.by_turn:
            return super().inclusion_probabilities_at(pool, n, rows)
        ranked, edges = self.strata(pool, n)
        alloc = allocate(np.diff(edges), n)

        def stratum_pi(h: int) -> np.ndarray:
            return self._stratum_pi(pool, n, h, ranked[edges[h]:edges[h + 1]], int(alloc[h]))  # as select drew
        return chance_at(pool, rows, lambda units: ranked_chance(ranked, edges, units, stratum_pi))


@register_strategy
class DetectedSampleStrategy(Strategy):
    """A random sample of the model's detections, spread over their score range.

    The detections still available are ranked by score and cut into ``n`` bins of equal
    count; one row is drawn from each, so every detection has a known chance (1 / its bin's
    size) and the sample shows sure hits and borderline ones in proportion. Tagged as a
    *verification round*, it measures precision on the corpus directly: the honest
    estimate takes these tags as random ones, like the stratified probe's.
    """

    name = "detected_sample"
    needs_model = True
    is_probability_sample = True

    def _bins(self, pool: Pool, n: int) -> tuple[np.ndarray, np.ndarray]:
        ranked = detected_ranking(pool)
        k = max(1, min(n, ranked.size))
        return ranked, np.linspace(0, ranked.size, k + 1).round().astype(int)

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        ranked, edges = self._bins(pool, n)
        if ranked.size == 0 or n <= 0:
            return np.empty(0, np.int64)
        return a_random_copy(pool, np.array([ranked[rng.integers(edges[i], edges[i + 1])]
                                              for i in range(edges.size - 1) if edges[i + 1] > edges[i]], dtype=np.int64), rng)

    def inclusion_probabilities(self, pool: Pool, n: int) -> np.ndarray:
        ranked, edges = self._bins(pool, n)
        pi = np.zeros(len(pool))
        for i in range(edges.size - 1):
            if edges[i + 1] > edges[i]:
                pi[ranked[edges[i] : edges[i + 1]]] = 1.0 / (edges[i + 1] - edges[i])
        return per_turn(pool, per_copy(pool, pi))



@register_strategy
class LikelyMissStrategy(Strategy):
    """A random sample of the non-detections, drawn where the misses are likeliest.

    The rows the model does not detect are ranked by score from the threshold down; the row
    at rank r (0 first) weighs 1 / (r + D), D the detections (at least ``n``), so each
    doubling of rank below the threshold gets the same share of the draw, as the honest
    estimate's bands do, and most of it lands just below the threshold, where a model's
    misses are. A uniform share ``floor`` keeps every non-detection a known chance. Drawn by
    systematic sampling along the ranking, with probability proportional to that mix: a
    row's inclusion probability is exactly n x its share (capped at 1, the capped rows
    certain). Tagged as a *verification round for the hit rate*, it feeds the honest
    estimate's missed bands with random tags.
    """

    name = "likely_miss"
    needs_model = True
    is_probability_sample = True

    def __init__(self, floor: float = 0.2) -> None:
        self.floor = floor

    def _design(self, pool: Pool, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(non-detections best first, their inclusion probabilities)."""
        avail = pool.available
        missed = avail & (pool.scores <= pool.threshold)
        ranked = _top(pool.scores, missed, int(missed.sum()))
        m = ranked.size
        if m <= n:
            return ranked, np.ones(m)
        detections = max(int((avail & (pool.scores > pool.threshold)).sum()), n, 1)
        w = 1.0 / (np.arange(m) + detections)
        share = (1.0 - self.floor) * w / w.sum() + self.floor / m
        pi = n * share
        # Rows whose share would exceed one draw are taken for certain; the rest of the
        # draws are spread over the others in proportion to their shares.
        certain = np.zeros(m, bool)
        while (pi[~certain] >= 1.0).any():
            certain |= pi >= 1.0
            rest = share[~certain]
            pi = np.where(certain, 1.0, 0.0)
            pi[~certain] = (n - certain.sum()) * rest / rest.sum()
        return ranked, pi

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        ranked, pi = self._design(pool, n)
        if ranked.size == 0 or n <= 0:
            return np.empty(0, np.int64)
        certain = pi >= 1.0
        cum = np.cumsum(pi[~certain])
        if cum.size == 0:
            return ranked[certain].astype(np.int64)
        # One random start, then steps of one along the cumulated probabilities: a row
        # (its pi < 1) holds at most one point, and holds one with chance exactly pi.
        points = rng.random() + np.arange(int(round(cum[-1])))
        hit = np.minimum(np.searchsorted(cum, points, side="right"), cum.size - 1)
        return a_random_copy(pool, np.concatenate([ranked[certain], ranked[~certain][hit]]).astype(np.int64), rng)

    def inclusion_probabilities(self, pool: Pool, n: int) -> np.ndarray:
        ranked, pi_ranked = self._design(pool, n)
        pi = np.zeros(len(pool))
        pi[ranked] = pi_ranked
        return per_turn(pool, per_copy(pool, pi))
