from copy import deepcopy

import numpy as np
import pytest

from workbench.training import TrackerModel
from workbench.training.estimate import HonestEstimate
from workbench.training.estimate.held_out import refit_template
from workbench.training.prevalence import bounded_threshold, estimated_positives, unit_scores
from workbench.training.session import ActiveLearningSession

from .conftest import answer_rounds, unit


def stratified_draw(rng, scores, sizes, per_stratum):
    """One round of a stratified draw by score rank, as the planner's: strata of ``sizes``
    from the top, ``per_stratum`` rows drawn from each; returns (rows, their inclusion prob)."""
    ranked = np.argsort(-scores, kind="stable")
    edges = np.r_[0, np.cumsum(sizes)]
    rows, pi = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows.append(rng.choice(ranked[lo:hi], size=per_stratum, replace=False))
        pi.append(np.full(per_stratum, per_stratum / (hi - lo)))
    return np.concatenate(rows), np.concatenate(pi)


def rare_concept(seed=0, n=20_000, prevalence=0.02):
    """A score that ranks a rare concept's rows high, noisily (speech-like)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < prevalence
    scores = truth * 1.5 + rng.normal(size=n)
    return truth, scores


def test_one_round_of_random_tags_estimates_the_positives_without_bias():
    truth, scores = rare_concept()
    rng = np.random.default_rng(1)
    estimates = []
    for _ in range(400):
        rows, pi = stratified_draw(rng, scores, [250, 750, 3000, 16_000], 4)
        labels = np.full(len(truth), -1)
        labels[rows] = truth[rows]
        tag_round = np.where(labels >= 0, 1, -1)
        prob = np.full(len(truth), np.nan)
        prob[rows] = pi
        estimates.append(estimated_positives(labels, tag_round, prob))
    assert np.mean(estimates) == pytest.approx(truth.sum(), rel=0.08)


def test_later_rounds_add_the_positives_already_found_once_per_turn():
    # Round 1 found YES in turn 7 (two of its sentences, one not drawn at random); round 2
    # draws two rows at random, one YES with probability 0.1: round 2 says 1 + 10 = 11, round 1
    # says 1 / 0.5 = 2 (its random YES), the median of the two is 6.5.
    labels = np.array([1, 1, 0, 1, 0, -1])
    tag_round = np.array([1, 1, 1, 2, 2, -1])
    pi = np.array([0.5, np.nan, 0.25, 0.1, 0.1, np.nan])
    groups = np.array([7, 7, 8, 9, 10, 11])
    assert estimated_positives(labels, tag_round, pi, groups) == pytest.approx(6.5)
    # By rows the two YES sentences of turn 7 count twice as known in round 2.
    assert estimated_positives(labels, tag_round, pi) == pytest.approx((2 + 12) / 2)
    # No tag drawn at random: nothing to estimate from.
    assert estimated_positives(labels, tag_round, np.full(6, np.nan)) is None


def test_bounded_threshold_keeps_the_detections_within_the_bounds():
    scores = np.arange(1000, dtype=float)  # unit i scores i
    for threshold, least, most, detected in [
        (100.0, 17, 150, 150),     # 899 detected: down to the most
        (998.5, 16.7, 150, 17),    # 1 detected: up to the least, rounded up
        (900.5, 17, 150, 99),      # 99 within [17, 150]: unchanged
        (900.5, None, 50, 50),     # no floor
        (998.5, None, 50, 1),      # nor raised without one
        (100.0, 17, None, 899),    # no ceiling
        (998.5, 0.2, None, 1),     # at least one unit
    ]:
        t = bounded_threshold(scores, threshold, least, most)
        assert int((scores > t).sum()) == detected
    assert bounded_threshold(scores, 900.5) == 900.5  # no bounds: as it is
    assert bounded_threshold(scores, -5.0, 5000, 15000) == -5.0  # everything already, not more
    assert bounded_threshold(scores, 2000.0, 5000) < scores.min()  # at most everything


def test_unit_scores_are_each_turns_best_sentence():
    assert unit_scores([0.1, 0.9, -1.0, 0.3], [4, 4, 2, 9]).tolist() == [-1.0, 0.9, 0.3]
    assert unit_scores([0.1, 0.9]).tolist() == [0.1, 0.9]


def few_yes_scope(seed=0, n=5000, d=32):
    """A scope with a rare concept along one direction and 100 tags holding ~15 YES."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.03
    X = unit(rng.normal(size=(n, d)) + 2.0 * truth[:, None] * np.eye(d)[0])
    yes = rng.choice(np.flatnonzero(truth), 15, replace=False)
    no = rng.choice(np.flatnonzero(~truth), 85, replace=False)
    tags = np.r_[yes, no]
    return X, truth, tags


# No bound: the cv threshold as it is (the default bounds it, from session 14 on).
OFF = {"detect_at_least": 0.0, "detect_at_most": 0.0}


