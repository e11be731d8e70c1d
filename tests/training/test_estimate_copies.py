"""The detected copies of tagged texts, read from their tags (``HonestEstimate(copies_from_tags=True)``).

A corpus built by code, whose truth is known: common phrases said in many turns (a mention in
95% of them) among texts said once (a mention half the time). Verification rounds of the real
sampler draw detections, a text once, and its other copies leave every later round's frame.
The band's rate, learned from frames without them, missed them: the precision ran low and its
interval held the truth in 78% of corpora after 12 rounds (benchmarks/results/verify_bias.md
has the same on the typed benchmark corpora).
"""
import numpy as np
import pytest

from workbench.training.duplicates import answer_copies
from workbench.training.estimate.copies import CopyStratum, copy_stratum, stratum_counts, weights_for_the_rest
from workbench.training.estimate.honest import HonestEstimate
from workbench.training.pool import Pool
from workbench.training.strategies import DetectedSampleStrategy


def _corpus(rng, phrases=25, copies=16, unique=600, missed=1500):
    """(texts, scores, truth) per row, one row a turn; a text's copies share its score."""
    texts = np.r_[np.repeat(np.arange(phrases), copies), phrases + np.arange(unique + missed)]
    s_text = np.r_[rng.uniform(0.1, 1.0, phrases + unique), rng.uniform(-3.0, -0.1, missed)]
    truth = np.r_[rng.random(phrases * copies) < 0.95, rng.random(unique) < 0.5, rng.random(missed) < 0.02]
    return texts, s_text[texts], truth.astype(np.int8)


def _verified(texts, scores, truth, rounds, rng):
    """20 random tags below the threshold, then ``rounds`` verification rounds of 20 drawn by
    ``DetectedSampleStrategy`` (each text once, its copies then off offer)."""
    n = len(texts)
    labels, shown = np.full(n, -1, np.int8), np.zeros(n, bool)
    tag_round, pi = np.full(n, -1, np.int64), np.full(n, np.nan)
    X = np.zeros((n, 2))
    X[:, 0] = 1.0
    missed = np.flatnonzero(scores <= 0)
    pick = rng.choice(missed, 20, replace=False)
    labels[pick], shown[pick], tag_round[pick], pi[pick] = truth[pick], True, 1, 20 / missed.size
    strategy = DetectedSampleStrategy()
    for r in range(2, 2 + rounds):
        off_offer = answer_copies(texts, labels, shown, tag_round, pi)[1]
        pool = Pool(X, labels, X[:1], None, excluded=off_offer, scores=scores, round_number=r - 1, threshold=0.0,
                    texts=texts)
        rows = strategy.select(pool, 20, rng)
        labels[rows], shown[rows], tag_round[rows] = truth[rows], True, r
        pi[rows] = strategy.inclusion_probabilities(pool, 20)[rows]
    return labels, shown, tag_round, pi


def test_copies_of_tagged_texts_read_from_their_tags_keep_precision_covered():
    errors, covered = {False: [], True: []}, {False: [], True: []}
    for rep in range(30):
        rng = np.random.default_rng(rep)
        texts, scores, truth = _corpus(rng)
        labels, shown, tag_round, pi = _verified(texts, scores, truth, 12, rng)
        copy_labels = answer_copies(texts, labels, shown, tag_round, pi)[0]
        true_precision = truth[scores > 0].mean()
        for from_tags in (False, True):
            figure = HonestEstimate(copies_from_tags=from_tags, random_state=rep).estimate(
                None, labels, None, scores=scores, excluded=shown, tag_round=tag_round, inclusion_prob=pi,
                held_out=scores, groups=np.arange(len(texts)), copy_labels=copy_labels, texts=texts).precision
            errors[from_tags].append(figure.value - true_precision)
            covered[from_tags].append(figure.low <= true_precision <= figure.high)
    # The band alone: low, and its 90% intervals miss (what the option repairs).
    assert np.mean(errors[False]) < -0.025 and np.mean(covered[False]) < 0.85
    assert abs(np.mean(errors[True])) < 0.015 and np.mean(covered[True]) >= 0.85


def test_the_stratum_counts_each_text_by_its_copies():
    copy_label = np.array([1, 1, 1, 0, 0, -1, 1])
    copy_text = np.array([7, 7, 7, 9, 9, -1, 4])
    stratum = copy_stratum(copy_label, copy_text, np.array([True, True, True, True, True, True, False]))
    assert stratum.size == 5 and stratum.members.tolist() == [True] * 5 + [False, False]
    # Texts 7 (3 copies, YES) and 9 (2 copies, NO): Kish size 25 / 13, YES share 3/5.
    assert stratum.n_eff == pytest.approx(25 / 13) and stratum.k_eff == pytest.approx(25 / 13 * 3 / 5)
    draws = stratum_counts(stratum, 4000, np.random.default_rng(0))
    assert draws.min() >= 0 and draws.max() <= 5 and draws.mean() == pytest.approx(5 * (stratum.k_eff + 0.5)
                                                                                  / (stratum.n_eff + 1), rel=0.05)
    assert (stratum_counts(CopyStratum(np.zeros(3, bool), 0.0, 0.0), 10, np.random.default_rng(0)) == 0).all()


def test_a_tag_stands_for_the_rest_less_its_text_and_copies():
    stratum = CopyStratum(np.array([True, True, False, False]), 1.0, 1.0)
    copy_text = np.array([3, 3, -1, -1])
    # Tags of text 3 (2 copies in the stratum), of text 5 (none) and a tag not drawn at random.
    w = weights_for_the_rest(np.array([10.0, 10.0, 0.0]), np.array([0.1, 0.1, np.nan]), np.array([3, 5, 6]),
                             stratum, copy_text)
    assert w.tolist() == pytest.approx([10 * (1 - 0.3), 10 * (1 - 0.1), 0.0])
    assert weights_for_the_rest(np.array([4.0]), np.array([0.5]), np.array([3]), stratum, copy_text)[0] == 0.0
