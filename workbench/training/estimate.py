"""Estimating a tracker's precision and hit rate from the user's tags.

See ``workbench.training.performance`` for what the figures mean. The honest estimator, in
short: in each round the planner draws a stratified random sample ("probe") from the rows
not yet shown, with known inclusion probabilities pi. For that round, the corpus is

    rows shown before the round, and the round's non-random picks  -> counted as they are
    the rest                                                       -> the probe, weight 1/pi

which gives a Horvitz-Thompson estimate of the corpus's TP / FP / FN totals per round; the
rounds' estimates are averaged. Probe rows are judged with out-of-fold detections (a model
that did not see them), since they stand in for the sentences no model was trained on;
rows counted as themselves use the final model's detections, which is what the tracker
does on them. NOT SURE answers in a probe are treated as non-response within their
stratum. The interval draws each stratum's cell proportions from a Dirichlet posterior, so
a stratum whose few sampled rows were all negative still carries its uncertainty.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import binomtest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from workbench.training.performance import Figure, PerformanceEstimate

# Dirichlet prior mass per (label, detected) cell of a probe stratum: small, so it matters
# only where a stratum has few sampled rows, which is where the uncertainty is.
PRIOR_PER_CELL = 0.25


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
    n_draws: int = 2000,
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
        X, labels, excluded, detected, tagged, y, template, example_embeddings,
        tag_round, inclusion_prob, n_folds, confidence, n_draws, random_state, rng, notes,
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


def _honest(X, labels, excluded, detected, tagged, y, template, E, tag_round, inclusion_prob,
            n_folds, confidence, n_draws, random_state, rng, notes):
    if tag_round is None or inclusion_prob is None:
        notes.append("no honest estimate: tag rounds and inclusion probabilities not given")
        return None
    tag_round = np.asarray(tag_round)
    pi = np.asarray(inclusion_prob, dtype=float)
    probe = excluded & np.isfinite(pi) & (pi > 0) & (tag_round >= 1)
    if not probe.any():
        notes.append("no honest estimate: no tags came from a random sampler")
        return None

    # Out-of-fold detections for every YES/NO tag (used for the probe rows).
    oof = detected.copy()
    k = min(n_folds, int(min(y.sum(), (1 - y).sum())))
    if k >= 2:
        folds = StratifiedKFold(k, shuffle=True, random_state=random_state)
        for tr, te in folds.split(tagged, y):
            m = _fit(template, X[tagged[tr]], y[tr], E)
            oof[tagged[te]] = _detect(m, X[tagged[te]])
    else:
        notes.append("too few tags of one class for out-of-fold detections; probe rows judged in-sample")

    yes, no = labels == 1, labels == 0
    answered = yes | no
    rounds = np.unique(tag_round[probe])
    # cells: 0 TP (yes, detected), 1 FP, 2 FN, 3 TN
    def cells(mask, det):
        return np.array([(mask & yes & det).sum(), (mask & no & det).sum(),
                         (mask & yes & ~det).sum(), (mask & no & ~det).sum()], dtype=float)

    known_parts, groups = [], []  # per round: known cells; list of (round_idx, N_g, counts)
    for ri, r in enumerate(rounds):
        shown_before = excluded & (tag_round >= 0) & (tag_round < r)
        certain_now = excluded & (tag_round == r) & ~probe
        known_parts.append(cells((shown_before | certain_now) & answered, detected))
        in_round = probe & (tag_round == r)
        for p in np.unique(pi[in_round]):
            g = in_round & (pi == p)
            size = g.sum() / p  # stratum size: drawn rows / probability
            counts = cells(g & answered, oof)
            groups.append((ri, size, counts))
    R = len(rounds)
    known = np.array(known_parts)

    def totals(props):  # props: (G, 4) cell proportions per group -> (4,) averaged totals
        per_round = known.copy()
        for (ri, size, _), prop in zip(groups, props):
            per_round[ri] += size * prop
        return per_round.mean(axis=0)

    point_props = []
    for _, _, c in groups:
        s = c.sum()
        # A stratum whose probe rows were all NOT SURE: fall back to the prior's shape.
        point_props.append(c / s if s else np.full(4, 0.25))
        if not s:
            notes.append("a probe stratum had only NOT SURE answers")
    t = totals(point_props)

    alpha = np.array([c for _, _, c in groups]) + PRIOR_PER_CELL
    draws = np.stack([rng.dirichlet(a, size=n_draws) for a in alpha], axis=1)  # (D, G, 4)
    sizes = np.array([s for _, s, _ in groups])
    rix = np.array([ri for ri, _, _ in groups])
    per_round = np.repeat(known[None], n_draws, axis=0)  # (D, R, 4)
    np.add.at(per_round, (slice(None), rix), sizes[None, :, None] * draws)
    T = per_round.mean(axis=1)  # (D, 4)

    a = (1 - confidence) / 2
    n_probe = int((probe & answered).sum())

    def fig(num, den, point_num, point_den, what):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(den > 0, num / den, np.nan)
        v = v[np.isfinite(v)]
        value = point_num / point_den if point_den > 0 else float("nan")
        if v.size == 0:
            return Figure(value, 0.0, 1.0, n_probe, what)
        lo, hi = np.quantile(v, [a, 1 - a])
        if np.isfinite(value):
            lo, hi = min(lo, value), max(hi, value)
        return Figure(float(value), float(lo), float(hi), n_probe, what)

    method = f"Horvitz-Thompson over {R} round(s) of stratified random tags; Dirichlet interval"
    tp, fp, fn = T[:, 0], T[:, 1], T[:, 2]
    prec = fig(tp, tp + fp, t[0], t[0] + t[1], method)
    rec = fig(tp, tp + fn, t[0], t[0] + t[2], method)
    f1 = fig(2 * tp, 2 * tp + fp + fn, 2 * t[0], 2 * t[0] + t[1] + t[2], method)
    pos_draws = tp + fn
    plo, phi = np.quantile(pos_draws, [a, 1 - a])
    pv = float(t[0] + t[2])
    positives = Figure(pv, float(min(plo, pv)), float(max(phi, pv)), n_probe, method)
    return prec, rec, f1, positives, (float(t[0]), float(t[1]), float(t[2])), n_probe, R


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
