"""Estimating a tracker's precision and hit rate from the user's tags.

See ``workbench.training.performance`` for what the figures mean.

Reference estimate: the reference product's figures, 10 stratified 90/10 splits of the
YES/NO tags, a model refitted on each 90%, precision and hit rate on each 10%, averaged.
It describes the *tags*, which active learning chose among sentences the model already
finds and their look-alikes, so it overstates the hit rate on the corpus.

Honest estimate: corpus totals TP (detected and YES) and FN (missed and YES) of the final
model; FP = detected - TP, since the detections D are known exactly. Precision = TP / D,
hit rate = TP / (TP + FN).

Default (``method="banded"``): post-stratification with a Bayesian posterior per band.

* Every shown row with a YES/NO counts as itself. The other rows (untagged or NOT SURE)
  are cut into bands by the final score: the detected rows (one band by default,
  ``detected_bands``) and, below the threshold, bands of doubling size by rank [0, D),
  [D, 2D), [2D, 4D), ... (D: detected rows) - the geometry of the planner's stratified
  probe, so every band holds some probe rows. U_b: the band's unknown rows.
* Band b's positive rate p_b is learned from the probe rows whose out-of-fold score falls
  in it (the final model was trained on them, so its own score would move YES rows up),
  weighted by 1/pi_i times the round's weight: Hajek rate k/n with the Kish effective size
  n = (sum w)^2 / sum w^2 as a binomial likelihood p^k (1-p)^(n-k).
* Prior: logit p_b ~ Normal(mu_b, ``band_prior_sd``^2), with mu_b set so that the prior's
  *mean* is qbar_b, the calibrated P(YES | score) below averaged over the band's scores
  (``prior_centre="mean"``; centring the logit on logit(qbar_b) puts the median there and
  the mean about 3x higher for a small rate at sd 1.5, which summed over the large bands
  below the threshold overstated the missed positives: measured hit-rate bias -0.075, now
  -0.008). The calibration supplies the
  shape the probe cannot see in a band it barely reaches; the sd says how far the truth may
  stray from it (measured: 1.5 covers, 0.5 does not). ``band_prior_sd=None``: a Jeffreys
  Beta(1/2, 1/2) prior instead (no extrapolation: far too low in deep bands).
* Monte Carlo: each draw takes one bootstrap replicate of the calibration (the prior's
  uncertainty), p_b from its posterior on a logit grid, and the band's realised count
  Binomial(U_b, p_b) (the truth is one realisation); TP and FN are the known tags plus the
  bands' counts. Value: posterior means of TP and FN; interval: 5% and 95% quantiles of the
  draws of each ratio. Tags chosen by other strategies are not counted in bands
  (``band_uses_all_tags``): measured, they bias precision up by ~0.1 even within a band.

Units (``groups=``): the Tracker passes each sentence's speaker turn, and the estimator
then runs with turns as its rows (``_turn_arrays``): a turn's score is its best sentence's,
it is a positive when a tagged sentence of it is YES, and its probe weight is 1 / the chance
that the round's sample reached the turn through any of its sentences (the stratified
sampler states that chance when its pool has groups). That is the level the quality
benchmark's truth (utterance labels) and its F1 use.

Slope prior (``slope_prior=(mean, sd)``, off by default): a normal prior on the
calibration's slope (log-rank scale) instead of the ridge towards a flat one. (2.5, 0.5)
puts the hit rate within 0.10 on 73% of benchmark runs instead of 61%, on both corpora and
on held-out seeds, but it is a tight prior learnt from two corpora; it stays an option.

Also measured and kept as options, not defaults: ``prior_from="point"`` (every draw's prior
from the point calibration rather than a bootstrap replicate: intervals too narrow),
``prior_centre="median"`` (the earlier centring) and ``score_scale="raw"``.

Scale and point (``score_scale="rank"``, ``point="median"``): the calibration is a
logistic map of the log-rank of a score (doublings of rank below the threshold) rather
than of the raw score, and the value shown is the posterior median of each ratio; both
measured better on the benchmark (hit rate within 0.10 of the truth on 61% of runs, 58%
on the raw scale, 47% with the posterior mean; see benchmarks/results/tracker_quality.md,
"the estimate by speaker turn").

The estimators below remain as options (``method=``):

* Every shown row counts as itself (its YES/NO against the final model's detection).
* Every untagged row i counts as q(s_i), a calibrated P(YES | score) at its final score.
  Sums of q over 100,000 rows are taken over 1,024-bin score histograms.
* The calibration q is a logistic map of out-of-fold scores (so no row's score depends on
  its own label). Tags chosen by similarity or as near misses are chosen *for looking
  like positives*, so at a low score they are YES more often than an untagged row with
  the same score; fitted on them, q overstates the positives the model misses (measured:
  hit rate -0.09 on average). The missed side (s <= 0) is therefore calibrated on the
  probe only (``calibration="probe_only"``): the stratified random tags, whose selection
  depends on a model's score alone. The detected side keeps all tags: there the planner's
  top-scored picks are also chosen by score alone and the probe is thin.
  ``calibration="probe"`` instead fits probe-specific slope and intercept shrunk towards
  the shared ones; ``"plain"`` uses all tags everywhere.
* ``method="difference"`` adds the design-based correction: round r's probe s_r was drawn
  from the rows still available to it, A_r, with known inclusion probabilities pi_i, so

      T_r = sum_{shown} z_i + sum_{untagged} q_i
            + sum_{i in s_r} (z_i - q_i) / pi_i  -  sum_{i in A_r, shown} (z_i - q_i)

  is unbiased for the total of z (z = YES x detected, or YES x missed) whatever q is (the
  Horvitz-Thompson term estimates the calibration's error over A_r; rows of A_r shown
  since then already count as themselves, so their error is taken out again). For probe
  rows, z uses the detection of a model not trained on them (the out-of-fold score): the
  final model detects nearly every tag it was trained on. Rounds are averaged with weights
  fixed by their probe sizes. NOT SURE answers in a probe are non-response: the round's
  answered probe rows are weighted up by answered/drawn. ``method="ht"`` is the same with
  q = 0. Both are unbiased (tests/training/test_estimate.py) but, with ~9 probe tags a
  round, rarely see the positives the model misses deep in the ranking: on the benchmark
  their hit rate is within 0.10 of the truth far less often than the calibrated estimate,
  which (``method="model"``) uses the probe through q only.
* Intervals: a bootstrap over the tags, resampled within (YES/NO) x (probe or not) groups,
  refitting the calibration each time; each round's probe is also resampled with
  replacement for the difference estimator (the Hansen-Hurwitz view, wider than the
  stratified design); and the untagged rows' outcomes are drawn (normal approximation of
  a sum of Bernoulli(q)), because the truth is one realisation, not its expectation. The
  out-of-fold models are not refitted per replicate (cost); percentile intervals.
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


def held_out_scores(model, embeddings, labels, *, example_embeddings=None, n_folds: int = 10,
                    random_state: int = 0) -> np.ndarray | None:
    """Per row: for a tagged row (labels 1 or 0), the decision value of ``model`` refitted on
    the other tags (k-fold, the model's threshold kept); NaN for untagged rows. None while
    there are fewer than 2 YES and 2 NO tags. With ``estimate_performance``'s n_folds,
    example_embeddings and random_state it is the estimate's own out-of-fold values, which a
    caller can pass it (``held_out=``) to spare the refits."""
    X = np.asarray(embeddings)
    labels = np.asarray(labels)
    tagged = np.flatnonzero(labels >= 0)
    oof = _oof_scores(X, tagged, labels[tagged].astype(int), _refit_template(model), example_embeddings,
                      n_folds, random_state)
    if oof is None:
        return None
    out = np.full(len(labels), np.nan)
    out[tagged] = oof
    return out


def held_out_detections(model, embeddings, labels, **kw) -> np.ndarray:
    """For each tagged row, whether ``model`` detects it when refitted on the other tags
    (``held_out_scores`` > 0); False for untagged rows, and everywhere without a fit."""
    return detected_where(held_out_scores(model, embeddings, labels, **kw), len(labels))


def detected_where(held_out: np.ndarray | None, n: int) -> np.ndarray:
    """``held_out > 0`` with NaN (untagged) and a missing array read as not detected."""
    if held_out is None:
        return np.zeros(n, bool)
    return np.nan_to_num(held_out, nan=-np.inf) > 0


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
    groups: np.ndarray | None = None,
    example_embeddings: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    n_repeats: int = 10,
    test_size: float = 0.1,
    n_folds: int = 10,
    confidence: float = 0.9,
    n_draws: int = 200,
    method: str = "banded",
    calibration: str = "probe_only",
    calibration_ridge: float = 1.0,
    split_calibration: bool = True,
    band_prior_sd: float | None = 1.5,
    detected_bands: int = 1,
    band_uses_all_tags: bool = False,
    point: str = "median",
    prior_from: str = "draws",
    score_scale: str = "rank",
    prior_centre: str = "mean",
    slope_prior: tuple[float, float] | None = None,
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
    groups: the speaker turn (utterance) of each row. With groups the honest estimate
        counts mentions: a turn is detected when any of its sentences is, and is a
        positive when any of its tagged sentences is YES (see ``_turn_arrays``).
    example_embeddings: passed to refits (``fit(..., example_embeddings=)``), as in the
        final model.
    held_out: ``held_out_scores(model, embeddings, labels, ...)`` with the same n_folds,
        example_embeddings and random_state, when the caller has it: the tags' out-of-fold
        values are then not refitted here.
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
    scores = np.asarray(scores, dtype=float)
    oof = (held_out[tagged] if held_out is not None
           else _oof_scores(X, tagged, y, template, example_embeddings, n_folds, random_state))
    unit = "sentence"
    n_detected = int(detected.sum())
    n_units_detected = n_detected
    if oof is None:
        notes.append("no honest estimate: needs at least 2 YES and 2 NO tags")
        honest = None
    else:
        h_args = (labels, excluded, detected, scores, tagged, y, oof, tag_round, inclusion_prob)
        if groups is not None:
            unit = "turn"
            h_args = _turn_arrays(np.asarray(groups), *h_args)
            n_units_detected = int(h_args[2].sum())
        if score_scale == "rank":
            h_args = list(h_args)
            ref = np.sort(h_args[3])
            h_args[3] = _log_rank(h_args[3], ref)
            h_args[6] = _log_rank(h_args[6], ref)
            h_args = tuple(h_args)
        honest = _honest(
            *h_args, confidence, n_draws, rng, notes, method, calibration, calibration_ridge,
            split_calibration,
            band_prior_sd, detected_bands, band_uses_all_tags, point, prior_from, prior_centre,
            slope_prior,
        )

    n_calls = None
    if call_ids is not None:
        n_calls = int(np.unique(np.asarray(call_ids)[detected]).size)

    h_p = h_r = h_f1 = true_det = positives = None
    htp = hfp = hfn = None
    n_probe = n_probe_rounds = 0
    if honest is not None:
        (h_p, h_r, h_f1, positives, (htp, hfp, hfn), n_probe, n_probe_rounds) = honest
        true_det = Figure(
            h_p.value * n_units_detected, h_p.low * n_units_detected, h_p.high * n_units_detected,
            h_p.n, f"honest precision x detected {unit}s",
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
        unit=unit, detected_units=n_units_detected,
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


def _logistic(Z: np.ndarray, y: np.ndarray, ridge: np.ndarray, start: np.ndarray | None = None,
              iters: int = 30, centre: np.ndarray | None = None) -> np.ndarray:
    """Ridge-penalised logistic regression by Newton's method on a few columns; the ridge
    pulls each coefficient towards ``centre`` (default 0): a normal prior."""
    beta = np.zeros(Z.shape[1]) if start is None else np.array(start, dtype=float)
    c = np.zeros(Z.shape[1]) if centre is None else np.asarray(centre, dtype=float)
    R = np.diag(ridge) + 1e-9 * np.eye(Z.shape[1])
    for _ in range(iters):
        p = expit(Z @ beta)
        g = Z.T @ (p - y) + R @ (beta - c)
        H = (Z * (p * (1 - p))[:, None]).T @ Z + R
        step = np.linalg.solve(H, g)
        beta = beta - step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _log_rank(values: np.ndarray, ref_sorted: np.ndarray) -> np.ndarray:
    """Scores on a log-rank scale: -log2 of (rows scoring at least as high + 1) over
    (detected rows + 1); 0 at the threshold, -1 one doubling of rank below it."""
    n = ref_sorted.size
    d = n - np.searchsorted(ref_sorted, 0.0, side="right")
    r = n - np.searchsorted(ref_sorted, values, side="left")
    return -np.log2((r + 1.0) / (d + 1.0))


def _oof_scores(X, tagged, y, template, E, n_folds, random_state):
    """Out-of-fold decision values of the tags (None without 2 YES and 2 NO)."""
    k = min(n_folds, int(min(y.sum(), (1 - y).sum()))) if len(y) else 0
    if k < 2:
        return None
    oof = np.empty(len(y))
    folds = StratifiedKFold(k, shuffle=True, random_state=random_state)
    for tr, te in folds.split(tagged, y):
        m = _fit(template, X[tagged[tr]], y[tr], E)
        oof[te] = np.asarray(m.decision_function(X[tagged[te]]))
    return oof


def _turn_arrays(groups, labels, excluded, detected, scores, tagged, y, oof, tag_round, inclusion_prob):
    """The honest estimator's inputs with speaker turns as the rows.

    A turn's score is its best sentence's, so it is detected when any sentence is; it is
    shown when any sentence was, and a positive when any tagged sentence is YES (else NO
    when some are NO). Its auxiliary score (what the estimator calibrates) takes the tagged
    sentences' out-of-fold values and the others' final scores. A turn drawn by the probe
    carries the round and inclusion probability of that draw (with groups in its pool, the
    stratified sampler states for every sentence the chance that its turn was reached).
    """
    _, inv = np.unique(groups, return_inverse=True)
    G = int(inv.max()) + 1 if inv.size else 0
    s_u = np.full(G, -np.inf)
    np.maximum.at(s_u, inv, scores)
    shown_u = np.zeros(G, bool)
    shown_u[inv[excluded]] = True
    labels_u = np.full(G, -1, np.int8)
    np.maximum.at(labels_u, inv[tagged], y.astype(np.int8))
    aux = scores.copy()
    aux[tagged] = oof
    aux_u = np.full(G, -np.inf)
    np.maximum.at(aux_u, inv, aux)
    tagged_u = np.flatnonzero(labels_u >= 0)
    round_u = pi_u = None
    if tag_round is not None and inclusion_prob is not None:
        tr = np.asarray(tag_round).astype(np.int64)
        pi = np.asarray(inclusion_prob, dtype=float)
        round_u = np.full(G, np.iinfo(np.int64).max)
        has_round = excluded & (tr >= 0)
        np.minimum.at(round_u, inv[has_round], tr[has_round])
        round_u[round_u == np.iinfo(np.int64).max] = -1
        pi_u = np.full(G, np.nan)
        probe = excluded & np.isfinite(pi) & (pi > 0) & (tr >= 1)
        # A turn drawn twice (its best sentence, then another in a later round) keeps the
        # first draw; later draws are of a turn already known.
        for i in np.flatnonzero(probe)[np.argsort(-tr[probe], kind="stable")]:
            round_u[inv[i]], pi_u[inv[i]] = tr[i], pi[i]
    return (labels_u, shown_u, s_u > 0, s_u, tagged_u, labels_u[tagged_u].astype(int),
            aux_u[tagged_u], round_u, pi_u)


def _honest(labels, excluded, detected, scores, tagged, y, oof, tag_round, inclusion_prob,
            confidence, n_draws, rng, notes, method, calibration="probe", calibration_ridge=1.0,
            split_calibration=True,
            band_prior_sd=1.0, detected_bands=3, band_uses_all_tags=True, point="median",
            prior_from="draws", prior_centre="mean", slope_prior=None):
    """Corpus totals TP, FP, FN of the final model's detections, with bootstrap intervals.

    Rows are sentences, or speaker turns (``_turn_arrays``); ``oof`` holds the tags'
    out-of-fold scores. See the module docstring for the estimator.
    """
    N = len(labels)

    # The auxiliary score of a row: the final model's for rows it was not trained on, the
    # out-of-fold one for tags, so that no row's auxiliary value depends on its own label.
    shown = np.flatnonzero(excluded)
    labelled_shown = labels[shown] >= 0
    aux_shown = scores[shown].copy()
    pos_in_tagged = np.full(N, -1)
    pos_in_tagged[tagged] = np.arange(len(tagged))
    aux_shown[labelled_shown] = oof[pos_in_tagged[shown[labelled_shown]]]
    det_shown = detected[shown]
    y_shown = np.where(labelled_shown, labels[shown], 0).astype(float)
    # What a probe row says about the rows it stands for: whether a model *not* trained on
    # it detects it. The final model detects nearly every tag it was trained on, so its own
    # detections of probe rows would claim there is nothing left to miss.
    det_pop = aux_shown > 0

    # Untagged rows enter only through sums of q(score): 2 histograms of 1024 bins.
    untagged = ~excluded
    bins = np.histogram_bin_edges(scores[untagged] if untagged.any() else scores, bins=1024)
    centres = (bins[:-1] + bins[1:]) / 2
    n_det = np.histogram(scores[untagged & detected], bins=bins)[0].astype(float)
    n_mis = np.histogram(scores[untagged & ~detected], bins=bins)[0].astype(float)

    # The probe: rows drawn by a probability sampler, grouped by round. A round's sample
    # speaks for the rows that were still available to it: untagged rows, rows shown in
    # later rounds, and the round's own probe rows (NOT SURE ones are non-response, made
    # up for by weighting the round's answered probe rows up).
    rounds = []
    if method != "calibration" and tag_round is not None and inclusion_prob is not None:
        pi_all = np.asarray(inclusion_prob, dtype=float)
        tr_all = np.asarray(tag_round)
        tr_shown, pi_shown = tr_all[shown], pi_all[shown]
        is_probe = np.isfinite(pi_shown) & (pi_shown > 0) & (tr_shown >= 1)
        for r in np.unique(tr_shown[is_probe]):
            probe_r = is_probe & (tr_shown == r)
            answered = probe_r & labelled_shown
            if not answered.any():
                continue
            # Outside round r's population: rows shown earlier, and its non-probe picks.
            outside = (tr_shown >= 0) & ((tr_shown < r) | ((tr_shown == r) & ~probe_r))
            outside |= tr_shown < 0  # shown with no round on record: cannot have been drawn
            inside_shown = ~outside
            w = np.where(answered, 1.0 / np.where(is_probe, pi_shown, 1.0), 0.0)
            w *= probe_r.sum() / answered.sum()
            rounds.append((inside_shown, w, int(answered.sum())))
        if not rounds:
            notes.append("no answered tags from a random sampler: calibration-only estimate")
    n_probe = int(sum(n for *_, n in rounds))
    use_probe = bool(rounds) and method in ("difference", "ht")
    banded = method == "banded"
    if banded and not rounds:
        method = "model"
    if method in ("model", "banded"):
        method = "calibration"  # the probe only enters through the calibration
    # Rounds weigh by their probe size, fixed by the design, never by the answers.
    round_w = np.array([n for *_, n in rounds], dtype=float)
    round_w = round_w / round_w.sum() if rounds else round_w

    def totals(a, b, probe_draws=None, noise=False, split=None):
        """(TP, FN) for calibration sigmoid(a s + b) and, per round, probe draw counts.

        With ``noise`` the untagged rows' YES/NO outcomes are drawn too (normal
        approximation of their sum): the truth is a realisation, not the expectation."""
        if method == "ht":
            q_shown = np.zeros(len(shown))
            q_det = q_mis = 0.0
        else:
            q_shown = expit(a * aux_shown + b)
            qc = expit(a * centres + b)
            q_det, q_mis = n_det @ qc, n_mis @ qc
            if split is not None:
                # Detected side from every tag: top-scored picks are chosen by score alone.
                a2, b2 = split
                q_shown = np.where(aux_shown > 0, expit(a2 * aux_shown + b2), q_shown)
                qc_det = expit(a2 * centres + b2)
                q_det = n_det @ qc_det
                qc = np.where(centres > 0, qc_det, qc)
            if noise:
                v = qc * (1 - qc)
                q_det += rng.normal() * np.sqrt(n_det @ v)
                q_mis += rng.normal() * np.sqrt(n_mis @ v)
        # z: the row is a positive (TP when detected, FN when missed); m: its prediction.
        z = np.where(labelled_shown, y_shown, q_shown)
        # Shown rows count as themselves, untagged rows as their prediction.
        tp0 = (z * det_shown).sum() + q_det
        fn0 = (z * ~det_shown).sum() + q_mis
        if not use_probe:
            return tp0, fn0
        # Residuals (truth - prediction) of labelled rows as members of the population.
        q_pop = q_shown
        rt = np.where(labelled_shown, (y_shown - q_pop) * det_pop, 0.0)
        rf = np.where(labelled_shown, (y_shown - q_pop) * ~det_pop, 0.0)
        tp = fn = 0.0
        for j, (inside, w, _) in enumerate(rounds):
            ww = w if probe_draws is None else w * probe_draws[j]
            # Horvitz-Thompson: the prediction's error over round j's population, less the
            # part of it on rows since shown, which already count as themselves.
            tp += round_w[j] * (ww @ rt - rt[inside].sum())
            fn += round_w[j] * (ww @ rf - rf[inside].sum())
        return tp0 + tp, fn0 + fn

    # Calibration P(YES | score). Active-learning tags over-represent positives at low
    # scores (near misses are chosen for looking like positives), so with probe_calibration
    # the probe rows get their own slope and intercept, shrunk towards the shared ones by a
    # ridge: the corpus is predicted with the probe's terms, which describe random rows.
    is_probe_tag = np.zeros(len(y), bool)
    for inside, w, _ in rounds:
        is_probe_tag[pos_in_tagged[shown[w > 0]]] = True
    probe_terms = calibration in ("probe", "probe_only") and is_probe_tag.sum() >= 4
    yf = y.astype(float)
    centre = None
    if calibration == "probe_only" and probe_terms:
        Z = np.column_stack([oof, np.ones_like(oof)])[is_probe_tag]
        ridge = np.array([0.1, 0.0])
        if slope_prior is not None:
            # A normal prior on the slope instead of the ridge towards a flat calibration.
            ridge = np.array([1.0 / slope_prior[1] ** 2, 0.0])
            centre = np.array([slope_prior[0], 0.0])
        fit_rows = np.flatnonzero(is_probe_tag)
    elif probe_terms:
        Z = np.column_stack([oof, np.ones_like(oof), oof * is_probe_tag, is_probe_tag.astype(float)])
        ridge = np.array([0.1, 0.0, calibration_ridge, calibration_ridge])
        fit_rows = np.arange(len(y))
    else:
        Z = np.column_stack([oof, np.ones_like(oof)])
        ridge = np.array([0.1, 0.0])
        fit_rows = np.arange(len(y))

    def calibrate(rows, start=None):
        if method == "ht":
            return 0.0, -np.inf
        beta = _logistic(Z[rows] if Z.shape[0] == len(y) else Z[np.searchsorted(fit_rows, rows)],
                         yf[rows], ridge, start, centre=centre)
        if len(beta) == 4:
            return beta[0] + beta[2], beta[1] + beta[3], beta
        return beta[0], beta[1], beta

    if method == "ht":
        beta0 = None
        a0, b0 = 0.0, -np.inf
    else:
        a0, b0, beta0 = calibrate(fit_rows)
    plain_Z = np.column_stack([oof, np.ones_like(oof)])
    use_split = split_calibration and method != "ht"
    split0 = tuple(_logistic(plain_Z, yf, np.array([0.1, 0.0]))) if use_split else None
    tp0, fn0 = totals(a0, b0, split=split0)
    n_detected = float(detected.sum())
    # Bootstrap groups: class x (probe or not), so each replicate keeps the design's mix.
    groups = [g for g in (
        np.flatnonzero((y == c) & (is_probe_tag == p_)) for c in (0, 1) for p_ in (False, True)
    ) if g.size]
    fit_set = set(fit_rows.tolist()) if calibration == "probe_only" and probe_terms else None
    draws = []
    cal_draws = []
    for _ in range(n_draws):
        idx = np.concatenate([rng.choice(g, g.size) for g in groups])
        if method == "ht":
            a, b = 0.0, -np.inf
        else:
            rows = np.sort(idx[is_probe_tag[idx]]) if fit_set is not None else idx
            if fit_set is not None:
                beta = _logistic(np.column_stack([oof[rows], np.ones(len(rows))]), yf[rows], ridge, beta0,
                                 centre=centre)
                a, b = beta
            else:
                a, b, _ = calibrate(idx, beta0)
        probe_draws = None
        if use_probe:
            # With-replacement resampling of each round's answered probe rows: the
            # Hansen-Hurwitz view of the round, wider than its stratified design.
            probe_draws = []
            for inside, w, n_r in rounds:
                members = np.flatnonzero(w > 0)
                counts = np.bincount(rng.choice(members.size, members.size), minlength=members.size)
                c = np.zeros(len(w))
                c[members] = counts
                probe_draws.append(c)
        sp = tuple(_logistic(plain_Z[idx], yf[idx], np.array([0.1, 0.0]), split0)) if use_split else None
        cal_draws.append((a, b, sp))
        if not banded:
            draws.append(totals(a, b, probe_draws, noise=True, split=sp))
    if banded:
        probe_w = np.zeros(len(shown))
        for j, (inside, w, _) in enumerate(rounds):
            probe_w += round_w[j] * w
        T, (tp0, fn0), method_text_b = _band_totals(
            scores, detected, excluded, shown, aux_shown, det_shown, labelled_shown, y_shown,
            probe_w, cal_draws if prior_from == "draws" else [(a0, b0, split0)] * len(cal_draws),
            band_prior_sd, detected_bands, band_uses_all_tags, rng, prior_centre)
    else:
        T = np.array(draws)
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    n_used = int(len(y))
    method_text = {
        "difference": f"calibrated scores + Horvitz-Thompson correction from {n_probe} random tags",
        "ht": f"Horvitz-Thompson over {n_probe} random tags",
        "calibration": "calibrated out-of-fold scores over the corpus",
    }[method if use_probe or method == "calibration" else "calibration"] + "; bootstrap interval"
    if banded:
        method_text = method_text_b

    def clip(v):
        return np.clip(v, 0.0, None)

    def ratio(num, den, num0, den0):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.clip(num / den, 0.0, 1.0)
        v = v[np.isfinite(v)]
        value = float(np.clip(num0 / den0, 0.0, 1.0)) if den0 > 0 else float("nan")
        if point == "median" and v.size:
            value = float(np.median(v))
        if v.size == 0:
            return Figure(value, 0.0, 1.0, n_used, method_text)
        lo, hi = np.quantile(v, [lo_q, hi_q])
        if np.isfinite(value):
            lo, hi = min(lo, value), max(hi, value)
        return Figure(value, float(lo), float(hi), n_used, method_text)

    tp, fn = clip(np.minimum(T[:, 0], n_detected)), clip(T[:, 1])
    tp0c, fn0c = float(np.clip(tp0, 0.0, n_detected)), float(max(fn0, 0.0))
    fp, fp0 = n_detected - tp, n_detected - tp0c
    prec = ratio(tp, np.full_like(tp, n_detected), tp0c, n_detected)
    rec = ratio(tp, tp + fn, tp0c, tp0c + fn0c)
    f1 = ratio(2 * tp, 2 * tp + fp + fn, 2 * tp0c, 2 * tp0c + fp0 + fn0c)
    pv = tp0c + fn0c
    plo, phi = np.quantile(tp + fn, [lo_q, hi_q])
    positives = Figure(pv, float(min(plo, pv)), float(max(phi, pv)), n_used, method_text)
    return prec, rec, f1, positives, (tp0c, fp0, fn0c), n_probe, len(rounds)


def _band_edges(s_unknown: np.ndarray, detected_bands: int) -> np.ndarray:
    """Ascending score cut points; band k holds scores in (e[k-1], e[k]] (0 is always a
    cut, so a band lies wholly on the detected or the missed side). Detected rows are cut
    into ``detected_bands`` bands of equal count; missed rows by rank below the threshold
    into bands of doubling size [0, D), [D, 2D), [2D, 4D), ... (D: rows detected), the
    same geometry as the planner's stratified probe, so each band holds probe rows."""
    det = np.sort(s_unknown[s_unknown > 0])
    mis = np.sort(s_unknown[s_unknown <= 0])[::-1]
    cuts = [0.0]
    if det.size and detected_bands > 1:
        qs = np.quantile(det, np.arange(1, detected_bands) / detected_bands)
        cuts += [float(q) for q in qs if q > 0]
    step = max(det.size, 25)
    r = step
    while r < mis.size:
        cuts.append(float(mis[r]))
        r *= 2
    return np.unique(np.asarray(cuts))


