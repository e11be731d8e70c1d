"""A verification round that samples the detected *turns*: texts drawn in proportion to their copies.

``DetectedSampleStrategy`` draws one text from each of ``n`` equal-count bins of the detected
texts, so a text said 5,000 times is as likely to be drawn as one said once; its copy shown
then stands for all 5,000 turns (weight copies / pi). On corpora with frequent texts the
weights span three orders of magnitude: measured (session 14, held model, multidogo
seeds 0-5, 160 verification tags) the Kish effective number of those tags was 16-40 for the
"thanks" and "declines" concepts (87-150 with few copies), and a 1/pi-weighted rate of them
lay 0.08 under the truth on average, in most runs, since the usual sample misses the few
frequent texts and the rest say the concept less clearly.

``DetectedTurnsStrategy`` draws each detected text with a chance in proportion to its copies on
offer (``sampling.draw_sizes``), so every detected turn is about as likely to be reached and
the tags weigh alike; a text too frequent for that (n x its share >= 1) is drawn for certain.
One systematic pass along the score ranking spreads the draws over the score range as the
bins did. The chances are exact (``sampling.proportional_to_size``), stated per turn as the
other probability samplers state them. Measured the same way (100 tags), the tags then weigh
like 94-100.

What no sampler of untagged texts reaches: the other copies of a text tagged in the learning
rounds (a text is shown once). On MultiDoGO they were a median of 32% of the detected turns (up
to 83%), with a true rate of 0.93 against 0.71 for the rest, so a rate of the drawable texts
stays low (0.06 under the truth at 100 tags); score bands (``HonestEstimate(detected_bands=4)``)
narrow that. Figures: benchmarks/results/verify_until_s14_compare*.md.
"""
from __future__ import annotations

import numpy as np

from workbench.training.pool import Pool
from workbench.training.sampling import a_random_copy, copy_sizes, per_copy, per_turn, proportional_to_size, systematic_sample
from workbench.training.strategies import Strategy, detected_ranking, register_strategy


class SystematicDetectedSampler(Strategy):
    """A probability sample of the detections with a chance per detected text
    (``chances``), drawn in one systematic pass along the score ranking, so that each run
    of the ranking gets its expected draws rounded up or down. The base of
    ``DetectedTurnsStrategy`` and ``neyman.NeymanDetectedStrategy``."""

    needs_model = True
    is_probability_sample = True

    def chances(self, pool: Pool, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(detected texts still available, best first, and their inclusion probabilities)."""
        raise NotImplementedError

    def select(self, pool: Pool, n: int, rng: np.random.Generator) -> np.ndarray:
        ranked, pi = self.chances(pool, n)
        if ranked.size == 0 or n <= 0:
            return np.empty(0, np.int64)
        picks = ranked[systematic_sample(pi, rng, ordered=True)]
        return a_random_copy(pool, np.unique(picks).astype(np.int64), rng)

    def inclusion_probabilities(self, pool: Pool, n: int) -> np.ndarray:
        ranked, pi_ranked = self.chances(pool, n)
        pi = np.zeros(len(pool))
        pi[ranked] = pi_ranked
        return per_turn(pool, per_copy(pool, pi))


@register_strategy
class DetectedTurnsStrategy(SystematicDetectedSampler):
    """A random sample of the detections, each text drawn in proportion to its copies on
    offer (see the module), systematically along the score ranking."""

    name = "detected_turns"

    def design(self, pool: Pool, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(detected texts still available, best first, and their inclusion probabilities)."""
        ranked = detected_ranking(pool)
        k = min(n, ranked.size)
        if k <= 0:
            return ranked, np.zeros(ranked.size)
        return ranked, proportional_to_size(np.maximum(copy_sizes(pool, ranked), 1.0), k)

    chances = design
