"""Untagged sentences of the scope as weak negatives: an option of the tracker's model, off by
default (``TrackerModel(background_negatives=N)``).

Why: on transcribed speech a concept is 0.3-2.5% of the sentences, and the rounds' NO tags sit
near the examples and the model's boundary. benchmarks/results/speech_budget.md (session 15)
fitted the product's model on oracle label sets: at the loop's own counts (about 19 YES, 81 NO)
the loop's tags rank at 0.48x the frozen ceiling, its YES tags with *random* negatives 0.56x,
random positives and negatives 0.64x. A random untagged sentence is a NO 97-99% of the time
there, so a few hundred of them, learnt as NO, show the model the corpus it will score without
a tag. They also carry the concept's own sentences as NO (1-2.5% of them on speech, more on
typed dialogues), which is why the option is measured rather than assumed.

The rows are drawn once per session in a fixed random order, each text once and never a row
shown in a round (``background_rows``), and passed to ``fit(..., background=)``; the model keeps
them as fitted data (``background_``, not a parameter, so that its logged settings stay scalars)
and the estimate's refits learn from the same ones (``held_out.refit_template``).

``background_threshold="count"``: the background ranks, and the model without it says how many
units to detect (``count_threshold``; the model is fitted twice). Learnt as NO, the background
pulls every score down and the tags' cross-validated cut with it.

Measured through the loop (benchmarks/tracker_quality.py, seeds 0-11, session 15; the table is in
benchmarks/tracker_quality_history.md): on speech the ranking gains on every concept (best
threshold 0.481x -> 0.513x with 200 rows), the F1 at the model's threshold only 0.421x -> 0.447x
("count") or 0.449x (own threshold), with one concept about 0.10 down either way; typed dialogues
fall 0.962x -> 0.935x, since there the background holds more of the concept's own sentences as NO.
Not adopted.
"""
from __future__ import annotations

import numpy as np

from workbench.training.prevalence import bounded_threshold, unit_scores

BACKGROUND_THRESHOLDS = ("own", "count")


def with_background(X, y, sample_weight, background, n: int, weight: float):
    """(X, y, sample_weight) with the first ``n`` rows of ``background`` appended as NO of
    ``weight`` each; as they were when ``n`` is 0 or there is no background."""
    if n <= 0 or background is None or not len(background):
        return X, y, sample_weight
    B = np.asarray(background, dtype=X.dtype)[: int(n)]
    w = np.concatenate([np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float),
                        np.full(len(B), float(weight))])
    return np.vstack([X, B]), np.concatenate([y, np.zeros(len(B), dtype=y.dtype)]), w


def background_rows(order: np.ndarray, shown: np.ndarray, texts: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` rows taken along ``order`` (a fixed permutation of the rows), skipping rows
    ``shown`` and any text already taken: the same background from fit to fit, less what gets
    tagged."""
    order = order[~shown[order]]
    _, first = np.unique(texts[order], return_index=True)
    return order[np.sort(first)[: int(n)]]


def count_threshold(model, twin, X, groups=None) -> float:
    """The threshold on ``model``'s raw scale that detects as many units of ``X`` (turns with
    ``groups``) as the fitted ``twin`` (the same model without the background) does at its own."""
    n = int((unit_scores(twin.raw_scores(X), groups) > twin.threshold_).sum())
    return bounded_threshold(unit_scores(model.raw_scores(X), groups), model.threshold_, n, n)
