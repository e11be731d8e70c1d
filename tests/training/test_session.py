"""The active-learning session: the one loop the Tracker, the benchmarks and the tests drive."""
import numpy as np
import pytest

from workbench.training import TrackerModel, estimate_performance
from workbench.training.session import ActiveLearningSession

from .conftest import answer_rounds


def _session(clustered, seed=0, **kw):
    X, truth, examples, which = clustered
    turns = np.arange(len(X)) // 2  # speaker turns of two sentences
    return ActiveLearningSession(X, examples, turns=turns, seed=seed, **kw)


def test_rounds_never_offer_a_shown_row_or_a_copy_of_its_text(clustered):
    X, truth, _, _ = clustered
    duplicates = np.arange(len(X)) % 300  # every text said twice: rows i and i + 300
    session = _session(clustered, duplicates=duplicates)
    shown_texts = np.empty(0, int)
    for number in range(1, 5):
        plan = session.plan_round(n=25)  # the round number follows the tags
        assert plan.round_number == number
        assert not np.isin(duplicates[plan.indices], shown_texts).any()
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
        shown_texts = np.union1d(shown_texts, duplicates[plan.indices])
    assert not session.available[np.isin(duplicates, shown_texts)].any()
    assert session.available.sum() == 2 * (300 - len(shown_texts))
    samples = session.sample_detections(40)  # each text once
    assert len(samples) and len(np.unique(duplicates[samples])) == len(samples)


def test_reproducible_from_the_seed(clustered):
    X, truth, _, _ = clustered
    a, b = answer_rounds(_session(clustered, seed=3), truth), answer_rounds(_session(clustered, seed=3), truth)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.tag_round, b.tag_round)
    assert np.array_equal(a.scores(), b.scores())
    assert a.estimate().as_dict() == b.estimate().as_dict()
    other = answer_rounds(_session(clustered, seed=4), truth)
    assert not np.array_equal(a.shown, other.shown)


def test_results_are_cached_by_the_content_of_the_tags(clustered):
    X, truth, _, _ = clustered
    session = answer_rounds(_session(clustered), truth)
    model, estimate = session.model(), session.estimate()
    tags = {k: getattr(session, k).copy() for k in ("labels", "shown", "tag_round", "inclusion_prob")}
    session.set_tags(**tags)  # the same answers read again: nothing is refitted
    assert session.model() is model and session.estimate() is estimate
    yes = np.flatnonzero(session.labels == 1)[0]
    session.tag([yes], [0], int(session.tag_round[yes]), session.inclusion_prob[[yes]])  # YES -> NO
    assert session.model() is not model and session.estimate().n_yes == estimate.n_yes - 1
    session.set_tags(**tags)  # and back: the same answers give the same figures
    assert session.estimate().as_dict() == estimate.as_dict()
    with pytest.raises(ValueError, match="read-only"):
        session.labels[0] = 1  # the tags change through tag() and set_tags() only


def test_no_model_without_a_yes_and_a_no(clustered):
    X, truth, _, _ = clustered
    session = _session(clustered)
    plan = session.plan_round(1)
    session.tag(plan.indices, np.zeros(len(plan), np.int8), 1, plan.inclusion_prob)
    assert session.model() is None and session.estimate() is None and session.scores() is None
    assert session.plan_round(2).notes  # the planner falls back to similarity
    with pytest.raises(ValueError, match="needs a model"):
        session.plan_verification(2)


def test_the_model_and_estimate_are_those_of_the_training_core(clustered):
    X, truth, examples, _ = clustered
    session = answer_rounds(_session(clustered, model_params={"C": 3.0}, estimate_params={"n_draws": 50}), truth)
    tagged = np.flatnonzero(session.labels >= 0)
    mates, of = session.turn_mates(tagged)
    model = TrackerModel(C=3.0, random_state=0).fit(X[tagged], session.labels[tagged].astype(int),
                                                     example_embeddings=examples, mate_embeddings=X[mates],
                                                     mate_of=of)
    assert np.allclose(session.scores(), model.decision_function(X))
    est = estimate_performance(X, session.labels, model, tag_round=session.tag_round,
                               inclusion_prob=session.inclusion_prob, groups=session.turns,
                               example_embeddings=examples, n_draws=50)
    assert session.estimate().as_dict() == est.as_dict()
    assert session.estimate().unit == "turn"


