"""What a tracker's performance estimate says, and what each figure rests on.

Two estimates sit side by side:

- the *reference* figures reproduce the reference product: precision and hit rate (recall)
  averaged over 10 repeats of a stratified 90/10 split of the YES/NO tags. Active-learning
  tags are not a random sample of the corpus (they are the sentences the model already
  finds, and its look-alikes), so these overstate the hit rate, most on hard concepts.
- the *honest* figures speak for the whole corpus: shown sentences count as themselves,
  the others are cut into bands by the final score, and each band's share of positives is
  estimated from the stratified random tags (the probe) in it, weighted by 1/probability,
  with a prior from the calibrated scores that lets a band the probe barely reaches keep a
  wide, honest spread (see ``workbench.training.estimate`` for the maths and its parameters).
  A Tracker's honest figures count speaker turns (``unit == "turn"``): a turn is detected
  when any of its sentences is, and is a mention when a tagged sentence of it is YES.

Intervals are ``confidence`` (90%) intervals; ``n`` says how many tags a figure rests on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class Figure:
    """One estimated proportion with its interval and the number of tags behind it."""

    value: float
    low: float
    high: float
    n: int
    method: str

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class PerformanceEstimate:
    """A tracker model's estimated performance on its corpus.

    Counts: n_yes / n_no / n_not_sure are the user's answers (NOT SURE is never a label).
    reference_tp/fp/fn are pooled over the reference repeats' held-out tenths.
    honest_tp/fp/fn are estimated corpus totals of ``unit``s, not tag counts.
    unit: what the honest figures count: "turn" (a speaker turn is a mention when any of
    its sentences says the concept, and detected when any is detected; the tracker's
    default) or "sentence" (when no turns are known). detected_units: turns (or
    sentences) detected.
    detected_sentences / detected_calls are exact: what the model detects in the scope.
    estimated_true_detections: how many of the detected units are right (honest
    precision x detected, with its interval); estimated_positives: units in the scope
    that carry the concept, found or not.
    estimator_params: the parameters of the estimators that made it, flat
    ("reference.n_repeats", "honest.n_draws", ...), for a training run to log.
    """

    n_yes: int
    n_no: int
    n_not_sure: int
    population: int
    confidence: float
    reference_precision: Figure | None
    reference_hit_rate: Figure | None
    reference_repeats: int
    reference_test_size: float
    reference_tp: int
    reference_fp: int
    reference_fn: int
    honest_precision: Figure | None
    honest_hit_rate: Figure | None
    honest_f1: Figure | None
    n_probe_tags: int
    n_probe_rounds: int
    honest_tp: float | None
    honest_fp: float | None
    honest_fn: float | None
    detected_sentences: int
    detected_calls: int | None
    estimated_true_detections: Figure | None
    estimated_positives: Figure | None
    unit: str = "sentence"
    detected_units: int | None = None
    notes: tuple[str, ...] = field(default=())
    estimator_params: dict[str, object] = field(default_factory=dict, hash=False)

    @property
    def precision(self) -> Figure | None:
        """The figure to show first: honest where there are random tags, else reference."""
        return self.honest_precision or self.reference_precision

    @property
    def hit_rate(self) -> Figure | None:
        return self.honest_hit_rate or self.reference_hit_rate

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict) -> "PerformanceEstimate":
        """An estimate back from its ``as_dict()``, as a version's row stores it (extra keys,
        such as "training" or "bundle", are left out)."""
        names = {f.name for f in fields(cls)}
        values = {k: (Figure(**v) if isinstance(v, dict) and "value" in v else v) for k, v in stored.items()
                  if k in names}
        values["notes"] = tuple(values.get("notes") or ())
        return cls(**values)

    def flat_metrics(self) -> dict[str, float]:
        """The numbers as flat MLflow metrics: each Figure as name, name_low, name_high."""
        out: dict[str, float] = {}
        for k, v in self.as_dict().items():
            if isinstance(v, dict) and "value" in v:
                out[k], out[f"{k}_low"], out[f"{k}_high"] = v["value"], v["low"], v["high"]
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = v
        return out
