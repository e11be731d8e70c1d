"""``estimate_performance``: the reference and the honest estimate of one model, side by side."""
from __future__ import annotations

import numpy as np
from sklearn.base import clone

from workbench.training.estimate.honest import HonestEstimate, HonestFigures
from workbench.training.estimate.reference import ReferenceEstimate
from workbench.training.estimate.units import RankOrder
from workbench.training.performance import PerformanceEstimate


def estimator_params(reference: ReferenceEstimate, honest: HonestEstimate) -> dict[str, object]:
    """The estimators' parameters, flat (``"reference.n_repeats"``, ``"honest.n_draws"``,
    ...), as a training run logs them."""
    return {f"{name}.{key}": value
            for name, est in (("reference", reference), ("honest", honest))
            for key, value in sorted(est.get_params().items())}


def configured_estimators(reference: ReferenceEstimate | None = None, honest: HonestEstimate | None = None,
                          **params) -> tuple[ReferenceEstimate, HonestEstimate]:
    """Copies of the given estimators (the defaults where None) with ``params`` set on each
    that has them: ``random_state`` and ``confidence`` on both, the others on their own."""
    reference = ReferenceEstimate() if reference is None else clone(reference)
    honest = HonestEstimate() if honest is None else clone(honest)
    for key, value in params.items():
        owners = [est for est in (reference, honest) if key in est.get_params()]
        if not owners:
            known = sorted(set(reference.get_params()) | set(honest.get_params()))
            raise TypeError(f"estimate_performance() got an unexpected keyword argument {key!r}; "
                            f"the estimators take {', '.join(known)}")
        for est in owners:
            est.set_params(**{key: value})
    if reference.confidence != honest.confidence:
        raise ValueError(f"one confidence for both estimates: reference {reference.confidence}, "
                         f"honest {honest.confidence}")
    return reference, honest


def estimate_performance(
    embeddings: np.ndarray,
    labels: np.ndarray,
    model,
    *,
    excluded: np.ndarray | None = None,
    tag_round: np.ndarray | None = None,
    inclusion_prob: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    call_ids: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    example_embeddings: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    reference: ReferenceEstimate | None = None,
    honest: HonestEstimate | None = None,
    honest_figures: HonestFigures | None = None,
    rank_order: RankOrder | None = None,
    copy_labels: np.ndarray | None = None,
    texts: np.ndarray | None = None,
    **params,
) -> PerformanceEstimate:
    """Estimate the performance of ``model`` (fitted on the YES/NO tags) on its corpus.

    All arrays are per row of the tracker's scope (N rows, the Pool's order):
    labels: 1 YES, 0 NO, -1 untagged or NOT SURE.
    excluded: rows shown to the user (so a -1 among them is NOT SURE); default labels>=0.
    tag_round: the round each row was shown in (1-based), -1 if never; needed with
        inclusion_prob for the probe's part of the honest estimate.
    inclusion_prob: the planner's inclusion probability for rows drawn by a probability
        sampler, NaN for other picks and untagged rows.
    scores: the model's decision values on all rows (computed when omitted); a row is
        detected when its score is > 0.
    call_ids: for the number of calls with a detection.
    groups: the speaker turn (utterance) of each row. With groups the honest estimate
        counts mentions: a turn is detected when any of its sentences is, and is a
        positive when any of its tagged sentences is YES.
    example_embeddings: passed to refits (``fit(..., example_embeddings=)``), as in the
        final model.
    held_out: ``held_out_scores(model, embeddings, labels, ...)`` with the honest
        estimator's n_folds and random_state and the same example_embeddings, when the
        caller has it: the tags' out-of-fold values are then not refitted here.
    reference, honest: the estimators (``ReferenceEstimate()`` and ``HonestEstimate()`` by
        default); ``params`` set their parameters by name on top (``random_state=`` and
        ``confidence=`` on both; ``n_repeats=``, ``n_draws=`` ... on the one that has it).
    honest_figures: what ``honest.estimate`` returns on exactly these inputs, when the caller
        has it already (the session's bound takes it at the "cv" cut; where the bound leaves
        the cut there, it is the estimate's own): the honest estimate is then not run again.
    rank_order: the honest estimate's order of its units' scores kept from an earlier
        estimate of the same units, tried before sorting (``units.RankOrder``).
    copy_labels, texts: the tags as extended to every copy of their text
        (``duplicates.answer_copies``) and each row's text code: the honest estimate reads the
        detected copies of tagged texts from them with ``copies_from_tags``.
    """
    reference, honest = configured_estimators(reference, honest, **params)
    X = np.asarray(embeddings)
    labels = np.asarray(labels).astype(np.int8)
    shown = labels >= 0 if excluded is None else (np.asarray(excluded, bool) | (labels >= 0))
    if scores is None:
        scores = np.asarray(model.decision_function(X))
    detected = np.asarray(scores) > 0
    ref = reference.estimate(X, labels, model, example_embeddings=example_embeddings)
    hon = honest_figures if honest_figures is not None else honest.estimate(
        X, labels, model, scores=scores, excluded=excluded, tag_round=tag_round, inclusion_prob=inclusion_prob,
        groups=groups, example_embeddings=example_embeddings, held_out=held_out, rank_order=rank_order,
        copy_labels=copy_labels, texts=texts)
    n_calls = None if call_ids is None else int(np.unique(np.asarray(call_ids)[detected]).size)
    return PerformanceEstimate(
        n_yes=int((labels == 1).sum()), n_no=int((labels == 0).sum()),
        n_not_sure=int((shown & (labels < 0)).sum()), population=len(labels),
        confidence=honest.confidence,
        reference_precision=ref.precision, reference_hit_rate=ref.hit_rate,
        reference_repeats=ref.repeats, reference_test_size=ref.test_size,
        reference_tp=ref.tp, reference_fp=ref.fp, reference_fn=ref.fn,
        honest_precision=hon.precision, honest_hit_rate=hon.hit_rate, honest_f1=hon.f1,
        n_probe_tags=hon.n_probe_tags, n_probe_rounds=hon.n_probe_rounds,
        honest_tp=hon.tp, honest_fp=hon.fp, honest_fn=hon.fn,
        detected_sentences=int(detected.sum()), detected_calls=n_calls,
        estimated_true_detections=hon.true_detections, estimated_positives=hon.positives,
        unit=hon.unit, detected_units=hon.detected_units,
        notes=ref.notes + hon.notes,
        estimator_params=estimator_params(reference, honest),
    )
