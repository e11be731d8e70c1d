import numpy as np
import pytest
from sklearn.base import clone

from workbench.training import TrackerModel, best_f1_threshold

from .conftest import unit


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = unit(rng.normal(size=(300, 24)))
    y = (X[:, 0] + 0.03 * rng.normal(size=300) > 0.1).astype(int)
    return X, y


def test_fit_predict_contract(data):
    X, y = data
    m = TrackerModel().fit(X, y)
    assert list(m.classes_) == [0, 1]
    p = m.predict_proba(X)
    assert p.shape == (300, 2) and np.allclose(p.sum(1), 1)
    d = m.decision_function(X)
    # predict agrees with the shifted decision and the shifted probability.
    assert np.array_equal(m.predict(X), (d > 0).astype(int))
    assert np.array_equal(m.predict(X), p.argmax(1))
    assert (m.predict(X) == y).mean() > 0.85
    assert m.get_params()["C"] == 10.0 and clone(m).get_params() == m.get_params()


def test_reproducible_from_the_seed(data):
    X, y = data
    a = TrackerModel(random_state=3).fit(X, y)
    b = TrackerModel(random_state=3).fit(X, y)
    assert a.threshold_ == b.threshold_
    assert np.array_equal(a.decision_function(X), b.decision_function(X))


def test_one_class_is_refused_with_a_clear_message(data):
    X, _ = data
    with pytest.raises(ValueError, match="both classes"):
        TrackerModel().fit(X, np.ones(len(X), int))


def test_examples_count_as_positives(data):
    X, y = data
    # Examples in a direction the tags say nothing about.
    E = unit(np.eye(24)[5] + 0.05 * np.random.default_rng(1).normal(size=(5, 24)))
    without = TrackerModel(threshold="balanced").fit(X, y)
    with_ex = TrackerModel(threshold="balanced", example_weight=5.0).fit(X, y, example_embeddings=E)
    assert with_ex.decision_function(E).mean() > without.decision_function(E).mean()
    off = TrackerModel(threshold="balanced", example_weight=0).fit(X, y, example_embeddings=E)
    assert np.allclose(off.decision_function(X), without.decision_function(X))


def test_threshold_options(data):
    X, y = data
    assert TrackerModel(threshold="balanced").fit(X, y).threshold_ == 0.0
    assert TrackerModel(threshold=1.5).fit(X, y).threshold_ == 1.5
    with pytest.raises(ValueError, match="threshold"):
        TrackerModel(threshold="nope").fit(X, y)


def test_sample_weight_changes_the_fit(data):
    X, y = data
    w = np.where(y == 1, 10.0, 1.0)
    a = TrackerModel(threshold="balanced", class_weight=None).fit(X, y)
    b = TrackerModel(threshold="balanced", class_weight=None).fit(X, y, sample_weight=w)
    assert b.predict(X).sum() > a.predict(X).sum()


def test_best_f1_threshold_separates_cleanly():
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0])
    t = best_f1_threshold(s, y)
    assert 0.2 < t < 0.7
    # With ties the cut never splits equal scores.
    s = np.array([0.5, 0.5, 0.5, 0.1])
    t = best_f1_threshold(s, np.array([1, 0, 1, 0]))
    assert t < 0.5 and t > 0.1


def test_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    # Binary only by design (tags are YES/NO); everything else of the contract must hold.
    # liblinear stops at tol=1e-4, so weighted and repeated fits agree to ~1e-5, not 1e-7.
    tol = "liblinear's tolerance: equal to ~1e-5, the check wants 1e-7"
    check_estimator(
        TrackerModel(threshold="balanced"),
        expected_failed_checks={"check_sample_weight_equivalence_on_dense_data": tol,
                                "check_sample_weight_equivalence_on_sparse_data": tol},
    )
    # With the cross-validated threshold, weights cannot equal repeated rows (a repeated
    # row lands in several folds); that one check is expected to fail.
    check_estimator(
        TrackerModel(cv=3),
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": "CV folds see repeated rows",
            "check_sample_weight_equivalence_on_sparse_data": "CV folds see repeated rows",
            # The F1-chosen cut moves the boundary that extreme class weights set.
            "check_class_weight_classifiers": "threshold chosen by F1, not by the weights",
        },
    )