def test_not_sure_is_shown_but_never_a_label_nor_a_turn_mate(clustered):
    X, truth, _, _ = clustered
    session = _session(clustered)
    plan = session.plan_round(1)
    answers = truth[plan.indices].astype(np.int8)
    answers[:5] = -1  # NOT SURE
    session.tag(plan.indices, answers, 1, plan.inclusion_prob)
    assert session.shown.sum() == 25 and (session.labels >= 0).sum() == 20
    mates, _ = session.turn_mates(np.flatnonzero(session.labels >= 0))
    assert not session.shown[mates].any()
    assert session.estimate().n_not_sure == 5


def test_verification_round_draws_unshown_detections(clustered):
    X, truth, _, _ = clustered
    session = answer_rounds(_session(clustered), truth)
    plan = session.plan_verification(4, n=10)
    assert len(plan) == 10 and set(plan.strategies) == {"detected_sample"}
    assert (session.scores()[plan.indices] > 0).all() and not session.shown[plan.indices].any()
    assert (plan.inclusion_prob > 0).all()


def test_witnesses_detection_change_and_samples(clustered):
    X, truth, _, _ = clustered
    session = answer_rounds(_session(clustered), truth, rounds=2)
    previous = session.scores().copy()
    assert session.detection_change(previous) == 0.0
    tagged, witness = session.learnt_from()
    assert np.array_equal(tagged, np.flatnonzero(session.labels >= 0))
    for row, w in zip(tagged, witness):  # another sentence of the tag's own turn, or itself
        assert w == -1 or (session.turns[w] == session.turns[row] and not session.shown[w])
    plan = session.plan_round(3)
    session.tag(plan.indices, truth[plan.indices], 3, plan.inclusion_prob)
    assert 0.0 < session.detection_change(previous) <= 1.0
    rows = session.sample_detections(5)
    open_detections = int(((session.scores() > 0) & ~session.shown).sum())
    assert len(rows) == min(5, open_detections) > 0
    assert (session.scores()[rows] > 0).all() and not session.shown[rows].any()
    assert list(rows) == sorted(rows, key=lambda r: -session.scores()[r])


def test_copy_weight_and_self_training_reach_the_model(clustered):
    X, truth, examples, _ = clustered
    # Rows 450-599 are copies of texts 0-149: those texts are said twice, the rest once.
    duplicates = np.where(np.arange(len(X)) < 450, np.arange(len(X)), np.arange(len(X)) - 450)
    session = ActiveLearningSession(X, examples, duplicates=duplicates, seed=0,
                                    model_params={"copy_weight": "sqrt"})
    answer_rounds(session, truth, rounds=2)
    tagged = np.flatnonzero(session.answers >= 0)
    y = session.answers[tagged].astype(int)
    w = np.sqrt(np.bincount(duplicates)[duplicates[tagged]])
    assert w.min() == 1 and w.max() > 1  # both kinds of text were tagged
    expected = TrackerModel(random_state=0).fit(X[tagged], y, sample_weight=w / w.mean(),
                                               example_embeddings=examples)
    assert np.allclose(session.model().decision_function(X), expected.decision_function(X))
    # Self-training draws its positives from the untagged texts, each once.
    st = ActiveLearningSession(X, examples, duplicates=duplicates, seed=0,
                               model_params={"pseudo_positives": 10, "pseudo_min_cosine": 0.8})
    answer_rounds(st, truth, rounds=2)
    assert 0 < st.model().pseudo_rows_.size <= 10


def test_similarity_to_the_yes_tags_multiplies_only_new_ones_and_equals_the_full_one(clustered):
    """The similarity memo (Pool.similarity_memo): after YES tags are added a round multiplies
    only the new ones; a YES changed to NO or a tag removed recomputes; the values equal the
    full computation and the rounds equal those of a session that never kept anything."""
    from workbench.training.pool import SimilarityMemo, _max_sim

    X, truth, examples, _ = clustered
    memo = SimilarityMemo()
    yes = np.flatnonzero(truth == 1)
    steps = [(yes[:0], len(examples)), (yes[:3], 3), (yes[:5], 2), (yes[:5], 0), (yes[[0, 2, 3, 4]], 9),
             (yes[[0, 2, 3, 4, 7]], 1), (yes[[0, 2, 3, 4, 7, 8, 9, 10, 11, 12]], 5)]
    # examples; 3 YES (a pass by slabs); 2 more; the same; yes[1] to NO; one more; 5 more
    for rows, multiplied in steps:
        refs = np.concatenate([examples, X[rows]])
        got = memo.max_sim(X, refs)
        np.testing.assert_allclose(got, _max_sim(X, refs), rtol=0, atol=1e-6)
        assert memo.last_multiplied == multiplied
    assert memo.max_sim(X.copy(), examples) is not None and memo.last_multiplied == len(examples)  # other rows

    kept, multiplied = _session(clustered), []
    for number in range(1, 5):
        if number == 4:  # a YES turns NO: the memo's references shrink
            was_yes = np.flatnonzero(kept.labels == 1)[:1]
            kept.tag(was_yes, [0], int(kept.tag_round[was_yes[0]]), kept.inclusion_prob[was_yes])
        plan = kept.plan_round(number)
        fresh = _session(clustered)
        fresh.set_tags(*kept.recorded_tags)
        again = fresh.plan_round(number)
        assert np.array_equal(plan.indices, again.indices)
        np.testing.assert_array_equal(plan.inclusion_prob, again.inclusion_prob)
        kept.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
        multiplied.append(kept._similarity.last_multiplied)
    # Round 3 multiplied only round 2's new YES tags; round 4, after the change, everything.
    assert 0 < multiplied[2] < len(examples) + int((kept.labels[kept.tag_round < 3] == 1).sum())
    assert multiplied[3] == len(examples) + int(((kept.labels == 1) & (kept.tag_round < 4)).sum())


