"""Whether another round is likely to help: the detections' movement decides."""
from __future__ import annotations

from workbench.training import assess_learning_curve, detection_change
from workbench.training.curve import RoundRecord


def _records(f1s, changes):
    return [RoundRecord(i + 1, 25 * (i + 1), f, 100, c) for i, (f, c) in enumerate(zip(f1s, changes))]


def test_one_model_always_asks_for_another_round():
    verdict = assess_learning_curve(_records([0.7], [None]))
    assert verdict.likely_helps and "only one model" in verdict.reason


def test_moving_detections_say_the_model_has_not_settled():
    verdict = assess_learning_curve(_records([0.80, 0.80], [None, 0.25]))
    assert verdict.likely_helps and "25% of detections changed" in verdict.reason
    assert verdict.change == 0.25 and verdict.f1_gain == 0.0


def test_settled_detections_outweigh_a_rise_in_the_estimated_f1():
    # The estimate rose by 0.05, within its own noise; the detections barely moved.
    verdict = assess_learning_curve(_records([0.75, 0.80], [None, 0.04]))
    assert not verdict.likely_helps and "only 4%" in verdict.reason
    assert abs(verdict.f1_gain - 0.05) < 1e-12


def test_without_the_previous_detections_the_estimate_decides():
    assert assess_learning_curve(_records([0.70, 0.80], [None, None])).likely_helps
    flat = assess_learning_curve(_records([0.80, 0.805], [None, None]))
    assert not flat.likely_helps and "estimated F1 barely moved" in flat.reason


def test_detection_change_is_one_minus_the_overlap():
    assert detection_change([1, 1, -1, -1], [1, -1, 1, -1]) == 2 / 3
    assert detection_change([-1, -1], [-1, -1]) == 0.0