def test_only_no_tags_fit_against_the_examples(data):
    X, y = data
    E = X[y == 1][:5]
    m = TrackerModel().fit(X[y == 0], y[y == 0], example_embeddings=E)
    assert list(m.classes_) == [0, 1]
    assert m.decision_function(E).mean() > m.decision_function(X[y == 0]).mean()
    with pytest.raises(ValueError, match="both classes"):
        TrackerModel().fit(X[y == 1], y[y == 1], example_embeddings=E)


def test_turn_mates_pairs_each_tag_with_the_rest_of_its_turn():
    from workbench.training import turn_mates

    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3])
    # Rows 0 and 2 share turn 0; row 5 is alone in turn 2; turn 3 has no tag.
    rows = np.array([5, 2, 0, 4])
    mate_rows, mate_of = turn_mates(groups, rows)
    pairs = sorted(zip(mate_rows.tolist(), rows[mate_of].tolist()))
    # Row 1 is the one untagged sentence of turn 0 and serves both of its tags; row 3 serves
    # row 4; tagged rows are never anyone's mate; turn 3 gives nothing.
    assert pairs == [(1, 0), (1, 2), (3, 4)]
    empty_rows, empty_of = turn_mates(np.arange(4), np.array([1, 2]))
    assert empty_rows.size == 0 and empty_of.size == 0


def _turn_data():
    """YES tags clearly positive; NO tags clearly negative, but each NO tag's turn also holds
    a sentence between the two, so a threshold between the tags detects every NO turn."""
    rng = np.random.default_rng(4)
    d = 8

    def rows(x0, n):
        v = rng.normal(scale=0.1, size=(n, d))
        v[:, 0] = x0
        return unit(v)

    yes, no = rows(rng.uniform(0.9, 1.0, 40), 40), rows(rng.uniform(-1.0, -0.3, 60), 60)
    mates = rows(rng.uniform(0.1, 0.3, 60), 60)
    X = np.vstack([yes, no]).astype(np.float32)
    y = np.r_[np.ones(40, int), np.zeros(60, int)]
    return X, y, mates, np.arange(40, 100)  # mate i shares the turn of NO tag 40 + i


def test_turn_threshold_counts_a_no_turn_detected_by_its_mate():
    X, y, M, of = _turn_data()
    by_sentence = TrackerModel(random_state=0).fit(X, y, mate_embeddings=M, mate_of=of)
    by_turn = TrackerModel(threshold_unit="turn", random_state=0).fit(X, y, mate_embeddings=M, mate_of=of)
    # The default ignores the mates: the same model as without them.
    plain = TrackerModel(random_state=0).fit(X, y)
    assert by_sentence.threshold_ == plain.threshold_
    # Counting turns, the threshold rises above the mates, and every YES tag stays detected.
    assert by_turn.threshold_ > by_sentence.threshold_
    assert (by_sentence.decision_function(M) > 0).mean() > 0.5
    assert (by_turn.decision_function(M) > 0).mean() < 0.1
    assert (by_turn.decision_function(X[:40]) > 0).all()
    assert by_turn.get_params()["threshold_unit"] == "turn"


def test_turn_threshold_errors_name_what_is_missing():
    X, y, M, of = _turn_data()
    with pytest.raises(ValueError, match="turn mates"):
        TrackerModel(threshold_unit="turn").fit(X, y)
    with pytest.raises(ValueError, match="mate_of"):
        TrackerModel(threshold_unit="turn").fit(X, y, mate_embeddings=M, mate_of=of + 100)
    with pytest.raises(ValueError, match="threshold_unit"):
        TrackerModel(threshold_unit="call").fit(X, y)
    # A fixed threshold needs no turns (the estimate's refits use one).
    assert TrackerModel(threshold_unit="turn", threshold=0.5).fit(X, y).threshold_ == 0.5


