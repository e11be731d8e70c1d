"""The round planner: mixes query strategies into one round of sentences to tag.

Early rounds (1-4, the "basic model") must find positives fast *and* show the user the
look-alikes and the variety of negatives, or the model learns only what the examples
already say. Later rounds add uncertainty sampling to refine the boundary. Every mix keeps
a few stratified random picks: they cost little in learning and are what makes an honest
performance estimate possible.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

from workbench.core.settings import BASIC_MODEL_ROUNDS
from workbench.training.codes import in_codes
from workbench.training.pool import Pool
from workbench.training.strategies import (
    SimilarityStrategy,
    Strategy,
    get_strategy,
)

MixSpec = Union[Mapping[str, float], Sequence[tuple[Union[str, Strategy], float]]]

# Chosen on benchmarks/tracker_quality.py (see benchmarks/results/tracker_quality.md):
# with 13 of 25 picks stratified random the model sees the corpus's variety (F1 median
# 0.95x ceiling, worst concept 0.83x; 9 picks: 0.89x / 0.83x; 5 picks: 0.89x / 0.74x)
# and the honest estimate has a larger probe. LATE_MIX (rounds 5+) is not benchmarked.
EARLY_MIX: dict[str, float] = {
    "similarity": 3,
    "top_scored": 4,
    "near_miss": 3,
    "diversity": 2,
    "stratified": 13,
}
LATE_MIX: dict[str, float] = {
    "top_scored": 3,
    "uncertainty": 4,
    "near_miss": 3,
    "diversity": 2,
    "stratified": 13,
}


@dataclass(frozen=True)
class PlannedRound:
    """One round to show: rows in display order and how each was chosen.

    inclusion_prob is the probability the row had of being drawn by a probability sampler
    (given the other picks of the round), NaN for picks made by a non-random strategy.
    Keep it with the tag: the honest performance estimate needs it.
    """

    round_number: int
    indices: np.ndarray
    strategies: np.ndarray
    inclusion_prob: np.ndarray
    notes: tuple[str, ...] = field(default=())
    # "verification" for a round of ActiveLearningSession.plan_verification: pass it to
    # session.tag(kind=...), so that the model is held while the user verifies.
    kind: str = "learning"

    def __len__(self) -> int:
        return int(self.indices.size)


def _normalise_mix(mix: MixSpec) -> list[tuple[Strategy, float]]:
    items = mix.items() if isinstance(mix, Mapping) else mix
    out = []
    for strategy, weight in items:
        if weight < 0:
            raise ValueError(f"mix weight for {strategy!r} must be >= 0, got {weight}")
        out.append((get_strategy(strategy) if isinstance(strategy, str) else strategy, float(weight)))
    if not out or sum(w for _, w in out) <= 0:
        raise ValueError("a mix needs at least one strategy with a positive weight")
    samplers = [s.name for s, w in out if s.is_probability_sample and w > 0]
    if len(samplers) > 1:
        # Two random samplers in one round would make each one's inclusion probabilities
        # depend on the other's draw; one is enough for the estimate.
        raise ValueError(f"a mix may hold one probability sampler, got {samplers}")
    return out


def _allocate(weights: Sequence[float], n: int) -> list[int]:
    """Largest-remainder rounding of weights to integer counts summing to n."""
    w = np.asarray(weights, dtype=float)
    exact = w / w.sum() * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


class RoundPlanner:
    """Plans tagging rounds from a mix of strategies; reproducible from ``seed``.

    early_mix applies to rounds 1..basic_rounds, late_mix after. A mix maps strategy names
    (or (Strategy, weight) pairs for custom parameters) to weights, scaled to the round
    size. Strategies that need a model fall back to similarity while none can be fit; when
    one strategy runs dry, the remaining slots are filled by similarity, then at random.
    """

    def __init__(
        self,
        early_mix: MixSpec | None = None,
        late_mix: MixSpec | None = None,
        basic_rounds: int = BASIC_MODEL_ROUNDS,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        self.early_mix = early_mix
        self.late_mix = late_mix
        self.basic_rounds = basic_rounds
        self.seed = seed
        self.shuffle = shuffle

    def mix_for(self, round_number: int) -> list[tuple[Strategy, float]]:
        if round_number <= self.basic_rounds:
            return _normalise_mix(self.early_mix if self.early_mix is not None else EARLY_MIX)
        return _normalise_mix(self.late_mix if self.late_mix is not None else LATE_MIX)

    def plan(self, pool: Pool, n: int = 25) -> PlannedRound:
        round_number = pool.round_number + 1
        # A generator per (seed, round): the same state always gives the same round, no
        # matter what was planned before in this process.
        rng = np.random.default_rng([self.seed, round_number])
        mix = self.mix_for(round_number)
        counts = _allocate([w for _, w in mix], n)
        notes: list[str] = []
        fallback = SimilarityStrategy()

        taken = pool.excluded.copy()
        chosen: list[np.ndarray] = []
        names: list[np.ndarray] = []
        probs: list[np.ndarray] = []

        # One view of the same arrays whose `excluded` is `taken`, updated in place as
        # picks are made; similarities it computes are cached once for the whole round.
        current = _with_excluded(pool, taken)
        held_back = pool.held_back()

        # Non-random strategies first, the probability sampler last: its inclusion
        # probabilities are then exact given the rest of the round.
        order = sorted(range(len(mix)), key=lambda i: mix[i][0].is_probability_sample)
        shortfall = 0
        for i in order:
            strategy, k = mix[i][0], counts[i]
            if strategy.is_probability_sample:
                k += shortfall
                shortfall = 0
            if k <= 0:
                continue
            if not strategy.available(current):
                notes.append(f"{strategy.name}: no model yet, used similarity")
                strategy = fallback
            # The learning slots see the pool without the held-back frequent texts
            # (``Pool.frequent_copies``); the probability sampler always sees all of it.
            sampler = strategy.is_probability_sample
            view = current if sampler or not held_back.any() else _with_excluded(current, taken | held_back)
            picks = strategy.select(view, k, rng)
            picks = picks[~taken[picks]][:k]
            # The picks' chances in the pool they were drawn from (before they are taken).
            probs.append(strategy.inclusion_probabilities_at(current, k, picks) if sampler
                         else np.full(picks.size, np.nan))
            _take(pool, taken, picks)
            chosen.append(picks)
            names.append(np.full(picks.size, strategy.name, dtype=object))
            shortfall += k - picks.size

        if shortfall:
            for filler in (fallback, get_strategy("random")):
                if not shortfall:
                    break
                picks = filler.select(current, shortfall, rng)
                picks = picks[~taken[picks]][:shortfall]
                _take(pool, taken, picks)
                chosen.append(picks)
                # The filler's picks are not a designed sample: no inclusion probability.
                names.append(np.full(picks.size, filler.name, dtype=object))
                probs.append(np.full(picks.size, np.nan))
                shortfall -= picks.size
                notes.append(f"filled {picks.size} slot(s) with {filler.name}")

        indices = np.concatenate(chosen) if chosen else np.empty(0, np.int64)
        strategies = np.concatenate(names) if names else np.empty(0, object)
        inclusion = np.concatenate(probs) if probs else np.empty(0)
        if self.shuffle and indices.size:
            # Shown in random order so the user cannot tell which strategy chose what.
            perm = rng.permutation(indices.size)
            indices, strategies, inclusion = indices[perm], strategies[perm], inclusion[perm]
        return PlannedRound(round_number, indices.astype(np.int64), strategies, inclusion, tuple(notes))


def _take(pool: Pool, taken: np.ndarray, picks: np.ndarray) -> None:
    """Mark ``picks`` taken, and with ``pool.texts`` every row of their texts, so that no
    later strategy of the round offers the same text again (a random sampler may pick any
    copy, the others the text's offered row)."""
    taken[picks] = True
    if pool.texts is not None and picks.size:
        taken |= in_codes(pool.texts, pool.texts[picks])


def _with_excluded(pool: Pool, excluded: np.ndarray) -> Pool:
    p = Pool.__new__(Pool)
    p.__dict__.update(pool.__dict__)
    p.excluded = excluded
    return p
