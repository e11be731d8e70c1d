"""A duplicate text is one item: its key, its copies' answers, one offer per round, and the
random samplers' frame of every copy with its stated chance."""
import numpy as np
import pytest

from tests.training.conftest import unit
from workbench.training import Pool
from workbench.training.duplicates import answer_copies, representatives, text_codes, text_key
from workbench.training.session import ActiveLearningSession
from workbench.training.sampling import sampling_frame
from workbench.training.strategies import DetectedSampleStrategy, StratifiedStrategy


def assert_draws_match(strategy, pool, n, stated, codes, runs):
    """``runs`` seeded draws of ``n`` show each text at most once and every row about as often as
    its stated chance (within four standard errors)."""
    drawn = np.zeros(len(codes))
    for seed in range(runs):
        picks = strategy.select(pool, n, np.random.default_rng(seed))
        assert np.unique(codes[picks]).size == picks.size
        drawn[picks] += 1
    tol = 4 * np.sqrt(stated * (1 - stated) / runs) + 1e-9
    assert np.all(np.abs(drawn / runs - stated) <= tol)


@pytest.mark.parametrize("variant", ["okay", "Okay.", "  OKAY !", "okay...", "\u00abOkay\u00bb", "\uff4f\uff4b\uff41\uff59"])
def test_text_key_folds_case_spaces_punctuation_and_width(variant):
    assert text_key(variant) == "okay"


def test_text_key_keeps_words_digits_and_symbols_apart():
    assert text_key("Thank  you,\tsir!") == text_key("thank you sir") == "thank you sir"
    assert text_key("yes, no") == text_key("yes no") != text_key("yesno")
    assert text_key("$5") != text_key("5")
    assert text_key("okay") != text_key("ok")


def test_text_codes_are_equal_exactly_when_the_keys_are():
    texts = ["Okay.", "okay", "Thank you!", "thank you", "no", "No?", "nope"]
    codes = text_codes(texts)
    assert codes.dtype == np.int64 and codes.min() == 0 and codes.max() == 3
    for i, a in enumerate(texts):
        for j, b in enumerate(texts):
            assert (codes[i] == codes[j]) == (text_key(a) == text_key(b))
    assert representatives(codes, np.array([False, True, True, True, True, True, True])).tolist() == \
        [False, True, True, False, True, False, True]


def test_a_tag_answers_every_copy_and_not_sure_is_never_a_label():
    codes = np.array([0, 0, 0, 1, 1, 2, 2])
    labels = np.array([1, -1, -1, -1, -1, 0, 1], np.int8)
    shown = np.array([1, 0, 0, 1, 0, 1, 1], bool)
    tag_round = np.array([2, -1, -1, 3, -1, 1, 2])
    pi = np.array([0.1, np.nan, np.nan, 0.2, np.nan, np.nan, np.nan])
    lab, sh, tr, p, source = answer_copies(codes, labels, shown, tag_round, pi)
    assert lab.tolist() == [1, 1, 1, -1, -1, 0, 1]  # rows shown themselves keep their answers
    assert sh.all()  # a NOT SURE text is shown (never offered again) in every copy
    assert tr.tolist() == [2, 2, 2, 3, 3, 1, 2]
    np.testing.assert_allclose(p[:5], [0.1, 0.1, 0.1, 0.2, 0.2])
    assert source.tolist() == [True, False, False, True, False, False, True]  # the latest YES/NO answers


def _twin_session(clustered, **kw):
    """The clustered pool with every text said twice, as identical rows i and i + 300."""
    X, truth, examples, _ = clustered
    X = np.vstack([X[:300], X[:300]])
    truth = np.concatenate([truth[:300], truth[:300]])
    codes = np.arange(600) % 300
    turns = np.arange(600) // 2  # two sentences a turn: rows 2k, 2k+1
    return ActiveLearningSession(X, examples, turns=turns, duplicates=codes, seed=kw.pop("seed", 0), **kw), truth, codes


def test_no_round_shows_a_text_twice_within_or_across_rounds(clustered):
    session, truth, codes = _twin_session(clustered)
    seen = []
    for number in range(1, 5):
        plan = session.plan_round(number)
        # Identical rows score the same: without one offer per text, top_scored and
        # similarity would take both copies of their best texts.
        assert len(plan) == 25 and np.unique(codes[plan.indices]).size == 25
        assert not np.isin(codes[plan.indices], seen).any()
        seen.extend(codes[plan.indices])
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    verification = session.plan_verification(5)
    assert len(verification) and np.unique(codes[verification.indices]).size == len(verification)
    assert not np.isin(codes[verification.indices], seen).any()


