"""The learning curve over rounds, and whether another round of tagging is likely to help.

The judgement itself is the training core's (`assess_learning_curve`: how much the detections
moved between the last two models, which the benchmark shows predicts the next round's gain);
this module adds the product's rules around it: four rounds make a basic model, ten is the most
the workflow asks for.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from workbench.core.settings import BASIC_MODEL_ROUNDS, MAX_ROUNDS
from workbench.training.curve import RoundRecord, assess_learning_curve


@dataclass
class LearningCurve:
    rounds: list[int]
    precision: list[float | None]
    hit_rate: list[float | None]
    f1: list[float | None]
    detection_change: list[float | None]
    another_round_helps: bool
    advice: str

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"round": self.rounds, "precision": self.precision, "hit_rate": self.hit_rate, "f1": self.f1,
             "detection_change": self.detection_change},
            schema={"round": pl.Int64, "precision": pl.Float64, "hit_rate": pl.Float64, "f1": pl.Float64,
                    "detection_change": pl.Float64},
        )


VERSION_SCHEMA = {"version": pl.Int64, "round": pl.Int64, "run_id": pl.String, "created_at": pl.String,
                  "n_yes": pl.Int64, "n_no": pl.Int64, "precision": pl.Float64, "hit_rate": pl.Float64,
                  "detected_sentences": pl.Int64, "detection_change": pl.Float64}


def versions_table(versions: list[dict]) -> pl.DataFrame:
    """A tracker's stored versions (``TrainingStore.versions``) as one row each: version,
    round, run_id, created_at, n_yes, n_no, precision and hit rate (honest where there were
    random tags, else the reference figures), detected_sentences, detection_change."""
    out = []
    for r in versions:
        m = r["metrics"]
        p = m.get("honest_precision") or m.get("reference_precision") or {}
        h = m.get("honest_hit_rate") or m.get("reference_hit_rate") or {}
        out.append({"version": r["version"], "round": r["round_number"], "run_id": r["run_id"],
                    "created_at": r["created_at"], "n_yes": m.get("n_yes"), "n_no": m.get("n_no"),
                    "precision": p.get("value"), "hit_rate": h.get("value"),
                    "detected_sentences": m.get("detected_sentences"),
                    "detection_change": m.get("detection_change")})
    return pl.DataFrame(out, schema=VERSION_SCHEMA)


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None
    return 2 * p * r / (p + r)


def learning_curve(versions: pl.DataFrame) -> LearningCurve:
    """From the tracker's versions table (the last training of each round counts)."""
    last = (versions.sort("version").group_by("round", maintain_order=True).last().sort("round")
            if versions.height else versions)
    rows = list(last.iter_rows(named=True)) if last.height else []
    rounds = [r["round"] for r in rows]
    prec = [r["precision"] for r in rows]
    hit = [r["hit_rate"] for r in rows]
    f1 = [_f1(p, h) for p, h in zip(prec, hit)]
    change = [r.get("detection_change") for r in rows]
    done = max(rounds) if rounds else 0
    if done >= MAX_ROUNDS:
        helps, advice = False, f"{MAX_ROUNDS} rounds tagged: the model is as good as tagging makes it; publish it."
    elif done < BASIC_MODEL_ROUNDS:
        left = BASIC_MODEL_ROUNDS - done
        helps = True
        advice = f"Tag {left} more round{'s' if left > 1 else ''}: {BASIC_MODEL_ROUNDS} rounds make a basic model."
    else:
        records = [RoundRecord(r["round"], (r["n_yes"] or 0) + (r["n_no"] or 0), f, r["detected_sentences"] or 0, c)
                   for r, f, c in zip(rows, f1, change)]
        verdict = assess_learning_curve(records)
        helps = verdict.likely_helps
        advice = verdict.reason[:1].upper() + verdict.reason[1:] + "."
        if not helps and done > BASIC_MODEL_ROUNDS:
            advice += (f" Rounds {BASIC_MODEL_ROUNDS + 1}-{done} have stopped improving it: if it still falls short, "
                       "start a new tracker with different example sentences, closer to how your calls say it.")
    return LearningCurve(rounds, prec, hit, f1, change, helps, advice)
