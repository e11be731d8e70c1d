"""The learning curve over rounds, and whether another round is likely to help.

Two signals, because either alone misleads on a hundred tags: the estimated F1 (noisy,
its interval often wider than the change) and how much the model's detections moved
between the last two models (exact, computed on the whole corpus). A model whose
detections still change by more than ``max_change`` has not settled; one whose F1 went
up by more than ``min_gain`` is still learning.
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
    if change is not None and change > max_change:
        return CurveAssessment(
            True, f"{change:.0%} of detections changed with the last round: the model has not settled",
            gain, change,
        )
    if gain is not None and gain > min_gain:
        return CurveAssessment(True, f"estimated F1 rose by {gain:+.2f} in the last round", gain, change)
    return CurveAssessment(
        False,
        "detections and estimated F1 barely moved in the last round; more tags of the same "
        "kind are unlikely to help (add examples or tag detections instead)",
        gain, change,
    )
