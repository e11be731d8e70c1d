"""The detected copies of tagged texts: a stratum no later round can reach, read from their texts' tags.

A round shows each text once (a random copy of it) and never again, so once a text is tagged
its other copies leave every later round's frame, yet they stay unknown units of the honest
estimate. Read like any other unknown unit, they take the band's rate, which the later rounds
learn from frames without them. Where a tagged text has many copies (a common phrase) and its
meaning is not the band's average (a "thanks" said in many turns is mostly a positive), the
band's rate misses them: verifying until precision ±0.05 on the typed corpora, 28-55% of the
unknown detections were such copies, true rate 0.87-0.94 against 0.74-0.83 for the others
(benchmarks/results/verify_bias.md, seeds 0-2).

Counted as answered by their text's tag they broke the intervals (a text's meaning depends on
its turn; session 7). Here they form their own stratum: its units' texts were shown by a random
copy (``sampling.a_random_copy``), so each text's tag is an unbiased draw of what its copies
mean, and the stratum's rate is learned from the tags weighed by each text's unknown copies:
Hajek rate sum(c_t y_t) / sum(c_t), Kish effective size (sum c_t)^2 / sum c_t^2 as a binomial
likelihood under Jeffreys' prior, and the stratum's count Binomial(U_C, p) per draw. Its mean
is sum(c_t y_t), the tags' own prediction of their copies; its spread grows with how few texts
carry the copies, and no later round can narrow it: where a few frequent texts carry most
copies, verifying cannot reach ±0.05 (why the option is off; verify_bias.md, section 5).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CopyStratum:
    """The unknown units (turns or sentences) that hold a copy of a tagged text.

    members: bool per unit; n_eff, k_eff: the Kish effective number of texts behind them and
    of YES among them (each text weighed by its copies in the stratum)."""

    members: np.ndarray
    n_eff: float
    k_eff: float

    @property
    def size(self) -> int:
        return int(self.members.sum())


def copy_stratum(copy_label: np.ndarray, copy_text: np.ndarray, candidates: np.ndarray) -> CopyStratum:
    """The stratum among ``candidates`` (bool per unit, e.g. the unknown detected units):
    those with a tagged text's label in ``copy_label`` (1 YES, 0 NO, -1 none), weighed by
    text (``copy_text``: the code of that text, -1 none)."""
    members = np.asarray(candidates, bool) & (np.asarray(copy_label) >= 0)
    if not members.any():
        return CopyStratum(members, 0.0, 0.0)
    texts, c = np.unique(np.asarray(copy_text)[members], return_counts=True)
    # One label per text: a unit holding copies of two tagged texts took the larger; a text's
    # copies agree, since they all take its one tag.
    y_of = np.zeros(texts.size)
    np.maximum.at(y_of, np.searchsorted(texts, np.asarray(copy_text)[members]), np.asarray(copy_label)[members])
    n_eff = float(c.sum() ** 2 / (c.astype(float) ** 2).sum())
    return CopyStratum(members, n_eff, n_eff * float((c * y_of).sum() / c.sum()))


def stratum_counts(stratum: CopyStratum, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(n_draws,) draws of the stratum's positives: a rate from Beta(k + 1/2, n - k + 1/2),
    then the count Binomial(U_C, rate). Zeros for an empty stratum."""
    if stratum.size == 0:
        return np.zeros(n_draws)
    rate = rng.beta(stratum.k_eff + 0.5, stratum.n_eff - stratum.k_eff + 0.5, size=n_draws)
    return rng.binomial(stratum.size, rate).astype(float)


def copies_per_unit(copy_labels: np.ndarray, texts: np.ndarray,
                    shown: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the label a tagged text gives its copy (``copy_labels``: the tags as extended to
    every copy, ``duplicates.answer_copies``; -1 for rows shown themselves or without one), that
    text's code (-1 none), and for a row shown its own text's code (-1 for the others)."""
    copy_labels = np.asarray(copy_labels).astype(np.int8)
    shown = np.asarray(shown, bool)
    is_copy = (copy_labels >= 0) & ~shown
    texts = np.asarray(texts)
    return np.where(is_copy, copy_labels, -1).astype(np.int8), np.where(is_copy, texts, -1), np.where(shown, texts, -1)


def weights_for_the_rest(probe_w: np.ndarray, pi: np.ndarray, own_text: np.ndarray,
                         stratum: CopyStratum, copy_text: np.ndarray) -> np.ndarray:
    """Probe weights for the rate of the band's units outside the stratum.

    A probe tag drawn with chance pi stands for 1/pi units of its round's frame, itself and its
    text's copies among them: w = 1/pi counts its text's copies as if they were still drawn from
    the band (Horvitz-Thompson over the frame), but they are known or in the stratum now. For
    the rest the tag stands for 1/pi - (1 + c) units (c: its text's copies in the stratum):
    w (1 - pi (1 + c)), at least 0. A text almost sure to be drawn (many copies high in the
    ranking) then says little of the other texts, and a rare one (pi small) weighs as before."""
    c_of = np.bincount(np.asarray(copy_text)[stratum.members],
                       minlength=int(max(np.max(own_text, initial=-1), np.max(copy_text, initial=-1))) + 1)
    c = np.where(own_text >= 0, c_of[np.maximum(own_text, 0)], 0)
    pi = np.where(np.isfinite(pi) & (pi > 0), pi, 0.0)
    return probe_w * np.clip(1.0 - pi * (1.0 + c), 0.0, None)
