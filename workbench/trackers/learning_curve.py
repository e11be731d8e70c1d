"""The learning curve over rounds, and whether another round of tagging is likely to help."""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from workbench.trackers.rounds import BASIC_MODEL_ROUNDS, MAX_ROUNDS

# A change in F1 smaller than this between the last two rounds reads as a plateau: the
# estimate's own noise at 100-250 tags is about this size.
PLATEAU_F1 = 0.02


@dataclass
class LearningCurve:
    rounds: list[int]
    precision: list[float | None]
    hit_rate: list[float | None]
    f1: list[float | None]
    another_round_helps: bool
    advice: str

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame({"round": self.rounds, "precision": self.precision, "hit_rate": self.hit_rate, "f1": self.f1},
                            schema={"round": pl.Int64, "precision": pl.Float64, "hit_rate": pl.Float64, "f1": pl.Float64})


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None
    return 2 * p * r / (p + r)


def learning_curve(versions: pl.DataFrame) -> LearningCurve:
    """From the tracker's versions (one per trained round, the last training of a round wins)."""
    if versions.height:
        last = versions.sort("version").group_by("round", maintain_order=True).last().sort("round")
    else:
        last = versions
    rounds = last["round"].to_list() if last.height else []
    prec = last["precision"].to_list() if last.height else []
    hit = last["hit_rate"].to_list() if last.height else []
    f1 = [_f1(p, r) for p, r in zip(prec, hit)]
    done = max(rounds) if rounds else 0
    if done >= MAX_ROUNDS:
        helps, advice = False, f"{MAX_ROUNDS} rounds tagged: the model is as good as tagging makes it; publish it."
    elif done < BASIC_MODEL_ROUNDS:
        left = BASIC_MODEL_ROUNDS - done
        helps, advice = True, f"Tag {left} more round{'s' if left > 1 else ''}: {BASIC_MODEL_ROUNDS} rounds make a basic model."
    else:
        recent = [x for x in f1[-2:] if x is not None]
        if len(recent) == 2 and abs(recent[1] - recent[0]) < PLATEAU_F1:
            helps = False
            advice = (f"F1 moved by {recent[1] - recent[0]:+.3f} in the last round: another round is unlikely to "
                      "help much; tag more only to narrow the intervals.")
        elif len(recent) == 2:
            helps = True
            advice = f"F1 moved by {recent[1] - recent[0]:+.3f} in the last round: another round is likely to help."
        else:
            helps, advice = True, "Not enough trained rounds to read a trend: tag another round."
    return LearningCurve(rounds, prec, hit, f1, helps, advice)