def _witness_data():
    """The concept lies along axis 0. Ten YES tags are "Your booking is confirmed."-like
    sentences (axis 1) whose turn also holds a sentence of the concept: the simulated user,
    like a user reading the context, says YES for the turn. Ten NO tags are the same kind of
    sentence in turns without the concept."""
    rng = np.random.default_rng(7)
    d = 8

    def rows(axis, n, lo=0.85, hi=1.0):
        v = rng.normal(scale=0.12, size=(n, d))
        v[:, axis] = rng.uniform(lo, hi, n)
        return unit(v)

    clean_yes, noisy_yes = rows(0, 30), rows(1, 10)
    no = np.vstack([unit(-rows(0, 40)), rows(1, 10), rows(2, 10)])
    X = np.vstack([clean_yes, noisy_yes, no]).astype(np.float32)
    y = np.r_[np.ones(40, int), np.zeros(60, int)]
    # Mates: each noisy YES's turn holds a concept sentence; 5 clean YES tags have a weak
    # mate; the first 5 NO tags' turns hold a concept sentence too (a NO speaks for its
    # sentence only, so those must never be learnt as YES).
    M = np.vstack([rows(0, 10), rows(0, 5, 0.2, 0.3), rows(0, 5)]).astype(np.float32)
    of = np.r_[np.arange(30, 40), np.arange(0, 5), np.arange(40, 45)]
    return X, y, M, of


def test_a_yes_is_learnt_from_the_best_sentence_of_its_turn():
    X, y, M, of = _witness_data()
    witness = TrackerModel(random_state=0).fit(X, y, mate_embeddings=M, mate_of=of)
    tagged = TrackerModel(yes_sentence="tagged", random_state=0).fit(X, y, mate_embeddings=M, mate_of=of)
    # The noisy YES tags are learnt from their turn's concept sentence (mates 0-9); the clean
    # ones keep themselves, their weak mate notwithstanding; NO tags are never replaced.
    assert witness.witness_rows_[30:40].tolist() == list(range(10))
    assert (witness.witness_rows_[:30] == -1).all() and (witness.witness_rows_[40:] == -1).all()
    assert (tagged.witness_rows_ == -1).all()
    # So "booking confirmed" sentences, half YES and half NO as tagged, stop being detected.
    rng = np.random.default_rng(1)
    confirmed = unit(np.c_[rng.normal(scale=0.12, size=(50, 1)), np.full((50, 1), 0.95),
                           rng.normal(scale=0.12, size=(50, 6))]).astype(np.float32)
    assert (witness.decision_function(confirmed) > 0).mean() < 0.1
    assert (tagged.decision_function(confirmed) > 0).mean() >= 0.4
    # The concept is still found, and the turn's concept sentences with it.
    assert (witness.decision_function(X[:30]) > 0).all() and (witness.decision_function(M[:10]) > 0).all()


def test_without_turns_every_tag_is_learnt_as_tagged():
    X, y, M, of = _witness_data()
    plain = TrackerModel(random_state=0).fit(X, y)
    tagged = TrackerModel(yes_sentence="tagged", random_state=0).fit(X, y, mate_embeddings=M, mate_of=of)
    np.testing.assert_array_equal(plain.lr_.coef_, tagged.lr_.coef_)
    assert plain.threshold_ == tagged.threshold_
    with pytest.raises(ValueError, match="yes_sentence"):
        TrackerModel(yes_sentence="first").fit(X, y)


def test_copy_weight_weighs_a_text_by_its_copies(data):
    X, y = data
    copies = np.where(y == 1, 50, 1)  # every YES text said 50 times
    for name, f in (("sqrt", np.sqrt), ("log1p", np.log1p)):
        m = TrackerModel(threshold="balanced", copy_weight=name).fit(X, y, copies=copies)
        w = f(copies.astype(float))
        same = TrackerModel(threshold="balanced").fit(X, y, sample_weight=w / w.mean())
        assert np.allclose(m.decision_function(X), same.decision_function(X))
    plain = TrackerModel(threshold="balanced").fit(X, y)
    heavy = TrackerModel(threshold="balanced", copy_weight="sqrt").fit(X, y, copies=copies)
    assert heavy.predict(X).sum() > plain.predict(X).sum()
    # "none" (the default) learns each text once whatever its copies.
    once = TrackerModel(threshold="balanced").fit(X, y, copies=copies)
    assert np.allclose(once.decision_function(X), plain.decision_function(X))
    with pytest.raises(ValueError, match="copy_weight"):
        TrackerModel(copy_weight="linear").fit(X, y, copies=copies)
    with pytest.raises(ValueError, match="copies must give each of the 300"):
        TrackerModel(copy_weight="sqrt").fit(X, y, copies=copies[:10])


