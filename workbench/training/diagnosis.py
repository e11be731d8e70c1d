"""What a tracker's figures say about it, in plain words: does it find the concept at all?

On transcribed speech a tracker can look precise and still find almost none of the mentions
(benchmarks/results/tracker_quality.md: on mrda-meetings, hit rates of 1-10% at precision
0.5-0.9). The overview must say so rather than leave the user to read it off an interval.
``diagnose`` turns the estimate and the tags' held-out scores into findings, each with a code
(for programs and the benchmark) and a sentence (for people). What to *do* about them is the
tracker layer's (workbench.trackers.advice), since it knows the rounds, the keywords and the
training options.

The thresholds below were set on the benchmark's seeds 0-11 (all three corpora) and checked on
seeds 12-17: see the "flags" rows of benchmarks/results/tracker_quality*.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from workbench.training.performance import PerformanceEstimate

# A hit rate whose interval reaches below this may be missing most mentions.
LOW_HIT_RATE = 0.20
# Held-out ranking of the tags: the chance a YES tag outranks a NO tag under a model that did
# not see either. 0.5 is a coin; the benchmark's good trackers sit above 0.85.
WEAK_SEPARATION_AUC = 0.75
# Below this many YES tags after the basic rounds the model has little to learn from.
FEW_YES = 10

FINDS_LITTLE = "finds_little"
FEW_DETECTIONS = "few_detections"
WEAK_SEPARATION = "weak_separation"
FEW_YES_TAGS = "few_yes_tags"


@dataclass(frozen=True)
class Finding:
    """One thing the figures say about the tracker: ``code`` for programs, ``message`` for people."""

    code: str
    message: str


def held_out_auc(held_out: np.ndarray | None, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of the tags' held-out scores (each tag scored by a model that
    did not see it); None without held-out scores or without 2 tags of each answer."""
    if held_out is None:
        return None
    labels = np.asarray(labels)
    tagged = (labels >= 0) & np.isfinite(held_out)
    y = labels[tagged]
    if (y == 1).sum() < 2 or (y == 0).sum() < 2:
        return None
    return float(roc_auc_score(y, held_out[tagged]))


def diagnose(estimate: PerformanceEstimate | None, held_out: np.ndarray | None,
             labels: np.ndarray) -> tuple[Finding, ...]:
    """The findings about a tracker's current model, most serious first; empty when the
    figures give no reason for concern (or there is no estimate yet)."""
    if estimate is None:
        return ()
    found = []
    unit = "speaker turns" if estimate.unit == "turn" else "sentences"
    hit = estimate.honest_hit_rate or estimate.hit_rate
    if hit is not None and hit.low < LOW_HIT_RATE:
        low_value = hit.value < LOW_HIT_RATE
        found.append(Finding(FINDS_LITTLE, (
            f"The tracker finds few of the mentions: an estimated {hit.value:.0%} of them" if low_value else
            f"The tracker may find few of the mentions: its hit rate could be as low as {hit.low:.0%}")
            + f" (90% interval {hit.low:.0%} to {hit.high:.0%})."))
    detected = estimate.detected_units if estimate.detected_units is not None else estimate.detected_sentences
    if detected <= estimate.n_yes:
        found.append(Finding(FEW_DETECTIONS, (
            f"It detects {detected:,} {unit} in the whole scope, no more than the {estimate.n_yes} you tagged YES: "
            "it recognises little beyond the sentences it was shown.")))
    auc = held_out_auc(held_out, labels)
    if auc is not None and auc < WEAK_SEPARATION_AUC:
        found.append(Finding(WEAK_SEPARATION, (
            f"The model barely tells the concept from its look-alikes: on tags it did not learn from, it ranks a "
            f"YES above a NO {auc:.0%} of the time (50% is a coin toss).")))
    if estimate.n_yes < FEW_YES:
        found.append(Finding(FEW_YES_TAGS, (
            f"Only {estimate.n_yes} of the tags are YES: the model has few ways of saying it to learn from.")))
    return tuple(found)
