"""The honest estimate: precision and hit rate of the final model over its whole scope.

Corpus totals TP (detected and YES) and FN (missed and YES) of the final model are
estimated; FP = detected - TP, since the detections D are known exactly. Precision = TP / D,
hit rate = TP / (TP + FN).

The estimator is a post-stratification with a Bayesian posterior per score band
(``bands``): the units the user tagged count as themselves; the others are cut into bands by
the final score, and each band's rate of positives is learned from the random tags of the
planner's stratified probe in it (1/pi weights) under a prior centred on the calibrated
scores (``calibration``). Monte Carlo draws give the intervals; the value shown is the
posterior median of each ratio, which measured closer to the truth than the mean (hit rate
within 0.10 on 61% of benchmark runs, 47% with the mean). Units are speaker turns when the
caller passes them (``units``).

What was tried and measured instead (other estimators, calibrations, priors and their
parameters) is recorded in benchmarks/results/tracker_quality.md.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator

from workbench.training.estimate.bands import UnseenErrors, band_edges, band_totals, cut_bands, unseen_errors
from workbench.training.estimate.calibration import calibration_draws
from workbench.training.estimate.copies import (CopyStratum, copies_per_unit, copy_stratum, stratum_counts,
                                                weights_for_the_rest)
from workbench.training.estimate.held_out import oof_scores, refit_template
from workbench.training.estimate.missed_side import MISSED_FITS, line_centres
from workbench.training.estimate.units import RankOrder, Units
from workbench.training.performance import Figure

NO_ESTIMATE = "no honest estimate: needs at least 2 YES and 2 NO tags"
NO_PROBE = "no answered tags from a random sampler: calibration-only estimate"
ROUND_WEIGHTS = ("probe_size", "per_side", "per_band")
ENDS_WHEN_UNSEEN = ("none", "precision", "both")


@dataclass(frozen=True)
class HonestFigures:
    """The honest part of a PerformanceEstimate (figures None without an estimate).

    tp/fp/fn: estimated totals of units over the scope (posterior means); n_probe_tags: the
    answered random tags it rests on, from n_probe_rounds rounds; unit: "turn" or
    "sentence"; detected_units: units the final model detects."""

    precision: Figure | None
    hit_rate: Figure | None
    f1: Figure | None
    positives: Figure | None
    true_detections: Figure | None
    tp: float | None
    fp: float | None
    fn: float | None
    n_probe_tags: int
    n_probe_rounds: int
    unit: str
    detected_units: int
    notes: tuple[str, ...] = ()
    positives_median: float | None = None  # the draws' median of TP + FN (the mean is ``positives``)


class HonestEstimate(BaseEstimator):
    """Banded estimate of the final model's corpus totals from the probe's random tags.

    Parameters
    ----------
    confidence : level of the Monte Carlo intervals.
    n_draws : Monte Carlo draws (each: a calibration replicate, band rates, band counts).
    band_prior_sd : sd of each band's logit-normal prior around the calibrated rate
        (measured: 1.5 covers the truth, 0.5 does not).
    detected_bands : bands of equal count among the detected units.
    detected_prior_sd : the prior's spread in the detected bands (None: ``band_prior_sd``).
    tail_shift_sd : sd of one logit shift of the calibration shared by all bands below the
        threshold (0: none); see ``bands.band_totals``.
    max_tail_slope : the most the calibrated logit may fall per doubling of rank below the
        threshold (None: as fitted); see ``bands.prior_centres``. Chosen together with
        ``tail_shift_sd`` on the benchmark (seeds 0-5, checked on 6-11 and held-out 12-17):
        the fitted tails fell 3-6 logits per doubling where the truth falls 1-2, and the
        hit-rate intervals held the truth in 77% of runs; with both, 92%, at the cost of
        wider intervals (benchmarks/tracker_quality_history.md, session 7).
    n_folds : folds of the tags' out-of-fold scores, when the caller passes none.
    random_state : seeds the folds, the bootstrap and the draws.
    round_weights : how the probe's rounds are combined (``probe_weights``): "probe_size",
        each round by its answered probe tags over the whole scope; "per_side", separately on
        the detected and the missed side, each round by its tags on that side; "per_band",
        the same per score band. A basic round puts ~4 of its ~13 random tags among the
        detections, a verification round 20: by probe size each basic tag there weighs ~3x a
        verification tag, which costs effective tags; per side or band they weigh alike.
    ends_when_unseen : which intervals reach the perfect value that no tag rules out. The
        posterior draws of a band's rate never reach 1 (nor the count of its positives all its
        units), so with every tag among the detections YES the precision's upper end stayed at
        0.98-0.99 while the truth was 1 (the demo, benchmarks/results/demo_truth.md). As
        Clopper-Pearson's upper bound is 1 at x = n, and Brown, Cai & DasGupta's (2001)
        modified Jeffreys interval sets it so: "precision", when no tag on the detected side
        is NO (``bands.unseen_errors``: the tags that count as themselves and the probe tags
        of the detected bands), the precision's upper end is 1; when none is YES, the lower
        ends of precision and hit rate are 0 (x = 0). "both" (the default) also sets the hit
        rate's upper end to 1 when no tag on the missed side is YES: the missed side's count
        of positives then reaches 0, as a binomial interval's lower end does at x = 0.
        Measured (seeds 0-11, benchmarks/results/tracker_quality_s15_ends_both.md): 45 of 384
        intervals moved, hit-rate coverage 87% -> 88% (MultiDoGO) and 89% -> 92% (MultiWOZ),
        median widths unchanged; on the demo precision coverage 8/16 -> 11/16. "none": the
        draws' quantiles only.
    condition_tail : resample each draw's centres below the threshold (its calibration
        replicate and shared tail shift) by the marginal likelihood of the probe tags there
        (``bands.tail_conditioned``); off: drawn from their priors. Diagnosis and figures:
        benchmarks/results/hit_rate_bias.md (seeds 0-11: hit-rate bias -0.069/-0.017/-0.062
        -> -0.022/+0.007/-0.004, narrower intervals, coverage 0.88/0.92/0.88 ->
        0.88/0.89/0.87), so it stays off.
    missed_fit : the prior centres of the bands below the threshold. "shared" (default): the
        calibration's one logistic across the threshold (slope capped by ``max_tail_slope``)
        with the shared ``tail_shift_sd``. "line" / "log_line": a model of the missed side of
        its own (``missed_side``), logit rate = level - slope x depth (doublings of rank below
        the threshold, or log2(1 + doublings)), its (level, slope) posterior computed from the
        random tags of all the missed bands together; the tail shift and the slope cap then
        do not apply below the threshold. Measured: benchmarks/results/missed_side.md.
    missed_sd : the missed bands' spread around their centres (None: ``band_prior_sd``).
    missed_level_sd, missed_slope_prior : the line's priors: its level (the logit rate at the
        threshold) ~ Normal(the calibration's mean rate in the first band below it,
        missed_level_sd^2); its slope (logits per unit of depth) ~ Normal(mean, sd) on [0, 4].
    copies_from_tags : the detected units that hold a copy of a tagged text (``copy_labels``
        and ``texts`` passed to ``estimate``) form their own stratum, read from their texts'
        tags (``copies``) instead of the detected band's rate: no later round can draw them,
        so that rate is learned without them. Verifying precision to ±0.05 with the model held
        too, the intervals held the truth in 89-97% of runs on every corpus, but the stratum's
        spread cannot be narrowed by more tags (MultiDoGO: a median of 300), so it is off.
        Diagnosis and figures: benchmarks/results/verify_bias.md.
    """

    def __init__(self, confidence: float = 0.9, n_draws: int = 200, band_prior_sd: float = 1.5,
                 detected_bands: int = 1, n_folds: int = 10, random_state: int = 0,
                 detected_prior_sd: float | None = None, tail_shift_sd: float = 1.0,
                 max_tail_slope: float | None = 2.0, round_weights: str = "probe_size",
                 ends_when_unseen: str = "both", condition_tail: bool = False, missed_fit: str = "shared",
                 missed_sd: float | None = None, missed_level_sd: float = 1.5,
                 missed_slope_prior: tuple[float, float] = (1.0, 0.5),
                 copies_from_tags: bool = False) -> None:
        self.confidence = confidence
        self.n_draws = n_draws
        self.band_prior_sd = band_prior_sd
        self.detected_bands = detected_bands
        self.n_folds = n_folds
        self.random_state = random_state
        self.detected_prior_sd = detected_prior_sd
        self.tail_shift_sd = tail_shift_sd
        self.max_tail_slope = max_tail_slope
        self.round_weights = round_weights
        self.ends_when_unseen = ends_when_unseen
        self.condition_tail = condition_tail
        self.missed_fit = missed_fit
        self.missed_sd = missed_sd
        self.missed_level_sd = missed_level_sd
        self.missed_slope_prior = missed_slope_prior
        self.copies_from_tags = copies_from_tags

    def estimate(self, embeddings, labels, model, *, scores, excluded=None, tag_round=None,
                 inclusion_prob=None, groups=None, example_embeddings=None,
                 held_out=None, rank_order: RankOrder | None = None, copy_labels=None,
                 texts=None) -> HonestFigures:
        """The estimate from per-row arrays (see ``estimate_performance`` for each);
        ``rank_order``: the order of the units' scores kept from an earlier estimate (``RankOrder``);
        ``copy_labels`` and ``texts`` are read with ``copies_from_tags`` only."""
        if self.round_weights not in ROUND_WEIGHTS:
            raise ValueError(f"HonestEstimate round_weights={self.round_weights!r}: "
                             f"expected one of {', '.join(ROUND_WEIGHTS)}")
        if self.missed_fit not in MISSED_FITS:
            raise ValueError(f"HonestEstimate missed_fit={self.missed_fit!r}: "
                             f"expected one of {', '.join(MISSED_FITS)}")
        if self.ends_when_unseen not in ENDS_WHEN_UNSEEN:
            raise ValueError(f"HonestEstimate ends_when_unseen={self.ends_when_unseen!r}: "
                             f"expected one of {', '.join(ENDS_WHEN_UNSEEN)}")
        labels = np.asarray(labels).astype(np.int8)
        excluded = labels >= 0 if excluded is None else (np.asarray(excluded, bool) | (labels >= 0))
        tagged = np.flatnonzero(labels >= 0)
        y = labels[tagged].astype(int)
        scores = np.asarray(scores, dtype=float)
        detected = scores > 0
        oof = (held_out[tagged] if held_out is not None
               else oof_scores(np.asarray(embeddings), tagged, y, refit_template(model), example_embeddings,
                               self.n_folds, self.random_state))
        if oof is None:
            return HonestFigures(precision=None, hit_rate=None, f1=None, positives=None, true_detections=None,
                                 tp=None, fp=None, fn=None, n_probe_tags=0, n_probe_rounds=0, unit="sentence",
                                 detected_units=int(detected.sum()), notes=(NO_ESTIMATE,))
        units = Units(labels, excluded, detected, scores, tagged, y, oof, tag_round, inclusion_prob)
        if self.copies_from_tags and copy_labels is not None and texts is not None:
            units = replace(units, **dict(zip(("copy_label", "copy_text", "own_text"),
                                              copies_per_unit(copy_labels, texts, excluded))))
        unit = "sentence"
        if groups is not None:
            units, unit = units.by_turn(groups), "turn"
        return self._from_units(units.on_rank_scale(rank_order), unit)

    def _from_units(self, units: Units, unit: str) -> HonestFigures:
        """Probe weights, calibration replicates, band draws, then the figures."""
        rng = np.random.default_rng(self.random_state)
        shown = np.flatnonzero(units.shown)
        labelled = units.labels[shown] >= 0
        # The auxiliary score of a shown unit: the final model's, or for a tag the
        # out-of-fold one, so that no unit's auxiliary value depends on its own label.
        aux = units.scores[shown].copy()
        pos_in_tagged = np.full(len(units.labels), -1)
        pos_in_tagged[units.tagged] = np.arange(len(units.tagged))
        aux[labelled] = units.oof[pos_in_tagged[shown[labelled]]]
        y_shown = np.where(labelled, units.labels[shown], 0).astype(float)
        det_shown = units.detected[shown]

        known = np.zeros(len(units.scores), bool)
        known[shown[labelled]] = True
        copies = None
        if self.copies_from_tags and units.copy_label is not None:
            copies = copy_stratum(units.copy_label, units.copy_text, ~known & units.detected)
        strata = None
        if self.round_weights != "probe_size":
            # The strata are the bands the evidence is read in (cut_bands puts a tag in the
            # band of its auxiliary score), or just the two sides of the threshold.
            edges = (band_edges(units.scores[~known], self.detected_bands)
                     if self.round_weights == "per_band" else np.array([0.0]))
            strata = np.searchsorted(edges, aux, side="left")
        probe_w, n_probe, n_rounds = probe_weights(units, shown, labelled, strata)
        if copies is not None and units.inclusion_prob is not None:
            # The detected bands' evidence stands for the detections outside the stratum (the
            # missed side's weights are the hit rate's, left as they are).
            rest_w = weights_for_the_rest(probe_w, np.asarray(units.inclusion_prob, float)[shown],
                                          units.own_text[shown], copies, units.copy_text)
            probe_w = np.where(aux > 0, rest_w, probe_w)
        recorded = units.tag_round is not None and units.inclusion_prob is not None
        notes = (NO_PROBE,) if recorded and n_rounds == 0 else ()
        is_probe_tag = np.zeros(len(units.y), bool)
        is_probe_tag[pos_in_tagged[shown[probe_w > 0]]] = True
        cal_draws = calibration_draws(units.oof, units.y, is_probe_tag, self.n_draws, rng)

        # Sorted first (cheaper than the band-by-band sort and search it spares: cut_bands).
        banded = ~known if copies is None else ~known & ~copies.members
        bands = cut_bands(np.sort(units.scores[banded]), aux, y_shown, probe_w, self.detected_bands)
        tp_known = float((y_shown * det_shown)[labelled].sum())
        fn_known = float((y_shown * ~det_shown)[labelled].sum())
        fp_known = float(((1 - y_shown) * det_shown)[labelled].sum())
        T = band_totals(bands, tp_known, fn_known, cal_draws, self.band_prior_sd, rng,
                        detected_prior_sd=self.detected_prior_sd, tail_shift_sd=self.tail_shift_sd,
                        max_tail_slope=self.max_tail_slope, condition_tail=self.condition_tail,
                        missed_sd=self.missed_sd, missed_centres=self._missed_centres())
        method = (f"{bands.edges.size + 1} score bands; per-band rate from {bands.n_probe} random tags "
                  f"(1/pi weights); prior: calibrated scores, logit sd {self.band_prior_sd}; Monte Carlo interval")
        n_detected = float(units.detected.sum())
        unseen = unseen_errors(bands, tp_known, fp_known, fn_known)
        if copies is not None and copies.size:
            T[:, 0] += stratum_counts(copies, len(T), rng)
            unseen = _copies_seen(unseen, copies)
            method += f"; {copies.size} detected copies of tagged texts read from their tags"
        return self._figures(T, n_detected, len(units.y), method, n_probe, n_rounds, unit, notes, unseen)

    def _missed_centres(self):
        """The missed bands' own model (``missed_side.line_centres``), or None for the shared
        calibration's extrapolation ("shared")."""
        if self.missed_fit == "shared":
            return None
        return partial(line_centres, shape=self.missed_fit, level_sd=self.missed_level_sd,
                       slope_prior=tuple(self.missed_slope_prior))

    def _figures(self, T, n_detected, n_tags, method, n_probe, n_rounds, unit, notes,
                 unseen: UnseenErrors) -> HonestFigures:
        """Precision, hit rate, F1 and positives from the draws of (TP, FN): posterior
        medians of the ratios, with the central ``confidence`` interval of the draws."""
        # The totals shown are the posterior means of TP and FN; the ratios, medians.
        tp0 = float(np.clip(float(T[:, 0].mean()), 0.0, n_detected))
        fn0 = float(max(float(T[:, 1].mean()), 0.0))
        fp0 = n_detected - tp0
        tp, fn = np.clip(np.minimum(T[:, 0], n_detected), 0.0, None), np.clip(T[:, 1], 0.0, None)
        fp = n_detected - tp
        interval = ((1 - self.confidence) / 2, 1 - (1 - self.confidence) / 2)

        def ratio(num, den, num0, den0):
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.clip(num / den, 0.0, 1.0)
            v = v[np.isfinite(v)]
            value = float(np.clip(num0 / den0, 0.0, 1.0)) if den0 > 0 else float("nan")
            if v.size == 0:
                return Figure(value, 0.0, 1.0, n_tags, method)
            value = float(np.median(v))
            lo, hi = np.quantile(v, interval)
            return Figure(value, float(min(lo, value)), float(max(hi, value)), n_tags, method)

        precision = ratio(tp, np.full_like(tp, n_detected), tp0, n_detected)
        hit_rate = ratio(tp, tp + fn, tp0, tp0 + fn0)
        f1 = ratio(2 * tp, 2 * tp + fp + fn, 2 * tp0, 2 * tp0 + fp0 + fn0)
        if self.ends_when_unseen != "none":
            precision, hit_rate, f1 = self._unseen_ends(precision, hit_rate, f1, unseen)
        pv = tp0 + fn0
        plo, phi = np.quantile(tp + fn, interval)
        n_units = int(n_detected)
        return HonestFigures(
            precision=precision,
            hit_rate=hit_rate,
            f1=f1,
            positives=Figure(pv, float(min(plo, pv)), float(max(phi, pv)), n_tags, method),
            true_detections=Figure(precision.value * n_units, precision.low * n_units, precision.high * n_units,
                                   precision.n, f"honest precision x detected {unit}s"),
            tp=tp0, fp=fp0, fn=fn0, n_probe_tags=n_probe, n_probe_rounds=n_rounds, unit=unit,
            detected_units=n_units, notes=notes, positives_median=float(np.median(tp + fn)),
        )

    def _unseen_ends(self, precision: Figure, hit_rate: Figure, f1: Figure,
                     unseen: UnseenErrors) -> tuple[Figure, Figure, Figure]:
        """The intervals stretched to the perfect (or null) values no tag rules out
        (``ends_when_unseen``); an end is moved only when the tags allow the value exactly."""
        no_miss = unseen.no_miss and self.ends_when_unseen == "both"

        def stretched(figure: Figure, to_one: bool) -> Figure:
            high = 1.0 if to_one else figure.high
            low = 0.0 if unseen.no_true_detection else figure.low
            return replace(figure, low=low, high=high)

        return (stretched(precision, unseen.no_false_detection), stretched(hit_rate, no_miss),
                stretched(f1, unseen.no_false_detection and no_miss))


