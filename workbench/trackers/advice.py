"""What the overview tells a user to do next, from what the figures say.

The findings come from the training core (workbench.training.diagnosis: finds little, few
detections, weak separation, few YES tags); this module adds what only the tracker knows:
how many rounds are tagged, whether the learning curve still climbs, whether the examples'
keywords do as well, and which training options exist. Each suggestion is offered only when
the figures support it, so that a tracker with no findings gets no advice at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.core.settings import BASIC_MODEL_ROUNDS, MAX_ROUNDS
from workbench.training.diagnosis import (
    FEW_DETECTIONS,
    FEW_YES_TAGS,
    FINDS_LITTLE,
    WEAK_SEPARATION,
    Finding,
    diagnose,
)

MORE_ROUNDS = "more_rounds"
DIFFERENT_EXAMPLES = "different_examples"
DEEP_TRAINING = "deep_training"
KEYWORD_TRACKER = "keyword_tracker"


@dataclass(frozen=True)
class Suggestion:
    code: str
    message: str


@dataclass(frozen=True)
class TrackerDiagnosis:
    """The findings about a tracker's current model and what to do about them."""

    findings: tuple[Finding, ...] = ()
    suggestions: tuple[Suggestion, ...] = field(default=())

    @property
    def concerns(self) -> bool:
        return bool(self.findings)

    def text(self) -> str:
        """Lines for the terminal; empty when there is nothing to say."""
        if not self.findings:
            return ""
        lines = ["What the figures say:"] + [f"  - {f.message}" for f in self.findings]
        if self.suggestions:
            lines += ["What to do next:"] + [f"  - {s.message}" for s in self.suggestions]
        return "\n".join(lines)


def next_steps(findings: tuple[Finding, ...], *, rounds_done: int, another_round_helps: bool | None,
               keywords_do_as_well: bool = False, deep_trained: bool = False) -> tuple[Suggestion, ...]:
    """Suggestions for a tracker with ``findings``, in the order worth trying."""
    if not findings:
        return ()
    codes = {f.code for f in findings}
    out = []
    if rounds_done < MAX_ROUNDS and (rounds_done < BASIC_MODEL_ROUNDS or another_round_helps or FEW_YES_TAGS in codes):
        out.append(Suggestion(MORE_ROUNDS, (
            f"Tag another round ({rounds_done} of {MAX_ROUNDS} done): each round looks for more mentions where the "
            "model is unsure, and more YES tags teach it the other ways people say it.")))
    if codes & {FEW_YES_TAGS, FEW_DETECTIONS, WEAK_SEPARATION}:
        out.append(Suggestion(DIFFERENT_EXAMPLES, (
            "Try different example sentences: copy a few mentions as your calls really say them (fillers, "
            "half-sentences and all) from the transcripts, or start a new tracker with them.")))
    if codes & {WEAK_SEPARATION, FINDS_LITTLE} and not deep_trained:
        out.append(Suggestion(DEEP_TRAINING, (
            "Deep training may help: it tunes the tracker's own copy of the language model on your tags "
            "(t.train(deep=True), `workbench train NAME --deep`, or \"Deep training\" in the tagging view). "
            "On the benchmark's meeting speech it did not help on average, so compare it with this version "
            "before you activate it.")))
    if keywords_do_as_well or codes & {FEW_DETECTIONS}:
        out.append(Suggestion(KEYWORD_TRACKER, (
            "Consider a keyword tracker: when a concept is said in a few fixed words, exact phrases find it "
            "as well and are easier to trust (\"Create this keyword tracker\" in the overview, or "
            "t.create_keyword_baseline()).")))
    return tuple(out)


def diagnose_tracker(tracker, session, rounds_done: int) -> TrackerDiagnosis:
    """The diagnosis of a Tracker's current model (``session``: its session with a model).
    The keyword comparison is computed only when there is a finding to advise on."""
    findings = diagnose(session.estimate(), session.held_out(), session.answers)
    if not findings:
        return TrackerDiagnosis()
    versions = tracker.versions()
    deep_trained = "training" in versions.columns and (versions["training"] == "deep").any()
    steps = next_steps(findings, rounds_done=rounds_done,
                       another_round_helps=tracker.learning_curve().another_round_helps,
                       keywords_do_as_well=tracker.keyword_comparison().keywords_do_as_well,
                       deep_trained=bool(deep_trained))
    return TrackerDiagnosis(findings, steps)


def diagnose_estimate(estimate, rounds_done: int) -> TrackerDiagnosis:
    """The diagnosis of figures alone, with no tags to judge the model on here (a pre-trained
    tracker's bundle version): what they say, and what to do next."""
    findings = diagnose(estimate, None, np.empty(0, np.int8))
    return TrackerDiagnosis(findings, next_steps(findings, rounds_done=rounds_done, another_round_helps=None))


# Before activating: an interval whose low end is under these says the tracker may be weak
# (more than half its detections wrong, or fewer than three in ten mentions found).
WEAK_PRECISION_LOW = 0.5
WEAK_HIT_RATE_LOW = 0.3


def activation_concerns(rounds_done: int, estimate) -> list[str]:
    """Why activating may be premature, one line each; [] when nothing stands out. The user may
    go on anyway: the warnings are shown before activation, never enforced."""
    out = []
    if rounds_done < BASIC_MODEL_ROUNDS:
        out.append(f"Only {rounds_done} round{'s' if rounds_done != 1 else ''} tagged: {BASIC_MODEL_ROUNDS} rounds "
                   "make a basic model.")
    if estimate is None:
        return out
    p, h = estimate.precision, estimate.hit_rate
    if p is not None and p.low < WEAK_PRECISION_LOW:
        out.append(f"Precision may be as low as {p.low:.0%}: more than half of its detections could be wrong.")
    if h is not None and h.low < WEAK_HIT_RATE_LOW:
        out.append(f"The hit rate may be as low as {h.low:.0%}: it could miss most mentions.")
    return out
