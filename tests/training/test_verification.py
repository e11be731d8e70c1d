"""Verify until sure: the asked accuracy, the likely-miss sampler's known chances, the stopping rule."""
import numpy as np
import pytest

from workbench.training.estimate.honest import probe_weights
from workbench.training.estimate.units import Units
from workbench.training.session import ActiveLearningSession
from workbench.training.strategies import LikelyMissStrategy
from workbench.training.verification import VerificationGoal, tags_needed

from .conftest import make_pool, unit


def _world(seed, n=3000, d=12):
    """A corpus whose truth is known: a noisy linear concept, asked per speaker turn of two
    sentences (a turn is a mention when either sentence is, as a user answers)."""
    rng = np.random.default_rng(seed)
    X = unit(rng.normal(size=(n, d)))
    sentence = rng.random(n) < 1 / (1 + np.exp(-(9 * X[:, 0] - 4.8)))
    turns = np.arange(n) // 2
    turn_truth = np.zeros(n // 2, bool)
    np.logical_or.at(turn_truth, turns, sentence)
    return X, turn_truth[turns].astype(np.int8), X[np.flatnonzero(sentence)[:5]], turns, turn_truth


def _after_four_rounds(seed):
    X, truth, E, turns, turn_truth = _world(seed)
    session = ActiveLearningSession(X, E, turns=turns, seed=seed)
    for number in range(1, 5):
        plan = session.plan_round(number)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    return session, truth, turns, turn_truth


def _true_figures(session, turns, turn_truth):
    detected = np.zeros(turn_truth.size, bool)
    np.logical_or.at(detected, turns, session.scores() > 0)
    tp = (detected & turn_truth).sum()
    return {"precision": tp / detected.sum(), "hit_rate": tp / turn_truth.sum()}


def test_the_asked_accuracy_is_parsed_and_checked():
    assert VerificationGoal.parse("precision=0.05").asked == {"precision": 0.05}
    assert VerificationGoal.parse("hit rate = 10%").asked == {"hit_rate": 0.10}
    assert VerificationGoal.parse("hit_rate=0.1, precision=±0.05").asked == {"precision": 0.05, "hit_rate": 0.1}
    for bad in ("recall=0.05", "precision", "precision=0.0.5", "precision=0", "hit_rate=0.7", ""):
        with pytest.raises(ValueError):
            VerificationGoal.parse(bad)
    with pytest.raises(ValueError, match="ask for an accuracy"):
        VerificationGoal()


def test_the_projection_grows_as_the_asked_accuracy_narrows():
    asked = [0.15, 0.10, 0.07, 0.05, 0.03]
    more = [tags_needed(0.12, a, 20, 10_000) for a in asked]
    assert more == sorted(more) and more[0] == 0 and more[-1] > more[-2] > 0
    assert tags_needed(0.12, 0.05, 20, 10_000) == int(np.ceil(20 * (0.12 / 0.05) ** 2 - 20))
    assert tags_needed(0.12, 0.05, 20, 30) == 30  # never more than what is left to tag
    session, *_ = _after_four_rounds(1)
    needs = [session.verification_need(precision=a).more for a in asked]
    assert needs == sorted(needs) and needs[-1] > 0
    assert [session.verification_need(hit_rate=a).more for a in asked] == sorted(
        session.verification_need(hit_rate=a).more for a in asked)


def test_likely_miss_inclusion_probabilities_match_their_frequencies():
    rng = np.random.default_rng(0)
    X = unit(rng.normal(size=(120, 4)))
    scores = rng.normal(size=120) - 1.0  # about 20 detections, 100 non-detections
    excluded = np.zeros(120, bool)
    excluded[:6] = True  # shown already: never drawn
    pool = make_pool(X, X[:2], scores=scores, excluded=excluded)
    strategy = LikelyMissStrategy()
    pi = strategy.inclusion_probabilities(pool, 10)
    missed = pool.available & (scores <= 0)
    assert (pi[missed] > 0).all() and (pi[~missed] == 0).all() and pi.sum() == pytest.approx(10)
    order = np.argsort(-scores[missed])
    assert pi[missed][order][0] > 2 * pi[missed][order][-1]  # most of the draw just below the threshold
    draws = 20_000
    counts = np.zeros(120)
    for rep in range(draws):
        picks = strategy.select(pool, 10, np.random.default_rng(rep))
        assert picks.size == 10 and np.unique(picks).size == 10
        counts[picks] += 1
    freq = counts / draws
    se = np.sqrt(pi * (1 - pi) / draws)
    assert np.abs(freq - pi).max() <= 4.5 * se.max() and (np.abs(freq - pi) <= 4 * se + 1e-12).mean() > 0.99


def test_likely_miss_tags_weigh_to_the_missed_positives():
    # The honest estimate reads a round's probe tags with weights 1/pi: over repeated
    # likely-miss rounds their weighted YES must average to the positives among the
    # non-detections it could draw.
    X, truth, E, _, _ = _world(3, n=1500)
    scores = X @ E.mean(axis=0) - 0.75
    labels = np.full(len(X), -1, np.int8)
    true_total = int(truth[scores <= 0].sum())
    strategy = LikelyMissStrategy()
    pool = make_pool(X, E, labels=labels, scores=scores, round_number=1)
    pi_all = strategy.inclusion_probabilities(pool, 20)
    totals = []
    for rep in range(600):
        picks = strategy.select(pool, 20, np.random.default_rng(rep))
        lab, tag_round, pi = labels.copy(), np.full(len(X), -1), np.full(len(X), np.nan)
        lab[picks], tag_round[picks], pi[picks] = truth[picks], 1, pi_all[picks]
        shown = np.flatnonzero(lab >= 0)
        units = Units(lab, lab >= 0, scores > 0, scores, shown, lab[shown].astype(int), scores[shown], tag_round, pi)
        w, n_probe, _ = probe_weights(units, shown, np.ones(shown.size, bool))
        assert n_probe == 20
        totals.append(w @ lab[shown])
    assert np.mean(totals) == pytest.approx(true_total, rel=0.1)


def test_a_verification_round_serves_the_figure_asked():
    session, truth, *_ = _after_four_rounds(1)
    scores = session.scores()
    plan = session.plan_verification(5, hit_rate=0.01)
    assert len(plan) == 20 and set(plan.strategies) == {"likely_miss"}
    assert (scores[plan.indices] <= 0).all() and (plan.inclusion_prob > 0).all()
    before = session.estimate().n_probe_tags
    session.tag(plan.indices, truth[plan.indices], 5, plan.inclusion_prob)
    assert session.estimate().n_probe_tags > before  # the honest estimate takes them as random tags
    plan = session.plan_verification(6, precision=0.01)
    assert set(plan.strategies) == {"detected_sample"} and (session.scores()[plan.indices] > 0).all()
    assert len(session.plan_verification(6, precision=0.45)) == 0  # already that narrow


@pytest.mark.parametrize("figure, asked", [("precision", 0.05), ("hit_rate", 0.10)])
def test_verifying_until_sure_stops_at_the_asked_accuracy(figure, asked):
    session, truth, turns, turn_truth = _after_four_rounds(1)
    need = session.verification_need(**{figure: asked})
    assert not need.reached and need.more > 0 and "more tags" in need.describe()
    number = 5
    while (plan := session.plan_verification(number, **{figure: asked})) and len(plan):
        assert len(plan) <= 20
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
        number += 1
        assert number < 25, "verification never reached the asked accuracy"
    assert session.verification_need(**{figure: asked}).reached
    estimate = getattr(session.estimate(), f"honest_{figure}")
    true = _true_figures(session, turns, turn_truth)[figure]
    assert (estimate.high - estimate.low) / 2 <= asked
    assert estimate.contains(true) and abs(estimate.value - true) <= asked