def test_with_few_yes_the_detected_share_stays_within_the_bound():
    X, truth, tags = few_yes_scope()
    y = truth[tags].astype(int)
    bounds = {"detect_at_least": 1 / 3, "detect_at_most": 3.0}
    plain = TrackerModel(**bounds).fit(X[tags], y)  # no scope given: the cv cut
    moved = 0
    for positives in (20.0, 150.0, 1500.0):
        m = TrackerModel(**bounds).fit(X[tags], y, scope=X, positives=positives)
        assert m.threshold_unbounded_ == plain.threshold_
        detected = int(m.predict(X).sum())
        assert positives / 3 <= detected <= positives * 3
        moved += m.threshold_ != plain.threshold_
    assert moved >= 2  # the cv cut is within at most one of the three
    # One side only: a floor never lowers the detections, a ceiling never raises them.
    cv_detected = int(plain.predict(X).sum())
    floor = TrackerModel(detect_at_least=1.0, detect_at_most=0.0).fit(X[tags], y, scope=X, positives=20.0)
    assert int(floor.predict(X).sum()) == max(cv_detected, 20)
    # Off when both factors are 0, and not applied from bound_below_yes YES tags on.
    off = TrackerModel(**OFF).fit(X[tags], y, scope=X, positives=20.0)
    assert off.threshold_ == off.threshold_unbounded_
    many = TrackerModel(**bounds, bound_below_yes=15).fit(X[tags], y, scope=X, positives=20.0)
    assert many.threshold_ == many.threshold_unbounded_
    # Per turn: two sentences a turn, the turn detected when either is.
    turns = np.arange(len(X)) // 2
    m = TrackerModel(detect_at_least=0.5, detect_at_most=2.0).fit(X[tags], y, scope=X, scope_groups=turns,
                                                                  positives=400.0)
    detected_turns = np.unique(turns[m.predict(X) == 1]).size
    assert 200 <= detected_turns <= 800


def test_refits_keep_the_bounded_threshold():
    X, truth, tags = few_yes_scope(1)
    m = TrackerModel(detect_at_least=1 / 3).fit(X[tags], truth[tags].astype(int), scope=X, positives=1500.0)
    assert m.threshold_ != m.threshold_unbounded_
    template = refit_template(m)
    assert template.get_params()["threshold"] == m.threshold_
    with pytest.raises(ValueError, match="detect_at_least"):
        TrackerModel(detect_at_least=2, detect_at_most=1).fit(X[tags], truth[tags].astype(int), scope=X,
                                                             positives=10.0)


def test_sklearn_estimator_checks_with_the_bound_on():
    from sklearn.utils.estimator_checks import check_estimator

    # Without a scope the bound has nothing to count and the contract is the cv threshold's.
    check_estimator(
        TrackerModel(detect_at_least=1.0, detect_at_most=3.0, cv=3),
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": "CV folds see repeated rows",
            "check_sample_weight_equivalence_on_sparse_data": "CV folds see repeated rows",
            "check_class_weight_classifiers": "threshold chosen by F1, not by the weights",
        },
    )


def test_the_session_bounds_its_model_by_the_random_tags(clustered):
    X, truth, examples, _ = clustered
    turns = np.arange(len(X)) // 2
    params = {"detect_at_least": 1 / 1.5, "detect_at_most": 1.5, "bound_below_yes": 1000,
              "positives_from": "random_tags"}
    session = answer_rounds(ActiveLearningSession(X, examples, turns=turns, model_params=params, seed=0), truth)
    labels, _, tag_round, pi = session.recorded_tags
    positives = estimated_positives(labels, tag_round, pi, turns)
    assert positives is not None and positives > 0
    detected_turns = np.unique(turns[session.scores() > 0]).size
    assert positives / 1.5 <= detected_turns <= positives * 1.5
    # The same tags without the bound: the cv threshold the bound started from.
    plain = answer_rounds(ActiveLearningSession(X, examples, turns=turns, model_params=OFF, seed=0), truth).model()
    assert plain.threshold_ == plain.threshold_unbounded_


def test_a_count_taken_after_the_cv_cut_bounds_the_threshold():
    X, truth, tags = few_yes_scope(2)
    y = truth[tags].astype(int)
    seen = []

    def count(model, scope_raw):
        # Called once the cv threshold is chosen, before any bound moves it, with the scope's
        # raw scores (the scores it is counted at, before the threshold's shift).
        seen.append((model.threshold_, model.threshold_unbounded_))
        assert np.array_equal(scope_raw - model.threshold_, model.decision_function(X))
        return 150.0

    m = TrackerModel(detect_at_least=1.0, detect_at_most=1.0, positives_from="estimate").fit(
        X[tags], y, scope=X, positives=count)
    assert seen == [(m.threshold_unbounded_, m.threshold_unbounded_)]
    assert int(m.predict(X).sum()) == 150
    # Not counted where no bound applies; a count of None keeps the cv cut.
    TrackerModel(**OFF, positives_from="estimate").fit(X[tags], y, scope=X, positives=count)
    TrackerModel(detect_at_least=1.0, bound_below_yes=10).fit(X[tags], y, scope=X, positives=count)
    assert len(seen) == 1
    kept = TrackerModel(detect_at_least=1.0).fit(X[tags], y, scope=X, positives=lambda model, scope_raw: None)
    assert kept.threshold_ == kept.threshold_unbounded_
    with pytest.raises(ValueError, match="positives_from"):
        TrackerModel(detect_at_least=1.0, positives_from="tags").fit(X[tags], y, scope=X, positives=20.0)


