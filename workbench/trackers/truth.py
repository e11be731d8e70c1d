"""A tracker's true precision and hit rate, where the workspace knows the truth.

The reference labels (``workbench.storage.reference``) say which utterances truly mention the
concept. The truth is counted the way the honest estimate counts: in speaker turns, over the
tracker's detections, a turn being detected when any of its sentences is. Only the turns the
labels cover count, so labels for some calls give the truth on those calls.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ReferenceTruth:
    """True precision and hit rate by speaker turn, against reference labels.

    source: where the labels come from ("Demo truth"). turns: labelled turns in scope;
    positives: those that mention the concept; detected: those the tracker detects; right:
    detected and positive. precision / hit_rate are None when nothing is detected / positive.
    """

    source: str
    turns: int
    positives: int
    detected: int
    right: int

    @property
    def precision(self) -> float | None:
        return self.right / self.detected if self.detected else None

    @property
    def hit_rate(self) -> float | None:
        return self.right / self.positives if self.positives else None

    def line(self) -> str:
        """"Demo truth: precision 0.81, hit rate 0.73"."""
        return (f"{self.source}: precision {_number(self.precision)}, hit rate {_number(self.hit_rate)} "
                f"({self.right:,} of {self.detected:,} detected speaker turns right, "
                f"{self.positives:,} mentions in {self.turns:,} labelled turns)")

    def reading(self, estimate) -> str:
        """One plain sentence: does each interval of ``estimate`` (a PerformanceEstimate) hold
        the true value, and how far is its point from it."""
        parts, held, missed = [], [], []
        for name, fig, true in (("precision", estimate.precision, self.precision),
                                ("hit rate", estimate.hit_rate, self.hit_rate)):
            if fig is None or true is None:
                continue
            (held if fig.low <= true <= fig.high else missed).append(name)
            gap = fig.value - true
            side = "above" if gap > 0 else "below"
            parts.append(f"the estimated {name} is {abs(gap):.2f} {side} the true one" if round(gap, 2)
                         else f"the estimated {name} is the true one")
        if not parts:
            return "There is no estimate to set against the truth yet."
        conf = f"{estimate.confidence:.0%}"
        if not missed:
            verdict = f"The {conf} interval{'s hold' if len(held) > 1 else ' holds'} the true " + " and ".join(held)
        elif not held:
            verdict = f"The {conf} interval{'s miss' if len(missed) > 1 else ' misses'} the true " + " and ".join(missed)
        else:
            verdict = f"The {conf} interval holds the true {held[0]} but misses the true {missed[0]}"
        return f"{verdict}; {' and '.join(parts)}."


def _number(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def reference_truth(detections: pl.DataFrame, labels: pl.DataFrame, source: str) -> ReferenceTruth:
    """The truth of ``detections`` (Tracker.detections(): call_id, utterance_id, detected, one row
    per sentence in scope) against ``labels`` (call_id, utterance_id, positive)."""
    turns = (detections.group_by("call_id", "utterance_id").agg(pl.col("detected").any())
             .join(labels.select("call_id", "utterance_id", "positive"), on=["call_id", "utterance_id"], how="inner"))
    counts = turns.select(
        pl.len().alias("turns"), pl.col("positive").sum().alias("positives"),
        pl.col("detected").sum().alias("detected"), (pl.col("detected") & pl.col("positive")).sum().alias("right"),
    ).row(0, named=True)
    return ReferenceTruth(source=source, **{k: int(v or 0) for k, v in counts.items()})