def test_a_similarity_asked_on_two_threads_is_computed_once_and_the_same(clustered):
    """A round planned ahead on a worker and one planned meanwhile (a verification round) ask
    the memo at once: one waits for the other (the memo's lock) and multiplies nothing."""
    import threading

    from workbench.training.pool import SimilarityMemo, _max_sim

    X, truth, examples, _ = clustered
    big = np.repeat(X, 50, axis=0)  # 30,000 rows: long enough for the calls to overlap
    refs = np.concatenate([examples, X[truth == 1][:7]])
    memo, got = SimilarityMemo(), {}
    worker = threading.Thread(target=lambda: got.setdefault("worker", memo.max_sim(big, refs)))
    worker.start()
    got["caller"] = memo.max_sim(big, refs)
    worker.join(timeout=60)
    assert memo.last_multiplied == 0  # the second of the two read the first's result
    assert got["worker"] is got["caller"]
    np.testing.assert_allclose(got["caller"], _max_sim(big, refs), rtol=0, atol=1e-6)


def test_a_round_planned_ahead_is_the_one_plan_round_returns_while_the_tags_stand(clustered):
    """plan_ahead() (the Tracker's train() starts it): plan_round() returns the worker's round,
    which equals that of a session planning on the round's path; tagging waits for the worker,
    and tags changed after it planned make plan_round() plan again from them."""
    X, truth, _, _ = clustered
    ahead, plain = _session(clustered), _session(clustered)
    for number in range(1, 5):
        ahead.plan_ahead(number).join(timeout=60)
        planned = ahead._ahead[3]
        plan, again = ahead.plan_round(number), plain.plan_round(number)
        assert plan is planned and ahead._ahead is None  # the worker's round, taken once
        assert np.array_equal(plan.indices, again.indices)
        assert np.array_equal(plan.strategies, again.strategies)
        np.testing.assert_array_equal(plan.inclusion_prob, again.inclusion_prob)
        for session in (ahead, plain):
            session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    before = ahead.key
    worker = ahead.plan_ahead(5)
    rows = np.flatnonzero(ahead.available)[:2]
    ahead.tag(rows, [0, 0], 5)  # waits for the worker: the tags never change under it
    # The worker had planned, from the tags as they were, when tag() went on. (It asserted
    # `not worker.is_alive()` here: the worker releases the tags' lock just before it ends,
    # so that failed now and then on a busy machine.)
    assert ahead._ahead is not None and ahead._ahead[0] == before != ahead.key
    worker.join(timeout=60)
    stale = ahead._ahead[3]
    plain.tag(rows, [0, 0], 5)
    plan, again = ahead.plan_round(5), plain.plan_round(5)
    assert plan is not stale and np.array_equal(plan.indices, again.indices)
    assert not np.isin(rows, plan.indices).any()