def rare_turns_scope(seed=0, n=6000, d=32):
    """Turns of two sentences, a rare concept (~3% of turns, said in one of the two
    sentences) along one direction, noisily: the tags find few YES."""
    rng = np.random.default_rng(seed)
    turns = np.arange(n) // 2
    turn_truth = rng.random(n // 2) < 0.03
    says = turn_truth[turns] & (np.arange(n) % 2 == rng.integers(0, 2, n // 2)[turns])
    X = unit(rng.normal(size=(n, d)) + 2.5 * says[:, None] * np.eye(d)[0])
    examples = unit(rng.normal(size=(5, d)) * 0.3 + 3.0 * np.eye(d)[0])
    return X, turn_truth[turns].astype(np.int8), examples, turns


@pytest.mark.parametrize("positives_from, least, most", [("estimate", 1.0, 1.0), ("estimate_median", 1.0, 1.0),
                                                         ("default", 0.5, 2.0)])
def test_the_session_bounds_its_model_by_the_honest_estimate(positives_from, least, most):
    """"default": the bound adopted in session 14 (below 30 YES texts, 0.5x-2x the median count;
    held-out speech seeds 24-29: 0.27x -> 0.43x the frozen ceiling, typed dialogues unchanged)."""
    X, truth, examples, turns = rare_turns_scope()
    if positives_from == "default":
        params, positives_from = None, "estimate_median"
        defaults = TrackerModel().get_params()
        assert (defaults["detect_at_least"], defaults["detect_at_most"], defaults["positives_from"],
                defaults["bound_below_yes"]) == (0.5, 2.0, "estimate_median", 30)
    else:
        params = {"detect_at_least": least, "detect_at_most": most, "positives_from": positives_from,
                  "bound_below_yes": 1000}
    session = answer_rounds(ActiveLearningSession(X, examples, turns=turns, model_params=params, seed=0), truth, 4)
    model = session.model()
    # The count, independently: the honest estimate of the same fit at its cv threshold, on
    # the same tags (no verification round is held, so the fitted tags are all the tags).
    at_cv = deepcopy(model)
    at_cv.threshold_ = model.threshold_unbounded_
    labels, shown, tag_round, pi = session.recorded_tags
    figures = HonestEstimate(random_state=0).estimate(
        X, labels, at_cv, scores=at_cv.decision_function(X), excluded=shown, tag_round=tag_round, inclusion_prob=pi,
        groups=turns, example_embeddings=examples)
    assert figures.positives.low <= figures.positives_median <= figures.positives.high
    positives = figures.positives.value if positives_from == "estimate" else figures.positives_median
    detected_turns = np.unique(turns[session.scores() > 0]).size
    cv_turns = np.unique(turns[at_cv.decision_function(X) > 0]).size
    assert np.floor(least * positives) <= detected_turns <= np.ceil(most * positives)
    if not least * positives <= cv_turns <= most * positives:
        assert model.threshold_ != model.threshold_unbounded_
    # Of the right order: the true positive turns are 90 in expectation.
    true_turns = np.unique(turns[truth == 1]).size
    assert true_turns / 3 <= positives <= true_turns * 3


def test_the_rounds_plan_around_the_cv_cut_and_verification_samples_the_bounded_detections():
    X, truth, examples, turns = rare_turns_scope(1)
    bounded_params = {"detect_at_least": 0.0, "detect_at_most": 0.5, "positives_from": "estimate_median",
                      "bound_below_yes": 1000}
    bounded = answer_rounds(ActiveLearningSession(X, examples, turns=turns, model_params=bounded_params, seed=0),
                            truth, 3)
    model = bounded.model()
    assert model.threshold_ > model.threshold_unbounded_  # the ceiling raised the cut
    # The same tags without the bound: the next learning round is the same round.
    plain = ActiveLearningSession(X, examples, turns=turns, model_params=OFF, seed=0)
    labels, _, tag_round, pi = bounded.recorded_tags
    for number in (1, 2, 3):
        rows = np.flatnonzero(tag_round == number)
        plain.tag(rows, labels[rows], number, pi[rows])
    assert plain.model().threshold_ == model.threshold_unbounded_
    assert np.array_equal(bounded.plan_round(4).indices, plain.plan_round(4).indices)
    # A verification round samples what the bounded tracker detects, not the cv cut's detections.
    picks = bounded.plan_verification(4).indices
    assert len(picks) and (bounded.scores()[picks] > 0).all()
    assert (bounded.scores() > 0).sum() < (plain.scores() > 0).sum()

