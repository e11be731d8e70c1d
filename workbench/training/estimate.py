"""Estimating a tracker's precision and hit rate from the user's tags.

See ``workbench.training.performance`` for what the figures mean.

The reference estimate reproduces the reference product: 10 stratified 90/10 splits of the
YES/NO tags, a model refitted on each 90%, precision and hit rate on each 10%, averaged.
It describes the *tags*, which active learning chose among sentences the model already
finds and their look-alikes, so it overstates the hit rate on the corpus.

The honest estimate speaks for the corpus (details in ``_honest``): the tags' out-of-fold
scores calibrate P(YES | score), which carries over to untagged sentences because tags are
chosen by what sentences look like, never by their label; summed over the corpus, where
the final model's detections are known exactly, that gives TP / FP / FN totals. Optionally
(``design_correction``) the stratified random tags the planner draws with known inclusion
probabilities add a Horvitz-Thompson correction of the calibration's residual.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import binomtest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from workbench.training.performance import Figure, PerformanceEstimate


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _refit_template(model):
    # Refits hold the final model's threshold (on the raw scale) instead of re-choosing it
    # by inner cross-validation: 5x cheaper, which keeps a round under a second.
    m = clone(model)
    if hasattr(model, "threshold_") and "threshold" in m.get_params():
        m.set_params(threshold=float(model.threshold_))
    return m


def _fit(template, X, y, example_embeddings):
    m = clone(template)
    if example_embeddings is not None:
        return m.fit(X, y, example_embeddings=example_embeddings)
    return m.fit(X, y)


def _detect(m, X) -> np.ndarray:
    return np.asarray(m.decision_function(X)) > 0


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
    example_embeddings: np.ndarray | None = None,
    n_repeats: int = 10,
    test_size: float = 0.1,
    n_folds: int = 10,
    confidence: float = 0.9,
    n_draws: int = 200,
    design_correction: bool = False,
    random_state: int = 0,
) -> PerformanceEstimate:
    """Estimate the performance of ``model`` (fitted on the YES/NO tags) on its corpus.

    All arrays are per row of the tracker's scope (N rows, the Pool's order):
    labels: 1 YES, 0 NO, -1 untagged or NOT SURE.
    excluded: rows shown to the user (so a -1 among them is NOT SURE); default labels>=0.
    tag_round: the round each row was shown in (1-based), -1 if never; needed with
        inclusion_prob for the honest estimate.
    inclusion_prob: the planner's inclusion probability for rows drawn by a probability
        sampler, NaN for other picks and untagged rows.
    scores: the model's decision values on all rows (computed when omitted); a row is
        detected when its score is > 0.
    call_ids: for the number of calls with a detection.
    example_embeddings: passed to refits (``fit(..., example_embeddings=)``), as in the
        final model.
    """
    X = np.asarray(embeddings)
    labels = np.asarray(labels).astype(np.int8)
    N = len(labels)
    excluded = labels >= 0 if excluded is None else (np.asarray(excluded, bool) | (labels >= 0))
    not_sure = excluded & (labels < 0)
    tagged = np.flatnonzero(labels >= 0)
    y = labels[tagged].astype(int)
    n_yes, n_no = int(y.sum()), int((1 - y).sum())
    if scores is None:
        scores = np.asarray(model.decision_function(X))
    detected = np.asarray(scores) > 0
    notes: list[str] = []
    template = _refit_template(model)
    rng = np.random.default_rng(random_state)

    # --- reference: 10 x stratified 90/10 -----------------------------------------------
    ref_p = ref_r = None
    tp_all = fp_all = fn_all = 0
    repeats = 0
    if min(n_yes, n_no) >= 2 and len(y) >= 10:
        sss = StratifiedShuffleSplit(n_splits=n_repeats, test_size=test_size, random_state=random_state)
        precisions, recalls = [], []
        for tr, te in sss.split(tagged, y):
            m = _fit(template, X[tagged[tr]], y[tr], example_embeddings)
            d = _detect(m, X[tagged[te]])
            tp = int((d & (y[te] == 1)).sum())
            fp = int((d & (y[te] == 0)).sum())
            fn = int((~d & (y[te] == 1)).sum())
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
            if tp + fp:
                precisions.append(tp / (tp + fp))
            if tp + fn:
                recalls.append(tp / (tp + fn))
            repeats += 1
        if precisions:
            lo, hi = _wilson(tp_all, tp_all + fp_all, confidence)
            ref_p = Figure(float(np.mean(precisions)), lo, hi, len(y), "10x90/10 mean; Wilson on pooled counts")
        if recalls:
            lo, hi = _wilson(tp_all, tp_all + fn_all, confidence)
            ref_r = Figure(float(np.mean(recalls)), lo, hi, len(y), "10x90/10 mean; Wilson on pooled counts")
    else:
        notes.append("reference estimate needs at least 2 YES and 2 NO tags and 10 tags in all")

    # --- honest: Horvitz-Thompson over the probe samples ---------------------------------
    honest = _honest(
        X, labels, excluded, detected, np.asarray(scores, dtype=float), tagged, y, template,
        example_embeddings, tag_round, inclusion_prob, n_folds, confidence, n_draws,
        random_state, rng, notes, design_correction,
    )

    n_detected = int(detected.sum())
    n_calls = None
    if call_ids is not None:
        n_calls = int(np.unique(np.asarray(call_ids)[detected]).size)

    h_p = h_r = h_f1 = true_det = positives = None
    htp = hfp = hfn = None
    n_probe = n_probe_rounds = 0
    if honest is not None:
        (h_p, h_r, h_f1, positives, (htp, hfp, hfn), n_probe, n_probe_rounds) = honest
        true_det = Figure(
            h_p.value * n_detected, h_p.low * n_detected, h_p.high * n_detected,
            h_p.n, "honest precision x detected sentences",
        )

    return PerformanceEstimate(
        n_yes=n_yes, n_no=n_no, n_not_sure=int(not_sure.sum()), population=N,
        confidence=confidence,
        reference_precision=ref_p, reference_hit_rate=ref_r,
        reference_repeats=repeats, reference_test_size=test_size,
        reference_tp=tp_all, reference_fp=fp_all, reference_fn=fn_all,
        honest_precision=h_p, honest_hit_rate=h_r, honest_f1=h_f1,
        n_probe_tags=n_probe, n_probe_rounds=n_probe_rounds,
        honest_tp=htp, honest_fp=hfp, honest_fn=hfn,
        detected_sentences=n_detected, detected_calls=n_calls,
        estimated_true_detections=true_det, estimated_positives=positives,
        notes=tuple(notes),
    )


def _platt(s: np.ndarray, y: np.ndarray, iters: int = 30, ridge: float = 0.1,
           start: tuple[float, float] = (1.0, 0.0)) -> tuple[float, float]:
    """P(y=1 | score) = sigmoid(a*s + b) by Newton's method: two parameters, no sklearn
    overhead, so it can be refitted for every bootstrap replicate (warm-started)."""
    a, b = start
    Z = np.column_stack([s, np.ones_like(s)])
    for _ in range(iters):
        p = expit(a * s + b)
        g = Z.T @ (p - y) + ridge * np.array([a, 0.0])
        W = p * (1 - p)
        H = (Z * W[:, None]).T @ Z + ridge * np.diag([1.0, 0.0]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(H, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def _honest(X, labels, excluded, detected, scores, tagged, y, template, E, tag_round,
            inclusion_prob, n_folds, confidence, n_draws, random_state, rng, notes,
            design_correction):
    """Model-assisted estimate of the corpus's TP / FP / FN.

    Active-learning tags are chosen by what the sentences look like (and earlier answers),
    never by their label, so P(YES | score) is the same for tagged and untagged sentences:
    the selection is biased in *which* scores get tagged, not in what a given score means.
    A calibration map q(score) fitted on out-of-fold scores of all tags therefore carries
    over to the untagged corpus, where the final model's detections are known exactly:

        TP = sum over tagged detected of y  + sum over untagged detected of q(score)
        FN = sum over tagged missed of y    + sum over untagged missed of q(score)

    With ``design_correction`` the stratified random tags add a Horvitz-Thompson estimate
    of the calibration's residual (y - q) over the corpus, which removes any bias of the
    calibration at the price of variance. The interval is a bootstrap over the tags
    (refitting the calibration) and, with the correction, over the random tags.
    """
    k = min(n_folds, int(min(y.sum(), (1 - y).sum())))
    if k < 2:
        notes.append("no honest estimate: needs at least 2 YES and 2 NO tags")
        return None
    oof = np.empty(len(y))
    folds = StratifiedKFold(k, shuffle=True, random_state=random_state)
    for tr, te in folds.split(tagged, y):
        m = _fit(template, X[tagged[tr]], y[tr], E)
        oof[te] = np.asarray(m.decision_function(X[tagged[te]]))

    untagged = ~excluded
    # Histograms of the untagged scores: sums of q over 100,000 rows in 2 x 256 terms.
    def hist(mask):
        v = scores[mask]
        if v.size == 0:
            return np.zeros(0), np.zeros(0)
        counts, edges = np.histogram(v, bins=256)
        return (edges[:-1] + edges[1:]) / 2, counts.astype(float)
    c_det, n_det = hist(untagged & detected)
    c_mis, n_mis = hist(untagged & ~detected)
    yes, no = labels == 1, labels == 0
    known = np.array([(yes & excluded & detected).sum(), (no & excluded & detected).sum(),
                      (yes & excluded & ~detected).sum()], dtype=float)

    probe_rows = probe_w = probe_round = None
    n_rounds = 0
    if design_correction and tag_round is not None and inclusion_prob is not None:
        pi = np.asarray(inclusion_prob, dtype=float)
        tr_ = np.asarray(tag_round)
        probe = (labels >= 0) & np.isfinite(pi) & (pi > 0) & (tr_ >= 1)
        if probe.any():
            pos_in_tagged = {row: j for j, row in enumerate(tagged)}
            probe_rows = np.array([pos_in_tagged[r] for r in np.flatnonzero(probe)])
            probe_w = 1.0 / pi[probe]
            rounds_ = tr_[probe]
            uniq = np.unique(rounds_)
            n_rounds = len(uniq)
            probe_round = np.searchsorted(uniq, rounds_)
        else:
            notes.append("no tags from a random sampler: calibration-only estimate")

    full_fit = _platt(oof, y.astype(float))

    def totals(idx):
        a, b = _platt(oof[idx], y[idx].astype(float), start=full_fit)
        q = lambda s: expit(a * s + b)  # noqa: E731
        tp = known[0] + n_det @ q(c_det)
        fp = known[1] + n_det @ (1 - q(c_det))
        fn = known[2] + n_mis @ q(c_mis)
        if probe_rows is not None:
            pr = probe_rows
            resid = (y[pr] - q(oof[pr])) * probe_w
            det_p = oof[pr] > 0
            # Average the rounds' residual totals: each round's sample speaks for the corpus.
            corr_det = np.bincount(probe_round, resid * det_p, minlength=n_rounds).mean()
            corr_mis = np.bincount(probe_round, resid * ~det_p, minlength=n_rounds).mean()
            tp, fp, fn = tp + corr_det, fp - corr_det, fn + corr_mis
        return max(tp, 0.0), max(fp, 0.0), max(fn, 0.0)

    all_idx = np.arange(len(y))
    t = np.array(totals(all_idx))
    pos_idx, neg_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = []
    for _ in range(n_draws):
        idx = np.concatenate([rng.choice(pos_idx, pos_idx.size), rng.choice(neg_idx, neg_idx.size)])
        draws.append(totals(idx))
    T = np.array(draws)
    a_ = (1 - confidence) / 2
    n_used = int(len(y))
    method = "calibrated out-of-fold scores over the corpus" + (
        f" + Horvitz-Thompson residuals of {len(probe_rows)} random tags" if probe_rows is not None else ""
    ) + "; bootstrap interval"

    def fig(num, den, pn, pd):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = num / den
        v = v[np.isfinite(v)]
        value = float(pn / pd) if pd > 0 else float("nan")
        if v.size == 0:
            return Figure(value, 0.0, 1.0, n_used, method)
        lo, hi = np.quantile(v, [a_, 1 - a_])
        if np.isfinite(value):
            lo, hi = min(lo, value), max(hi, value)
        return Figure(value, float(lo), float(hi), n_used, method)

    tp, fp, fn = T[:, 0], T[:, 1], T[:, 2]
    prec = fig(tp, tp + fp, t[0], t[0] + t[1])
    rec = fig(tp, tp + fn, t[0], t[0] + t[2])
    f1 = fig(2 * tp, 2 * tp + fp + fn, 2 * t[0], 2 * t[0] + t[1] + t[2])
    plo, phi = np.quantile(tp + fn, [a_, 1 - a_])
    pv = float(t[0] + t[2])
    positives = Figure(pv, float(min(plo, pv)), float(max(phi, pv)), n_used, method)
    n_probe = 0 if probe_rows is None else len(probe_rows)
    return prec, rec, f1, positives, (float(t[0]), float(t[1]), float(t[2])), n_probe, n_rounds


def sample_detections(scores: np.ndarray, threshold: float = 0.0, n: int = 20,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """``n`` detections spread over the score range above ``threshold``, highest first.

    The detections are cut into n bins of equal count by score and one row is drawn from
    each, so the user sees the sure hits *and* the borderline ones, in proportion to how
    many of each the tracker makes. Returns all detections when there are fewer than n.
    """
    rng = np.random.default_rng() if rng is None else rng
    scores = np.asarray(scores, dtype=float)
    det = np.flatnonzero(scores > threshold)
    if det.size <= n:
        return det[np.argsort(-scores[det], kind="stable")]
    ranked = det[np.argsort(-scores[det], kind="stable")]
    edges = np.linspace(0, ranked.size, n + 1).round().astype(int)
    picks = np.array([ranked[rng.integers(edges[i], edges[i + 1])] for i in range(n)])
    return picks