def test_pseudo_positives_add_untagged_neighbours_of_a_yes():
    rng = np.random.default_rng(2)
    d = 16
    centre = np.eye(d, dtype=np.float32)
    # Tags: 3 YES in the concept's cluster, 60 NO elsewhere; untagged: 40 more of the concept
    # (spread towards a direction no tag covers) and 200 others.
    yes = unit(centre[0] + 0.15 * rng.normal(size=(3, d)))
    no = unit(centre[rng.integers(1, d, 60)] + 0.3 * rng.normal(size=(60, d)))
    concept = unit(centre[0] + 0.4 * centre[1] + 0.15 * rng.normal(size=(40, d)))
    others = unit(centre[rng.integers(2, d, 200)] + 0.3 * rng.normal(size=(200, d)))
    X, y = np.vstack([yes, no]), np.r_[np.ones(3, int), np.zeros(60, int)]
    U = np.vstack([concept, others])
    plain = TrackerModel(threshold="balanced").fit(X, y, unlabelled=U)
    assert plain.pseudo_rows_.size == 0  # off by default
    m = TrackerModel(threshold="balanced", pseudo_positives=20, pseudo_min_cosine=0.7,
                     pseudo_weight=0.5).fit(X, y, unlabelled=U)
    chosen = m.pseudo_rows_
    assert 0 < chosen.size <= 20
    assert ((U[chosen] @ X[y == 1].T).max(axis=1) >= 0.7).all()
    assert (chosen < 40).all()  # only the concept's own sentences are near a YES
    # The refitted model finds more of the concept's untagged sentences.
    assert m.predict(concept).sum() > plain.predict(concept).sum()
    assert m.predict(others).sum() <= plain.predict(others).sum() + 2


def noisy_few_yes(seed: int):
    """100 tags in 64 dimensions, ~20 YES with a weak, noisy signal: speech-like."""
    rng = np.random.default_rng(seed)
    X = unit(rng.normal(size=(100, 64)))
    return X, (X[:, 0] + 0.3 * rng.normal(size=100) > 0.25).astype(int)


def test_regularisation_from_the_yes_tags(data):
    X, y = noisy_few_yes(2)
    n_yes = int(y.sum())
    assert 10 <= n_yes <= 25
    fixed = TrackerModel().fit(X, y)
    assert fixed.C_ == 10.0  # the default keeps C
    m = TrackerModel(regularisation="yes_tags").fit(X, y)
    assert m.C_ == pytest.approx(0.1 * n_yes)
    # A stronger penalty: smaller weights than the fixed C=10.
    assert np.linalg.norm(m.lr_.coef_) < np.linalg.norm(fixed.lr_.coef_)
    assert TrackerModel(regularisation="yes_tags", C_per_yes=0.001).fit(X, y).C_ == 0.3  # floor C_min
    Xc, yc = data  # 94 YES: 9.4, capped at C
    assert TrackerModel(regularisation="yes_tags").fit(Xc, yc).C_ == 9.4
    assert TrackerModel(regularisation="yes_tags", C=5.0).fit(Xc, yc).C_ == 5.0
    with pytest.raises(ValueError, match="regularisation must be"):
        TrackerModel(regularisation="bayes").fit(X, y)
    # Only below yes_tags_below YES tags: from there on the default C.
    assert TrackerModel(regularisation="yes_tags", yes_tags_below=n_yes + 1).fit(X, y).C_ == pytest.approx(0.1 * n_yes)
    assert TrackerModel(regularisation="yes_tags", yes_tags_below=n_yes).fit(X, y).C_ == 10.0


def test_regularisation_by_cross_validation(data):
    # Clean, separable tags keep the weak penalty; few noisy YES tags choose a strong one.
    X, y = data
    assert TrackerModel(regularisation="cv").fit(X, y).C_ == 10.0
    for seed in (0, 2):
        Xn, yn = noisy_few_yes(seed)
        m = TrackerModel(regularisation="cv").fit(Xn, yn)
        assert m.C_ == 0.3 and m.lr_.C == 0.3
    Xn, yn = noisy_few_yes(1)
    assert TrackerModel(regularisation="cv", C_grid=(3.0, 10.0)).fit(Xn, yn).C_ == 3.0


