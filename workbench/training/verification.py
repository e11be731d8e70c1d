"""Verify until sure: random tags, round after round, until the honest interval is as narrow as asked.

The user asks for an accuracy: precision to ±A, hit rate to ±B, each the half-width of the
honest estimate's 90% interval (``VerificationGoal``). Until it is reached, each round draws
up to 20 tags with a known chance of being drawn, on the side that figure needs
(``SAMPLERS``): random detections for precision (``DetectedSampleStrategy``), the
non-detections most likely to be misses for the hit rate (``LikelyMissStrategy``). Both go to
the honest estimate as random tags, so its interval narrows; the round comes back empty once
every asked half-width is reached (or nothing is left to draw on the side still short).

``verification_need`` projects how many more tags that will take (see it for what it assumes).
The session (``ActiveLearningSession.plan_verification`` and ``verification_need``) applies it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from workbench.training.performance import Figure, PerformanceEstimate

# The sampler each figure's tags are drawn by (a registered strategy name).
SAMPLERS = {"precision": "detected_sample", "hit_rate": "likely_miss"}
FIGURE_WORDS = {"precision": "precision", "hit_rate": "hit rate"}
_ASKED = re.compile(r"^\s*(precision|hit[ _-]?rate)\s*[=:]\s*(?:±|\+-|\+/-)?\s*([0-9.]+)\s*(%?)\s*$", re.I)


@dataclass(frozen=True)
class VerificationGoal:
    """The accuracy asked for: the half-width of each figure's 90% interval (0.05 is ±5
    points), precision and/or hit rate."""

    precision: float | None = None
    hit_rate: float | None = None

    def __post_init__(self) -> None:
        if self.precision is None and self.hit_rate is None:
            raise ValueError("ask for an accuracy: precision=0.05 and/or hit_rate=0.10")
        for name, value in self.asked.items():
            if not 0.0 < value < 0.5:
                raise ValueError(f"{FIGURE_WORDS[name]} to ±{value}: the half-width must lie between 0 and 0.5 "
                                 "(0.05 is ±5 points)")

    @property
    def asked(self) -> dict[str, float]:
        """The figures asked for and their half-widths, precision first."""
        return {name: float(v) for name, v in (("precision", self.precision), ("hit_rate", self.hit_rate))
                if v is not None}

    @classmethod
    def parse(cls, text: str) -> "VerificationGoal":
        """``"precision=0.05"``, ``"hit_rate=0.10"``, ``"hit rate=10%"``, or both joined by a
        comma."""
        values: dict[str, float] = {}
        for part in str(text).split(","):
            match = _ASKED.match(part)
            if match is None:
                raise ValueError(f"{part.strip()!r} is not an accuracy: write precision=0.05 or hit_rate=0.10")
            name = "precision" if match[1].lower() == "precision" else "hit_rate"
            try:
                value = float(match[2]) / (100.0 if match[3] else 1.0)
            except ValueError:
                raise ValueError(f"{match[2]!r} is not a number (write precision=0.05)") from None
            values[name] = value
        return cls(**values)

    def describe(self) -> str:
        return " and ".join(f"{FIGURE_WORDS[n]} to ±{v:.2f}" for n, v in self.asked.items())


@dataclass(frozen=True)
class FigureNeed:
    """Where one asked figure stands: its half-width now, the one asked, the random tags on
    its side so far, the untagged units left there, and the projected tags still needed."""

    name: str
    half_width: float
    asked: float
    random_tags: int
    left: int
    more: int

    @property
    def reached(self) -> bool:
        return self.half_width <= self.asked or self.left == 0


@dataclass(frozen=True)
class VerificationNeed:
    """How far a verification is from the asked accuracy, figure by figure."""

    goal: VerificationGoal
    figures: tuple[FigureNeed, ...]

    @property
    def reached(self) -> bool:
        return all(f.reached for f in self.figures)

    @property
    def more(self) -> int:
        """Projected tags still needed, over every figure not reached."""
        return sum(f.more for f in self.figures if not f.reached)

    def next_figure(self) -> str | None:
        """The figure the next round serves: of those not reached, the furthest from its
        accuracy (half-width over asked); None when every one is reached."""
        open_ = [f for f in self.figures if not f.reached]
        return max(open_, key=lambda f: f.half_width / f.asked).name if open_ else None

    def describe(self) -> str:
        """In words: "About 80 more tags (4 rounds of up to 20) for precision to ±0.05 (now ±0.12, ...)"."""
        now = "; ".join(f"{FIGURE_WORDS[f.name]} now ±{f.half_width:.2f}, from {f.random_tags} random tags"
                        for f in self.figures)
        short = [FIGURE_WORDS[f.name] for f in self.figures if f.half_width > f.asked]
        if self.reached and short:
            return (f"{self.goal.describe().capitalize()}: nothing is left to verify for {' and '.join(short)}, every "
                    f"unit on its side is tagged ({now}).")
        if self.reached:
            return f"{self.goal.describe().capitalize()} is reached ({now})."
        rounds = math.ceil(self.more / 20)
        return (f"About {self.more} more tags ({rounds} round{'s' if rounds != 1 else ''} of up to 20) for "
                f"{self.goal.describe()} ({now}).")


def half_width(figure: Figure | None) -> float:
    """Half the width of a figure's interval; 0.5 (nothing known) without a figure."""
    return 0.5 if figure is None else (figure.high - figure.low) / 2.0


def tags_needed(current: float, asked: float, random_tags: int, left: int) -> int:
    """Projected random tags still needed to narrow a half-width from ``current`` to ``asked``.

    Assumes the half-width shrinks as 1 / sqrt(n), n the random tags the figure rests on
    (``random_tags``, at least 1): n (current / asked)^2 - n more. What the prior from the
    calibrated scores adds is treated as if it were in those tags; a round's tags are
    weighted by 1/their chance, so they count for a little less than that and the projection
    tends to be low. Never more than ``left``, the untagged units on that side: once all
    are tagged the figure is exact."""
    if current <= asked or left == 0:
        return 0
    n = max(random_tags, 1)
    return int(min(math.ceil(n * (current / asked) ** 2 - n), left))


def verification_need(goal: VerificationGoal, estimate: PerformanceEstimate | None,
                      random_tags: dict[str, int], left: dict[str, int]) -> VerificationNeed:
    """Where each asked figure of ``estimate`` stands against ``goal``; ``random_tags`` and
    ``left`` per figure name: random tags on its side so far, untagged units left there."""
    figures = []
    for name, asked in goal.asked.items():
        figure = None if estimate is None else getattr(estimate, f"honest_{name}")
        now = half_width(figure)
        figures.append(FigureNeed(name, now, asked, random_tags[name], left[name],
                                  tags_needed(now, asked, random_tags[name], left[name])))
    return VerificationNeed(goal, tuple(figures))


def held_rounds(tag_rounds, verification_rounds) -> frozenset[int]:
    """The verification rounds a model is held over while the user verifies: those among
    ``tag_rounds`` (the round of each tag) numbered after the last learning round, a round not
    in ``verification_rounds``. None before any learning round (the tags must make a model)."""
    rounds = {int(r) for r in np.unique(np.asarray(tag_rounds))}
    learning = rounds - set(verification_rounds)
    if not learning:
        return frozenset()
    return frozenset(r for r in rounds - learning if r > max(learning))