def _mean_matched_logit(q: np.ndarray, sd: np.ndarray, iters: int = 30) -> np.ndarray:
    """mu such that E[expit(mu + sd Z)] = q, Z standard normal (Gauss-Hermite, bisection).

    The calibration says what a band's *average* rate is; a logit-normal prior centred on
    logit(q) has its median there and its mean far above it for a small q (about
    q exp(sd^2 / 2): 3x at sd 1.5). Summed over large bands that prior inflates the missed
    positives about threefold, so its centre is moved until its mean is q."""
    x, w = np.polynomial.hermite_e.hermegauss(24)
    w = w / w.sum()
    q = np.clip(q, 1e-9, 1 - 1e-9)
    lo = np.log(q) - np.log1p(-q) - 4.0 * sd - 1.0
    hi = np.log(q) - np.log1p(-q) + 4.0 * sd + 1.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        mean = (expit(mid[..., None] + sd[..., None] * x) * w).sum(axis=-1)
        lo, hi = np.where(mean < q, mid, lo), np.where(mean < q, hi, mid)
    return (lo + hi) / 2


def _band_totals(scores, detected, excluded, shown, aux_shown, det_shown, labelled_shown, y_shown,
                 probe_w, cal_draws, prior_sd, detected_bands, uses_all_tags, rng, prior_centre="mean"):
    """Post-stratified Bayesian totals (TP, FN): draws, point estimate, description.

    The rows whose answer is unknown (untagged or NOT SURE) are cut into bands by the
    final model's score. Each band's positive rate p_b gets a posterior from the probe
    rows whose (out-of-fold) score falls in it, weighted by 1/pi (Hajek rate, Kish
    effective size), and on the detected side also from the other tags (chosen by score
    or similarity, counted as they are). The prior on logit p_b is normal around the
    calibrated P(YES | score) averaged over the band, with sd ``prior_sd`` (None: a
    Jeffreys Beta prior instead): a band that few probe rows reach keeps the calibration's
    guess but with an honest spread; a band the probe covers well follows its tags. Each
    draw takes one bootstrap replicate of the calibration, one p_b per band (sampled on a
    logit grid) and the band's realised count of positives, Binomial(U_b, p_b)."""
    known = np.zeros(len(scores), bool)
    known[shown[labelled_shown]] = True
    s_unk = scores[~known]
    edges = _band_edges(s_unk, detected_bands)
    B = edges.size + 1
    j0 = int(np.searchsorted(edges, 0.0))  # bands <= j0 are on the missed side
    band_det = np.arange(B) > j0
    b_unk = np.searchsorted(edges, s_unk, side="left")
    U = np.bincount(b_unk, minlength=B).astype(float)
    # 33 score quantiles per band stand for the band when averaging the calibration.
    rep = np.zeros((B, 33))
    order = np.argsort(b_unk, kind="stable")
    starts = np.concatenate([[0], np.cumsum(U).astype(int)])
    s_sorted = s_unk[order]
    for b in range(B):
        seg = s_sorted[starts[b]:starts[b + 1]]
        rep[b] = np.quantile(seg, np.linspace(0, 1, 33)) if seg.size else (edges[min(b, B - 2)])
    # Evidence per band.
    lab = labelled_shown
    b_sh = np.searchsorted(edges, aux_shown, side="left")
    is_p = lab & (probe_w > 0)
    W = np.bincount(b_sh[is_p], probe_w[is_p], minlength=B)
    W2 = np.bincount(b_sh[is_p], probe_w[is_p] ** 2, minlength=B)
    K = np.bincount(b_sh[is_p], probe_w[is_p] * y_shown[is_p], minlength=B)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = np.where(W > 0, W ** 2 / np.maximum(W2, 1e-300), 0.0)
        k_eff = np.where(W > 0, K / np.maximum(W, 1e-300), 0.0) * n_eff
    if uses_all_tags:
        other = lab & ~is_p
        n_o = np.bincount(b_sh[other], minlength=B).astype(float)
        k_o = np.bincount(b_sh[other], y_shown[other], minlength=B)
        n_eff = n_eff + np.where(band_det, n_o, 0.0)
        k_eff = k_eff + np.where(band_det, k_o, 0.0)
    tp_known = float((y_shown * det_shown)[lab].sum())
    fn_known = float((y_shown * ~det_shown)[lab].sum())

    n_draws = len(cal_draws)
    if prior_sd is None:
        p = rng.beta(k_eff + 0.5, n_eff - k_eff + 0.5, size=(n_draws, B))
    else:
        g = np.linspace(-14.0, 8.0, 441)
        pg = expit(g)
        loglik = k_eff[:, None] * np.log(pg)[None] + (n_eff - k_eff)[:, None] * np.log1p(-pg)[None]
        m = np.empty((n_draws, B))
        for d, (a, b, sp) in enumerate(cal_draws):
            q = expit(a * rep + b)
            if sp is not None:
                q = np.where(rep > 0, expit(sp[0] * rep + sp[1]), q)
            qm = np.clip(q.mean(axis=1), 1e-6, 1 - 1e-6)
            m[d] = np.log(qm) - np.log1p(-qm)
        # One sd for every band, or (below the threshold, above it).
        sd_mis, sd_det = (prior_sd, prior_sd) if np.isscalar(prior_sd) else prior_sd
        sd_b = np.where(band_det, sd_det, sd_mis)
        if prior_centre == "mean":
            m = _mean_matched_logit(expit(m), sd_b[None, :])
        sd = sd_b[None, :, None]
        logpost = loglik[None] - 0.5 * ((g[None, None, :] - m[:, :, None]) / sd) ** 2
        logpost -= logpost.max(axis=2, keepdims=True)
        cdf = np.cumsum(np.exp(logpost), axis=2)
        cdf /= cdf[:, :, -1:]
        u = rng.random((n_draws, B, 1))
        idx = np.minimum((cdf < u).sum(axis=2), g.size - 1)
        gg = g[idx] + (rng.random((n_draws, B)) - 0.5) * (g[1] - g[0])
        p = expit(gg)
    counts = rng.binomial(U.astype(np.int64)[None, :].repeat(n_draws, 0), p)
    tp = tp_known + counts[:, band_det].sum(axis=1)
    fn = fn_known + counts[:, ~band_det].sum(axis=1)
    T = np.column_stack([tp, fn]).astype(float)
    point = (float(tp.mean()), float(fn.mean()))
    n_probe = int(is_p.sum())
    text = (f"{B} score bands; per-band rate from {n_probe} random tags (1/pi weights)"
            + (", detected bands also from the other tags" if uses_all_tags else "")
            + ("; Jeffreys prior" if prior_sd is None else f"; prior: calibrated scores, logit sd {prior_sd}")
            + "; Monte Carlo interval")
    return T, point, text


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