class _ProductLog(np.ndarray):
    """Rows whose products (matrix-vector or matrix) are logged: (first row, rows, references)."""

    log: list = []

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.dot, np.matmul):
            _ProductLog.log.append((self._first_row(), args[0].shape[0], 1 if np.ndim(args[1]) == 1 else args[1].shape[-1]))
        return func(*(a.view(np.ndarray) if isinstance(a, _ProductLog) else a for a in args), **kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul:
            _ProductLog.log.append((self._first_row(), inputs[0].shape[0], 1 if np.ndim(inputs[1]) == 1 else inputs[1].shape[-1]))
        inputs = tuple(a.view(np.ndarray) if isinstance(a, _ProductLog) else a for a in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def _first_row(self) -> int:
        base = self.base if self.base is not None else self
        return (self.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // self.strides[0]


def test_new_yes_tags_are_multiplied_in_one_pass_over_the_rows_with_the_values_of_whole_column_products():
    """A round with up to 10 new YES tags (``_raise_max``) reads the rows once: each slab of
    rows is multiplied by every new reference while it is in cache (three references used to
    read all the rows three times, 1.5 GB each at a million; six, a matrix product that cost
    more), with values bit for bit those of one matrix-vector product per reference."""
    from workbench.training.pool import _SLAB, _raise_max

    rng = np.random.default_rng(3)
    X = rng.standard_normal((5 * _SLAB + 17, 24)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    best = (X @ X[0]).astype(np.float32)
    for k in (1, 2, 3, 4, 6, 10):
        refs = X[rng.choice(len(X), k, replace=False)].copy()
        _ProductLog.log = []
        got = _raise_max(best, X.view(_ProductLog), refs)
        assert type(got) is np.ndarray and got.dtype == np.float32
        expected = best.copy()
        for ref in refs:
            np.maximum(expected, X @ ref, out=expected)
        assert np.array_equal(got, expected)  # the same bits as whole-column products
        # One pass: slabs of at most _SLAB rows, in order, each multiplied by all k references in a row.
        starts = list(range(0, len(X), _SLAB))
        assert _ProductLog.log == [(s, min(_SLAB, len(X) - s), 1) for s in starts for _ in range(k)]


def test_the_cache_key_follows_every_part_of_every_tag(clustered):
    # The key hashes the tagged rows and their values only: each part of a tag still moves it,
    # and the same tags, however they were set, give the same key.
    session = _session(clustered)
    n = len(session.labels)
    tags = [np.full(n, -1, np.int8), np.zeros(n, bool), np.full(n, -1), np.full(n, np.nan)]
    tags[0][[3, 40]], tags[1][[3, 40, 41]], tags[2][[3, 40, 41]], tags[3][40] = (1, 0), True, (1, 1, 2), 0.25

    def key(part=None, row=None, value=None):
        arrays = [a.copy() for a in tags]
        if part is not None:
            arrays[part][row] = value
        session.set_tags(*arrays)
        return session.key

    base = key()
    assert key() == base
    for part, row, value in ((0, 40, 1), (1, 7, True), (2, 41, 3), (3, 3, 0.5), (3, 40, np.nan)):
        assert key(part, row, value) != base
    assert key() == base


def test_background_negatives_come_from_untagged_texts_and_can_keep_the_count(clustered):
    X, truth, examples, _ = clustered
    duplicates = np.arange(len(X)) % 300  # every text said twice
    params = {"background_negatives": 100}
    session = answer_rounds(_session(clustered, duplicates=duplicates, model_params=params), truth, rounds=2)
    model = session.model()
    rows = [int(np.flatnonzero((X == b).all(axis=1))[0]) for b in model.background_]
    assert len(model.background_) == 100 and not session.shown[rows].any()
    assert len(set(duplicates[rows])) == 100  # each text once
    # "count": ranked by the model with the background, as many turns detected as without it.
    counted = _session(clustered, duplicates=duplicates, model_params={**params, "background_threshold": "count"})
    counted.set_tags(*session.recorded_tags)
    twin = _session(clustered, duplicates=duplicates)
    twin.set_tags(*session.recorded_tags)
    turns = counted.turns

    def detected_turns(s):
        return len(np.unique(turns[s.scores() > 0]))

    assert detected_turns(counted) == detected_turns(twin)
    np.testing.assert_allclose(counted.model().lr_.coef_, model.lr_.coef_)


@pytest.mark.parametrize("positives_from", ["estimate_median", "estimate"])
def test_the_background_twin_counts_its_own_positives(clustered, positives_from):
    """With "count" and a bound that always binds, the twin's count must be the one a session
    without the background takes: the session keeps the background model's raw scores, held-out
    refits and honest figures under the fitted tags, and the twin must neither read nor write them."""
    X, truth, examples, _ = clustered
    duplicates = np.arange(len(X)) % 300
    bound = {"detect_at_least": 1.0, "detect_at_most": 1.0, "positives_from": positives_from}
    session = answer_rounds(_session(clustered, duplicates=duplicates, model_params=bound), truth, rounds=2)
    counted = _session(clustered, duplicates=duplicates,
                       model_params={**bound, "background_negatives": 100, "background_threshold": "count"})
    counted.set_tags(*session.recorded_tags)
    turns = counted.turns

    def detected_turns(s):
        return len(np.unique(turns[s.scores() > 0]))

    assert detected_turns(counted) == detected_turns(session)
    # and what the session keeps is the background model's own: its scores are its decision values
    np.testing.assert_array_equal(counted.scores(), counted.model().decision_function(X))
