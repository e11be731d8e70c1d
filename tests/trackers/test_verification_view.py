"""The tagging screen's verification buttons, on the 150-call demo corpus: the 60-call one
that the other tagging-screen tests use has too few mentions for a model to detect 20 texts
that are not tagged yet (after 4 rounds answered from the truth: 0 or 1)."""
from __future__ import annotations

import warnings

import polars as pl
import pytest

from tests.demo_workspace import EXAMPLES, answer_from_truth, untagged_detected_texts
from workbench.widgets import TaggingView


@pytest.fixture
def new_tracker(demo_ws):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return demo_ws.create_tracker("Discount asks", mentioned_by="customer", examples=EXAMPLES)


def learn_until_detections(view, tracker, enough: int = 20, most: int = 4) -> int:
    """Learning rounds answered from the truth, each trained, until the model detects at least
    ``enough`` texts with no tag; returns the rounds taken. A first round with a single YES
    detects only that sentence, and nothing is left to verify."""
    for number in range(1, most + 1):
        if number > 1:
            view.next_button.click()
        answer_from_truth(view)
        view.finish_button.click()
        left = untagged_detected_texts(tracker)
        if left == 0:  # the button must say so and keep the round
            view.verify_button.click()
            assert view.round.number == number and "no untagged detections" in view.status.value
        if left >= enough:
            return number
    pytest.fail(f"{most} learning rounds left fewer than {enough} untagged detected texts")


def test_verify_button_starts_a_round_of_random_detections(demo_ws, new_tracker):
    view = TaggingView(new_tracker)
    assert view.verify_button.disabled  # nothing to verify before a model
    learned = learn_until_detections(view, new_tracker)
    view.verify_button.click()
    assert view.round.number == learned + 1
    assert view.round.kind == "verification" and "verification" in view.progress.value
    assert {c.strategy for c in view.round} == {"detected_sample"} and len(view.round) == 20
    detected = set(new_tracker.detections().filter(pl.col("detected"))["sentence_id"].to_list())
    assert {c.sentence_id for c in view.round} <= detected
    assert len({c.text for c in view.round}) == 20  # a text is shown once
    answer_from_truth(view)
    view.finish_button.click()
    versions = new_tracker.versions()
    assert versions["round"].to_list()[-1] == learned + 1  # the verification tags train a version too


def test_verify_until_sure_says_the_tags_it_takes_then_serves_rounds_until_reached(demo_ws, new_tracker,
                                                                                   monkeypatch):
    from workbench.training.verification import VerificationGoal
    from workbench.widgets import tagging

    assert [label for label, _ in tagging.ACCURACY_CHOICES] == ["precision ±0.05", "precision ±0.10",
                                                                "hit rate ±0.10", "hit rate ±0.15"]
    # The demo's 20 detections are soon all tagged: ask for more than the view offers, so
    # that it takes rounds.
    narrow = VerificationGoal(precision=0.02)
    monkeypatch.setattr(tagging, "ACCURACY_CHOICES", tagging.ACCURACY_CHOICES + [("precision ±0.02", narrow)])
    view = TaggingView(new_tracker)
    assert view.until_button.disabled  # nothing to verify before a model
    learned = learn_until_detections(view, new_tracker)
    assert not view.until_button.disabled
    view.accuracy.value = narrow
    assert not new_tracker.verification_need(precision=0.02).reached
    view.until_button.click()
    assert "more tags" in view.status.value and view.round.number == learned + 1
    assert view.round.kind == "verification" and "random detections" in view.progress.value
    for _ in range(20):
        answer_from_truth(view)
        view.finish_button.click()
        if "is reached" in view.status.value or "left to verify" in view.status.value:
            break
        assert "Verify until sure goes on" in view.status.value
        view.until_button.click()
    assert new_tracker.verification_need(precision=0.02).reached
    shown = view.round.number
    view.until_button.click()  # reached: the round shown stays, the status says so
    assert view.round.number == shown and "Precision to ±0.02" in view.status.value
