"""The tracker's threshold: the tags' best-F1 cut, how many positives the scope holds, and a
threshold kept near that count.

With few YES tags (10-30 on transcribed speech) the threshold that maximises the tags'
out-of-fold F1 lands at extremes: a fifth of the scope detected, or almost nothing
(benchmarks/tracker_quality_history.md, session 12's diagnosis). The rounds' probability
samples (the stratified picks, each with its inclusion probability) say, without the
labels of anything untagged, about how many units of the scope are positive;
``bounded_threshold`` moves a threshold so that the units it detects stay within bounds set
from that count (``TrackerModel(detect_at_least=..., detect_at_most=...)``).

The count is rough: on speech (mrda-meetings, seeds 0-11, C from the YES count) the median
of the four rounds' estimates was 0.00-1.4x the concept's true count, median 0.12x, since a
round's one draw from the scope's lowest stratum (most of the scope) rarely finds a positive.
So it makes a floor (1x) and a wide ceiling (30x), not a target (benchmarks/
tracker_quality_history.md, "Session 13").

Session 14 counts from the calibrated tail instead (``TrackerModel(positives_from=
"estimate_median")``): the honest estimate of the model at its "cv" threshold (its calibration
of the tags' out-of-fold scores, summed with the probe over the untagged units) gives the
positives, and the bound then moves the threshold. The count depends little on where the
threshold sits (speech, seeds 0-5, cuts detecting 0.5x-4x the truth: largest / smallest count
1.13 in the median run, 2.0 at worst), and the draws' median ran 1.4x the true count in the
median speech run (seeds 0-11; their mean 2.7x).
Learning rounds keep planning around the "cv" cut. Bounds 0.5x-2x, seeds 0-11: speech 0.360x
-> 0.421x the ceiling, no concept lower; typed unchanged (their final fits have 30+ YES);
held-out seeds 24-29: speech 0.269x -> 0.429x, every concept up (+0.01 to +0.18), typed 0.942x
either way, but the speech hit-rate intervals held the truth in 83% of runs (defaults 87%), under
the 88% a default must keep: an option, off (results/tracker_quality_s14_heldout_*.md).
"""
from __future__ import annotations

import numpy as np

from workbench.training.estimate.units import turn_codes


def estimated_positives(labels, tag_round, inclusion_prob, groups=None) -> float | None:
    """Horvitz-Thompson estimate of the positive units of the scope (speaker turns with
    ``groups``, else rows), from the tags drawn by a probability sampler.

    labels: (n,) 1 YES, 0 NO, -1 untagged or NOT SURE, as recorded (each drawn text once);
    tag_round: (n,) each tag's round (-1 untagged); inclusion_prob: (n,) the chance the
    round's sampler had of drawing the row (with groups: of reaching its turn), NaN where
    the row was not drawn at random. Round r's draws estimate the positives among the units
    still on offer, to which the units found YES in earlier rounds are added; the rounds'
    estimates are combined by their median, so that one draw from the scope's large lowest
    stratum (a weight of 10^4-10^5) does not decide the count. None without a random tag.
    NOT SURE answers are left out (a NOT SURE drawn at random reads as a NO).
    """
    labels = np.asarray(labels)
    tag_round = np.asarray(tag_round)
    pi = np.asarray(inclusion_prob, dtype=float)
    units = np.arange(len(labels)) if groups is None else np.asarray(groups)
    drawn = (tag_round >= 1) & np.isfinite(pi) & (pi > 0)
    rounds = np.unique(tag_round[drawn])
    if not rounds.size:
        return None
    yes = labels == 1
    estimates = []
    for r in rounds:
        known = np.unique(units[yes & (tag_round >= 0) & (tag_round < r)]).size
        now = drawn & (tag_round == r)
        estimates.append(known + float(np.sum(yes[now] / pi[now])))
    return float(np.median(estimates))


def unit_scores(scores, groups=None) -> np.ndarray:
    """Each unit's score: a row's own, or with ``groups`` its turn's best sentence's (a turn
    is detected when any of its sentences is)."""
    scores = np.asarray(scores, dtype=float)
    if groups is None:
        return scores
    inv = turn_codes(groups)  # the estimate's turn codes (``Units.by_turn``): no sort of dense codes
    best = np.full(int(inv.max()) + 1 if inv.size else 0, -np.inf)
    np.maximum.at(best, inv, scores)
    return best


def bounded_threshold(scores, threshold: float, least: float | None = None, most: float | None = None) -> float:
    """``threshold`` moved, if need be, so that the units scoring above it number at least
    ``least`` and at most ``most`` (either None: no bound that side; at least one unit
    either way; ``scores``: each unit's score, ``unit_scores``). A threshold already within
    the bounds is returned as it is; one outside moves to the nearest bound, halfway between
    the neighbouring scores."""
    s = np.sort(np.asarray(scores, dtype=float))[::-1]
    n = s.size
    if n == 0:
        return float(threshold)
    detected = int((s > threshold).sum())
    if most is not None and detected > max(int(np.floor(most)), 1):
        target = min(max(int(np.floor(most)), 1), n)
    elif least is not None and detected < min(max(int(np.ceil(least)), 1), n):
        target = min(max(int(np.ceil(least)), 1), n)
    else:
        return float(threshold)
    # Detect exactly ``target`` units: cut between the target-th score and the next.
    return float((s[target - 1] + s[target]) / 2) if target < n else float(s[-1] - 1e-9)


def best_f1_threshold(scores: np.ndarray, y: np.ndarray, sample_weight=None) -> float:
    """Threshold on ``scores`` maximising F1 for ``y`` (1 positive), halfway between the
    neighbouring scores so that it generalises rather than sitting on a training point."""
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y).astype(bool)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    order = np.argsort(-scores, kind="stable")
    s, yy, ww = scores[order], y[order], w[order]
    tp = np.cumsum(ww * yy)
    fp = np.cumsum(ww * ~yy)
    pos = tp[-1]
    if pos <= 0:
        return float(s[0] + 1.0)
    f1 = 2 * tp / (tp + fp + pos)
    # Only cut between distinct scores.
    valid = np.append(s[1:] < s[:-1], True)
    f1 = np.where(valid, f1, -1.0)
    i = int(np.argmax(f1))
    return float((s[i] + s[i + 1]) / 2) if i + 1 < len(s) else float(s[i] - 1e-9)
