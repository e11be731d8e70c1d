"""The session's rounds compute what they computed before the round shared its work (see
golden_rounds.py): the same picks, thresholds, detections, held-out scores and estimates.

Two checks: against the record written by the code before the change (picks and counts
exactly, numbers to 1e-12), and, bit for bit on any machine, against each value recomputed
here the way that code computed it (every scoring pass, refit and honest estimate run again).
"""
import json
from copy import deepcopy

import numpy as np
import pytest

from workbench.training.estimate import HonestEstimate, estimate_performance, held_out_scores
from workbench.training.prevalence import bounded_threshold, unit_scores

from .golden_rounds import CASES, EXPECTED_PATH, run_case, session_of
from .records import assert_same


@pytest.fixture(scope="module")
def expected():
    return json.loads(EXPECTED_PATH.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_the_rounds_match_the_record(name, expected):
    assert_same(json.loads(json.dumps(run_case(name))), expected[name], name)


def test_the_record_covers_the_bound_moving_and_not_and_held_tags(expected):
    rounds = [r for case in expected.values() for r in case if r["threshold"] is not None]
    assert any(r["threshold"] != r["threshold_unbounded"] for r in expected["defaults"])
    assert any(r["threshold"] == r["threshold_unbounded"] for r in expected["defaults"][1:])
    assert any(r["kind"] == "verification" for r in rounds)
    # Held verification rounds: the model, and so its detections, stay while they are tagged.
    held = expected["held_tight_bound"]
    assert [r["kind"] for r in held[3:5]] == ["verification"] * 2
    assert held[2]["threshold"] == held[3]["threshold"] == held[4]["threshold"] != held[2]["threshold_unbounded"]


def recomputed_count(session, model):
    """The bound's count as the session computed it before session 15: the model at its cv cut
    scored over every row again, the tags refitted, the honest estimate run on the fitted tags."""
    at_cv = deepcopy(model)
    at_cv.threshold_ = model.threshold_unbounded_
    fitted = session.fitted_answers
    held = held_out_scores(at_cv, session.embeddings, fitted, example_embeddings=session.example_embeddings,
                           random_state=session.seed)
    labels, shown, tag_round, pi = session._fitted[2]
    figures = HonestEstimate(random_state=session.seed).estimate(
        session.embeddings, labels, at_cv, scores=at_cv.decision_function(session.embeddings), excluded=shown,
        tag_round=tag_round, inclusion_prob=pi, groups=session.turns, example_embeddings=session.example_embeddings,
        held_out=held)
    return figures.positives_median if model.positives_from == "estimate_median" else figures.positives.value


@pytest.mark.parametrize("name", ["defaults", "held_tight_bound"])
def test_each_shared_value_is_bit_for_bit_the_one_computed_again(name):
    case = CASES[name]
    session, truth = session_of(case)
    X = session.embeddings
    moved = kept = 0
    for number, kind in enumerate(case["rounds"], start=1):
        plan = session.plan_round(number) if kind == "L" else session.plan_verification(number, precision=0.05)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob, kind=plan.kind)
        model, est = session.model(), session.estimate()
        # The scores: one scoring pass, shared by the bound, the count and the session.
        assert np.array_equal(session.scores(), model.decision_function(X))
        # The threshold: the cv cut bounded by the count computed again.
        if model.threshold_ != model.threshold_unbounded_:
            moved += 1
            p = recomputed_count(session, model)
            least, most = model.detect_at_least, model.detect_at_most
            assert model.threshold_ == bounded_threshold(unit_scores(model.raw_scores(X), session.turns),
                                                         model.threshold_unbounded_, least * p if least else None,
                                                         most * p if most else None)
        else:
            kept += 1
        # The held-out scores: one set of refits, shifted to the threshold.
        fitted = session.fitted_answers
        again = held_out_scores(model, X, fitted, example_embeddings=session.example_embeddings,
                                random_state=session.seed)
        tagged = np.flatnonzero(fitted >= 0)
        assert np.array_equal(session._fitted_held_out()[tagged], again[tagged])
        # The estimate: every part run again (scores, honest estimate), the held-out scores given.
        _, shown, tag_round, pi = session.recorded_tags
        again = estimate_performance(X, session.answers, model, excluded=shown, tag_round=tag_round,
                                     inclusion_prob=pi, call_ids=session.call_ids, groups=session.turns,
                                     example_embeddings=session.example_embeddings, held_out=session.held_out(),
                                     random_state=session.seed)
        assert json.dumps(est.as_dict()) == json.dumps(again.as_dict())
    assert moved and (kept or name != "defaults")