def _copies_seen(unseen: UnseenErrors, copies: CopyStratum) -> UnseenErrors:
    """``unseen`` with the copy stratum's tags as evidence on the detected side."""
    return replace(unseen, no_false_detection=unseen.no_false_detection and copies.k_eff >= copies.n_eff - 1e-9,
                   no_true_detection=unseen.no_true_detection and copies.k_eff <= 1e-9)


def probe_weights(units: Units, shown: np.ndarray, labelled: np.ndarray,
                  strata: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
    """Per shown unit, its weight as a member of the probe (0 for other units), the answered
    probe tags and the rounds they come from.

    The probe: units drawn by a probability sampler, grouped by round. A round's answered
    probe units weigh 1/pi_i; NOT SURE answers are non-response, made up for by weighting the
    round's answered units up by drawn/answered. Rounds weigh by their answered probe size,
    fixed by the design, never by the YES/NO answers.

    ``strata`` (per shown unit, e.g. its score band): the rounds are instead combined within
    each stratum, see ``_per_stratum``."""
    if units.tag_round is None or units.inclusion_prob is None:
        return np.zeros(len(shown)), 0, 0
    tr = np.asarray(units.tag_round)[shown]
    pi = np.asarray(units.inclusion_prob, dtype=float)[shown]
    is_probe = np.isfinite(pi) & (pi > 0) & (tr >= 1)
    inv_pi = np.where(is_probe, 1.0 / np.where(is_probe, pi, 1.0), 0.0)
    rounds = []
    for r in np.unique(tr[is_probe]):
        probe_r = is_probe & (tr == r)
        answered = probe_r & labelled
        if not answered.any():
            continue
        w = np.where(answered, inv_pi, 0.0)
        w *= probe_r.sum() / answered.sum()
        rounds.append((w, int(answered.sum())))
    n_probe = int(sum(n for _, n in rounds))
    if strata is not None:
        return _per_stratum(inv_pi, tr, is_probe, labelled, np.asarray(strata)), n_probe, len(rounds)
    probe_w = np.zeros(len(shown))
    if rounds:
        round_w = np.array([n for _, n in rounds], dtype=float)
        round_w = round_w / round_w.sum()
        for j, (w, _) in enumerate(rounds):
            probe_w += round_w[j] * w
    return probe_w, n_probe, len(rounds)


def _per_stratum(inv_pi: np.ndarray, tr: np.ndarray, is_probe: np.ndarray, labelled: np.ndarray,
                 strata: np.ndarray) -> np.ndarray:
    """Probe weights with the rounds combined within each stratum h.

    Each round's 1/pi-weighted sum over h (its NOT SURE made up for within h: drawn/answered)
    is unbiased for h's total on its own, so any round weights a_rh summing to 1 over the
    rounds keep it so. a_rh = the round's answered tags in h / all rounds' answered tags in h
    makes every tag in h weigh about alike (1/pi_i is about N_h / drawn_rh), the most
    effective tags for h's rate: by whole probe size, a basic round's ~4 tags among the
    detections weighed ~3x a verification round's 20. a_rh depends on where the design put
    the draws and on NOT SURE, never on the YES/NO answers."""
    probe_w = np.zeros(len(tr))
    answered_all = is_probe & labelled
    for h in np.unique(strata[answered_all]):
        in_h = strata == h
        total_answered = float((answered_all & in_h).sum())
        for r in np.unique(tr[answered_all & in_h]):
            drawn = is_probe & in_h & (tr == r)
            answered = drawn & labelled
            # (drawn / answered) x (answered / total_answered) = drawn / total_answered
            probe_w[answered] = inv_pi[answered] * drawn.sum() / total_answered
    return probe_w
