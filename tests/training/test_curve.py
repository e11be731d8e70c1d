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


def test_rounds_after_the_fourth_that_stop_helping_bring_the_seeds_advice():
    """Rounds 5-10 without improvement: start a new tracker with different sentences (the seed's
    advice); a flat curve at round 4 only says another round is unlikely to help."""
    import polars as pl

    from workbench.trackers.learning_curve import VERSION_SCHEMA, learning_curve

    def versions(n_rounds: int) -> pl.DataFrame:
        return pl.DataFrame([{"version": r, "round": r, "run_id": str(r), "created_at": "", "n_yes": 5 * r,
                              "n_no": 20 * r, "precision": 0.8, "hit_rate": 0.5, "detected_sentences": 100,
                              "detection_change": None if r == 1 else 0.01} for r in range(1, n_rounds + 1)],
                            schema=VERSION_SCHEMA)

    six = learning_curve(versions(6))
    assert not six.another_round_helps and "Rounds 5-6 have stopped improving it" in six.advice
    assert "new tracker with different example sentences" in six.advice
    four = learning_curve(versions(4))
    assert not four.another_round_helps and "new tracker" not in four.advice


def test_the_number_of_calls_in_scope_brings_the_seeds_advice():
    from workbench.trackers.scope_check import scope_advice

    assert "keyword tracker" in scope_advice(499, "X") and "pre-trained" in scope_advice(499, "X")
    assert "1,500 calls or more" in scope_advice(500, "X") and "comes up often" in scope_advice(1_499, "X")
    assert scope_advice(1_500, "X") is None
