"""The plain-words findings about a tracker (workbench.training.diagnosis) and the advice the
tracker layer draws from them (workbench.trackers.advice)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from workbench.trackers.advice import (
    DEEP_TRAINING,
    DIFFERENT_EXAMPLES,
    KEYWORD_TRACKER,
    MORE_ROUNDS,
    TrackerDiagnosis,
    next_steps,
)
from workbench.training.diagnosis import (
    FEW_DETECTIONS,
    FEW_YES_TAGS,
    FINDS_LITTLE,
    WEAK_SEPARATION,
    Finding,
    diagnose,
    held_out_auc,
)
from workbench.training.session import ActiveLearningSession

from .conftest import answer_rounds


def _trained(X, truth, examples, rounds=4):
    return answer_rounds(ActiveLearningSession(X, examples, seed=0), truth, rounds)


def test_a_tracker_that_finds_its_concept_gets_no_finding(clustered):
    X, truth, examples, _ = clustered
    session = _trained(X, truth, examples)
    est = session.estimate()
    assert est.hit_rate.low >= 0.2 and session.n_yes >= 10  # the premise: a clean, easy concept
    assert diagnose(est, session.held_out(), session.labels) == ()


def test_a_low_hit_rate_is_said_in_plain_words(clustered):
    X, truth, examples, _ = clustered
    session = _trained(X, truth, examples)
    est = session.estimate()
    low = dataclasses.replace(est, honest_hit_rate=dataclasses.replace(est.hit_rate, value=0.06, low=0.01, high=0.3))
    found = diagnose(low, session.held_out(), session.labels)
    assert [f.code for f in found] == [FINDS_LITTLE]
    assert "finds few of the mentions: an estimated 6% of them (90% interval 1% to 30%)" in found[0].message
    maybe = dataclasses.replace(est, honest_hit_rate=dataclasses.replace(est.hit_rate, value=0.6, low=0.15, high=0.9))
    assert "could be as low as 15%" in diagnose(maybe, None, session.labels)[0].message


def test_detections_no_more_than_the_yes_tags_and_few_yes_are_flagged(clustered):
    X, truth, examples, _ = clustered
    session = _trained(X, truth, examples)
    est = session.estimate()
    narrow = dataclasses.replace(est, detected_sentences=7, detected_units=None, n_yes=7)
    codes = [f.code for f in diagnose(narrow, None, session.labels)]
    assert codes == [FEW_DETECTIONS, FEW_YES_TAGS]


def test_held_out_auc_measures_how_well_unseen_tags_are_ranked():
    labels = np.array([1, 1, 1, 0, 0, 0, -1])
    assert held_out_auc(np.array([3, 2, 1, 0, -1, -2, np.nan]), labels) == 1.0
    assert held_out_auc(np.array([0, -1, -2, 3, 2, 1, np.nan]), labels) == 0.0
    assert held_out_auc(None, labels) is None
    assert held_out_auc(np.array([1.0, 0.0, np.nan]), np.array([1, 0, -1])) is None  # 1 of each is too few


def test_a_concept_the_model_cannot_separate_is_flagged(clustered):
    X, _, examples, _ = clustered
    rng = np.random.default_rng(1)
    noise = (rng.random(len(X)) < 0.3).astype(np.int8)  # answers unrelated to the sentences
    session = _trained(X, noise, examples)
    codes = {f.code for f in diagnose(session.estimate(), session.held_out(), session.labels)}
    assert WEAK_SEPARATION in codes


@pytest.mark.parametrize("codes, rounds, helps, keywords, expected", [
    ((), 4, True, True, []),
    ((FINDS_LITTLE,), 4, True, False, [MORE_ROUNDS, DEEP_TRAINING]),
    ((FINDS_LITTLE,), 10, False, False, [DEEP_TRAINING]),
    ((FINDS_LITTLE,), 6, False, True, [DEEP_TRAINING, KEYWORD_TRACKER]),
    ((FEW_DETECTIONS, FEW_YES_TAGS), 5, False, False, [MORE_ROUNDS, DIFFERENT_EXAMPLES, KEYWORD_TRACKER]),
    ((WEAK_SEPARATION,), 2, False, False, [MORE_ROUNDS, DIFFERENT_EXAMPLES, DEEP_TRAINING]),
])
def test_next_steps_follow_the_findings(codes, rounds, helps, keywords, expected):
    findings = tuple(Finding(c, c) for c in codes)
    steps = next_steps(findings, rounds_done=rounds, another_round_helps=helps, keywords_do_as_well=keywords)
    assert [s.code for s in steps] == expected


def test_a_deep_trained_tracker_is_not_told_to_deep_train():
    steps = next_steps((Finding(FINDS_LITTLE, "x"),), rounds_done=10, another_round_helps=False, deep_trained=True)
    assert steps == ()


def test_diagnosis_text_lists_findings_then_steps():
    d = TrackerDiagnosis((Finding(FINDS_LITTLE, "It finds little."),),
                         next_steps((Finding(FINDS_LITTLE, "x"),), rounds_done=4, another_round_helps=True))
    text = d.text().splitlines()
    assert text[:2] == ["What the figures say:", "  - It finds little."] and text[2] == "What to do next:"
    assert TrackerDiagnosis().text() == "" and not TrackerDiagnosis().concerns
