"""The learning curve over rounds, and whether another round is likely to help.

The verdict rests on how much the model's detections moved between the last two models
(exact, computed on the whole corpus): a model whose detections still change by more than
``max_change`` has not settled. The estimated F1 gain is reported but decides only when the
previous model's detections are unknown: on a hundred tags its interval is wider than a
round's gain. Measured (benchmarks/results/learning_curve_advice.md, 11 concepts x 12 seeds,
advice after rounds 4-7): the next round's true F1 gain rises steadily with the detection
change (a gain over 0.01 in 15% of cases below 5% change, 51% at 10-20%, 68% above 40%),
while "estimated F1 rose by more than 0.02" was followed by such a gain no more often than
"unlikely to help" (30% against 23%).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoundRecord:
    round_number: int
    n_tags: int
    f1: float | None  # estimated F1 after the round (honest where available)
    detected: int  # sentences the model detects
    change: float | None  # share of the union of detections that changed vs the previous model


@dataclass(frozen=True)
class CurveAssessment:
    likely_helps: bool
    reason: str
    f1_gain: float | None
    change: float | None


def detection_change(previous_scores: np.ndarray, scores: np.ndarray) -> float:
    """1 - Jaccard overlap of the two models' detections (score > 0): 0 means unchanged."""
    a, b = np.asarray(previous_scores) > 0, np.asarray(scores) > 0
    union = (a | b).sum()
    return float((a ^ b).sum() / union) if union else 0.0


def assess_learning_curve(
    records: list[RoundRecord], min_gain: float = 0.02, max_change: float = 0.10
) -> CurveAssessment:
    if len(records) < 2:
        return CurveAssessment(True, "only one model so far: tag another round", None, None)
    last, prev = records[-1], records[-2]
    gain = None if last.f1 is None or prev.f1 is None else last.f1 - prev.f1
    change = last.change
    if change is not None:
        if change > max_change:
            return CurveAssessment(
                True, f"{change:.0%} of detections changed with the last round: the model has not settled",
                gain, change,
            )
        return CurveAssessment(
            False,
            f"only {change:.0%} of detections changed with the last round: the model has settled, and more "
            "tags of the same kind are unlikely to help much (add examples or tag detections instead)",
            gain, change,
        )
    # Without the previous model's detections, the noisier estimated F1 is all there is.
    if gain is not None and gain > min_gain:
        return CurveAssessment(True, f"estimated F1 rose by {gain:+.2f} in the last round", gain, change)
    return CurveAssessment(
        False, "the estimated F1 barely moved in the last round; more tags of the same kind are unlikely "
        "to help much (add examples or tag detections instead)", gain, change,
    )