def test_the_copies_of_a_tagged_text_count_as_tagged_and_are_never_offered(clustered):
    session, truth, codes = _twin_session(clustered)
    plan = session.plan_round(1)
    session.tag(plan.indices, truth[plan.indices], 1, plan.inclusion_prob)
    copies = (plan.indices + 300) % 600
    assert (session.labels[copies] == truth[plan.indices]).all() and session.shown[copies].all()
    np.testing.assert_array_equal(session.inclusion_prob[copies], plan.inclusion_prob)
    assert not session.available[copies].any()
    # The user answered 25 texts: the model learnt 25, the estimate reports 25 answers.
    assert session.n_yes + session.n_no == 25 and session.estimate().n_yes + session.estimate().n_no == 25
    assert len(session.learnt_from()[0]) == 25
    held = session.held_out()
    if held is not None:
        np.testing.assert_array_equal(held[copies], held[plan.indices])


def test_the_random_sample_draws_copies_with_the_stated_chance_and_each_text_once():
    """Monte Carlo: the stratified probe draws among every copy of the texts on offer, so a
    text said seven times is drawn as its seven rows would be; each row is drawn as
    often as the chance the sampler states (and a round records) for it, and never two
    copies of one text in one round."""
    rng = np.random.default_rng(1)
    # 30 texts; texts 0-4 said six more times.
    codes = np.concatenate([np.arange(30), np.repeat(np.arange(5), 6)])
    X = unit(rng.normal(size=(30, 8)))[codes]
    labels, scores = np.full(len(X), -1, np.int8), X @ X[0] - 0.5
    n, runs = 4, 4000
    strategy = StratifiedStrategy()
    pool = Pool(X, labels, X[:2], texts=codes, scores=scores)
    stated = strategy.inclusion_probabilities(pool, n)
    frame = sampling_frame(pool)
    assert pool.available.sum() == 30 and frame.sum() == 60 and np.isclose(stated[frame].sum(), n)
    assert_draws_match(strategy, pool, n, stated, codes, runs)
    for text in range(5):  # every copy of a text equally likely to be the one shown
        assert np.ptp(stated[codes == text]) < 1e-12


def test_detected_sample_offers_each_text_once():
    rng = np.random.default_rng(2)
    codes = np.repeat(np.arange(10), 5)
    X = unit(rng.normal(size=(10, 8)))[codes]
    pool = Pool(X, np.full(len(X), -1, np.int8), X[:1], texts=codes, scores=X @ X[0], threshold=-2.0)
    pi = DetectedSampleStrategy().inclusion_probabilities(pool, 4)
    assert pool.available.sum() == 10 and np.isclose(pi[sampling_frame(pool)].sum(), 4)
    np.testing.assert_allclose(pi[codes == codes[0]], pi[0])  # each copy: its text's chance / 5
    picks = DetectedSampleStrategy().select(pool, 4, rng)
    assert np.unique(codes[picks]).size == picks.size == 4


def test_representatives_are_the_first_row_of_each_text_among_the_mask():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 300, 2000)
    for mask in (rng.random(2000) < 0.7, np.zeros(2000, bool), np.ones(2000, bool)):
        rows = np.flatnonzero(mask)
        expected = np.zeros(2000, bool)
        expected[rows[np.unique(codes[rows], return_index=True)[1]]] = True
        np.testing.assert_array_equal(representatives(codes, mask), expected)
        np.testing.assert_array_equal(representatives(codes - 150, mask), expected)  # any integer ids


def test_a_copy_cap_limits_a_frequent_texts_draws_and_keeps_every_chance_exact():
    """With ``copy_cap`` the random share draws a text by min(copies, cap), not by its copies:
    a text said seven times counts as two, each of its copies carries a seventh of its text's
    chance, and the draws still match the chances stated (and recorded) for every row."""
    rng = np.random.default_rng(3)
    codes = np.concatenate([np.arange(30), np.repeat(np.arange(5), 6)])  # texts 0-4: 7 copies
    X = unit(rng.normal(size=(30, 8)))[codes]
    labels, scores = np.full(len(X), -1, np.int8), X @ X[0] - 0.5
    strategy = StratifiedStrategy()
    pool = Pool(X, labels, X[:2], texts=codes, scores=scores, copy_cap=2)
    # One draw is one stratum over all 30 texts: a text's chance is min(copies, 2) / 35.
    one = strategy.inclusion_probabilities(pool, 1)
    np.testing.assert_allclose(one[codes == 0], 2 / 35 / 7)
    np.testing.assert_allclose(one[codes == 29], 1 / 35)
    uncapped = strategy.inclusion_probabilities(Pool(X, labels, X[:2], texts=codes, scores=scores), 1)
    np.testing.assert_allclose(uncapped[codes == 0], 1 / 60)
    n, runs = 4, 4000
    stated = strategy.inclusion_probabilities(pool, n)
    assert np.isclose(stated[sampling_frame(pool)].sum(), n)
    assert_draws_match(strategy, pool, n, stated, codes, runs)


@pytest.mark.parametrize("cap", [-1, 1.5, "2"])
def test_a_copy_cap_must_be_a_non_negative_integer(cap):
    X = unit(np.random.default_rng(0).normal(size=(4, 8)))
    with pytest.raises(ValueError, match="copy_cap"):
        Pool(X, np.full(4, -1, np.int8), X[:1], copy_cap=cap)