def test_held_out_refits_keep_the_chosen_regularisation():
    from workbench.training.estimate.held_out import refit_template

    X, y = noisy_few_yes(2)
    m = TrackerModel(regularisation="yes_tags").fit(X, y)
    template = refit_template(m)
    assert template.get_params()["regularisation"] == "fixed"
    assert template.get_params()["C"] == m.C_ and template.get_params()["threshold"] == m.threshold_
    # Refitted on fewer YES tags it keeps the C chosen on all of them.
    assert clone(template).fit(X[:60], y[:60]).C_ == m.C_
    assert m.get_params()["regularisation"] == "yes_tags"  # the model itself is untouched


def test_sklearn_estimator_checks_with_regularisation_from_the_tags():
    from sklearn.utils.estimator_checks import check_estimator

    # The chosen C must not break the contract; weights are not repeated rows under CV folds.
    check_estimator(
        TrackerModel(regularisation="cv", C_grid=(1.0, 10.0), cv=3),
        expected_failed_checks={
            "check_sample_weight_equivalence_on_dense_data": "CV folds see repeated rows",
            "check_sample_weight_equivalence_on_sparse_data": "CV folds see repeated rows",
            "check_class_weight_classifiers": "threshold chosen by F1, not by the weights",
        },
    )


def test_example_prior_leans_few_yes_tags_on_the_examples():
    X, y = noisy_few_yes(2)
    rng = np.random.default_rng(5)
    examples = unit(np.eye(64)[0] + 0.3 * rng.normal(size=(5, 64)))
    centre = unit(examples.mean(axis=0))
    plain = TrackerModel(regularisation="yes_tags").fit(X, y, example_embeddings=examples)
    assert plain.prior_direction_ is None  # off by default
    m = TrackerModel(regularisation="yes_tags", example_prior=3.0).fit(X, y, example_embeddings=examples)
    assert np.allclose(m.prior_direction_, centre, atol=1e-6)

    def cos(w):
        return float(w @ centre / np.linalg.norm(w))
    # The weights turn towards the examples' direction, and scoring stays one linear model.
    assert cos(m.lr_.coef_.ravel()) > cos(plain.lr_.coef_.ravel()) + 0.05
    assert m.lr_.coef_.shape == (1, 64)
    raw = X @ m.lr_.coef_.ravel() + m.lr_.intercept_[0]
    assert np.allclose(m.decision_function(X), raw - m.threshold_, atol=1e-5)
    # Without examples there is nothing to lean on.
    assert TrackerModel(example_prior=3.0).fit(X, y).prior_direction_ is None


def test_background_negatives_join_every_fit_as_weighted_no(data):
    from workbench.training.estimate.held_out import fit_copy, refit_template

    X, y = data
    B = unit(np.random.default_rng(5).normal(size=(80, 24)))
    plain = TrackerModel().fit(X, y)
    # Off unless a count is set, whatever rows are given.
    off = TrackerModel().fit(X, y, background=B)
    assert off.background_ is None and np.array_equal(off.decision_function(X), plain.decision_function(X))
    m = TrackerModel(background_negatives=50, background_weight=0.5, threshold=0.0).fit(X, y, background=B)
    # The first 50 rows learnt as NO at weight 0.5, beside the tags at weight 1.
    same = TrackerModel(threshold=0.0).fit(np.vstack([X, B[:50]]), np.r_[y, np.zeros(50, int)],
                                           sample_weight=np.r_[np.ones(len(y)), np.full(50, 0.5)])
    np.testing.assert_allclose(m.lr_.coef_, same.lr_.coef_)
    assert not np.allclose(m.lr_.coef_, plain.lr_.coef_)
    # The rows are fitted data, not a parameter; the estimate's refits learn from them too.
    assert "background" not in m.get_params()
    refit = fit_copy(refit_template(m), X, y, None)
    np.testing.assert_allclose(refit.lr_.coef_, m.lr_.coef_)
    with pytest.raises(ValueError, match="background_threshold must be"):
        TrackerModel(background_threshold="twin").fit(X, y)
