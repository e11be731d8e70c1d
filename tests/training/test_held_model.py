"""The model held while the user verifies: verification rounds leave the model, its scores and
detections alone (their tags are a random sample of fixed detections with known chances), the
estimate reads them, and they join the fit at the next learning round."""
import numpy as np
import pytest

from workbench.training.session import ActiveLearningSession

from .conftest import answer_rounds


def _session(clustered, **kw):
    X, truth, examples, _ = clustered
    turns = np.arange(len(X)) // 2
    kw.setdefault("keep_model_while_verifying", True)
    return answer_rounds(ActiveLearningSession(X, examples, turns=turns, seed=0, **kw), truth, rounds=3)


def _verify(session, truth, number, n=10):
    plan = session.plan_verification(number, n)
    assert plan.kind == "verification" and len(plan) > 0
    session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob, kind=plan.kind)
    return plan


def test_the_model_does_not_move_during_verification_rounds(clustered):
    _, truth, _, _ = clustered
    session = _session(clustered)
    model, scores, estimate = session.model(), session.scores().copy(), session.estimate()
    held_out = session.held_out().copy()
    first = _verify(session, truth, 4)
    second = _verify(session, truth, 5)
    assert session.held_rounds == {4, 5}
    assert session.model() is model and np.array_equal(session.scores(), scores)
    # The estimate reads them: more random tags (speaker turns), each a detection of the held model.
    assert session.estimate().n_probe_tags > estimate.n_probe_tags
    rows = np.r_[first.indices, second.indices]
    assert (scores[rows] > 0).all()
    # A held tag's held-out score is the model's own (it never saw the tag); the others' stay.
    assert np.array_equal(session.held_out()[rows], scores[rows])
    before = ~np.isnan(held_out)
    assert np.array_equal(session.held_out()[before], held_out[before])
    assert (session.fitted_answers[rows] == -1).all() and (session.answers[rows] >= 0).all()


def test_verification_tags_join_the_fit_at_the_next_learning_round(clustered):
    _, truth, _, _ = clustered
    session = _session(clustered)
    rows = _verify(session, truth, 4).indices
    held_scores = session.scores().copy()
    plan = session.plan_round(5)  # planned with the held model
    session.tag(plan.indices, truth[plan.indices], 5, plan.inclusion_prob)
    assert session.held_rounds == frozenset() and session.verification_rounds == {4}
    assert np.array_equal(session.fitted_answers, session.answers)
    assert (session.fitted_answers[rows] >= 0).all()
    assert not np.array_equal(session.scores(), held_scores)
    # The same model as one fitted on every tag at once.
    everything = ActiveLearningSession(session.embeddings, session.example_embeddings, turns=session.turns,
                                       seed=0, keep_model_while_verifying=False)
    everything.set_tags(*session.recorded_tags)
    assert np.array_equal(everything.scores(), session.scores())


def test_a_changed_answer_in_a_verification_round_is_seen_by_the_estimate(clustered):
    _, truth, _, _ = clustered
    session = _session(clustered)
    plan = _verify(session, truth, 4)
    model, estimate = session.model(), session.estimate()
    # A drawn sentence whose turn-mate is untagged: its answer is its turn's.
    at = next(i for i, r in enumerate(plan.indices) if not session.shown[r ^ 1])
    row, pi = plan.indices[at:at + 1], plan.inclusion_prob[at:at + 1]
    session.tag(row, 1 - truth[row], 4, pi, kind="verification")
    assert session.model() is model  # still held
    changed = session.estimate()
    assert changed is not estimate and changed.n_yes == estimate.n_yes + (1 if truth[row[0]] == 0 else -1)
    assert changed.honest_precision.value != estimate.honest_precision.value
    session.tag(row, truth[row], 4, pi, kind="verification")  # and back
    assert session.estimate().as_dict() == estimate.as_dict()


def test_stored_tags_with_their_verification_rounds_give_the_same_session(clustered):
    _, truth, _, _ = clustered
    session = _session(clustered)
    _verify(session, truth, 4)
    again = ActiveLearningSession(session.embeddings, session.example_embeddings, turns=session.turns, seed=0,
                                  keep_model_while_verifying=True)
    again.set_tags(*session.recorded_tags, verification_rounds=session.verification_rounds)
    assert again.held_rounds == {4}
    assert np.array_equal(again.scores(), session.scores())
    assert again.estimate().as_dict() == session.estimate().as_dict()
    # The same tags without their kinds: the verification tags train the model.
    again.set_tags(*session.recorded_tags)
    assert again.held_rounds == frozenset() and not np.array_equal(again.scores(), session.scores())


def test_by_default_a_verification_round_trains_the_model(clustered):
    X, truth, examples, _ = clustered
    session = answer_rounds(ActiveLearningSession(X, examples, turns=np.arange(len(X)) // 2, seed=0), truth, rounds=3)
    scores = session.scores().copy()
    _verify(session, truth, 4)
    assert session.held_rounds == frozenset() and not np.array_equal(session.scores(), scores)


def test_a_round_kind_must_be_known(clustered):
    session = _session(clustered)
    with pytest.raises(ValueError, match="kind"):
        session.tag([0], [1], 4, kind="probe")


def test_verifying_until_sure_with_the_model_held_stops_at_the_asked_accuracy():
    from .test_verification import _true_figures, _world

    X, truth, E, turns, turn_truth = _world(1)  # test_verification's world with known truth
    session = ActiveLearningSession(X, E, turns=turns, seed=1, keep_model_while_verifying=True)
    for number in range(1, 5):
        plan = session.plan_round(number)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    scores, number = session.scores().copy(), 5
    while (plan := session.plan_verification(number, precision=0.05)) and len(plan):
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob, kind=plan.kind)
        number += 1
        assert number < 25, "verification never reached the asked accuracy"
    assert session.held_rounds == set(range(5, number)) and np.array_equal(session.scores(), scores)
    estimate = session.estimate().honest_precision
    true = _true_figures(session, turns, turn_truth)["precision"]
    assert (estimate.high - estimate.low) / 2 <= 0.05
    assert estimate.contains(true) and abs(estimate.value - true) <= 0.05
