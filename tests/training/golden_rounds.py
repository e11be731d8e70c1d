"""Recorded rounds of the active-learning session, to prove a speed-up changes no result.

Each case drives an ``ActiveLearningSession`` over a small built corpus (speaker turns of two
sentences, a rare concept along one direction, a tenth of the texts said twice) through learning
and verification rounds answered from the truth, and records after every round what a user
sees: the picks and their inclusion probabilities, the model's threshold (bounded and "cv"),
the detections, the tags' held-out scores and the whole estimate. ``data/rounds_expected.json``
holds the record written by the code of commit 331f8f4 (session 14's defaults with session 15's
interval ends, ``HonestEstimate(ends_when_unseen="both")``, before the round shared the threshold
bound's count with its estimate). The first record, by 2483162 (before both), differed from it
only in the new parameter and in interval ends moved to 1 (and the expected mentions' high end
with them), which is what the new ends are meant to move. It was then written once more for
``HonestEstimate(condition_tail=False)``, a parameter added off by default: that key was the only
difference; and for ``missed_fit="shared"`` (session 16, with ``missed_sd``, ``missed_level_sd``,
``missed_slope_prior``: the missed side's own line, off by default), those keys added only;
and for ``HonestEstimate(copies_from_tags=False)`` (session 16), the same. To write it:

    git worktree add /tmp/rounds-331f8f4 331f8f4
    PYTHONPATH=/tmp/rounds-331f8f4 .venv/bin/python tests/training/golden_rounds.py --write

test_rounds_golden.py replays every case and requires the same picks and counts exactly and the
same numbers to 1e-12 (a machine whose BLAS sums in another order may differ in the last bits;
on the machine that wrote the record they are equal bit for bit). Rewrite the record only for
a change meant to move what the rounds compute, and say so.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

EXPECTED_PATH = Path(__file__).parent / "data" / "rounds_expected.json"

# name -> session options and the rounds: "L" a learning round, "V" a verification round
# (precision-driven: ``plan_verification(precision=0.05)``).
CASES: dict[str, dict] = {
    # Session 14's defaults: the bound (0.5x-2x the honest count below 30 YES texts) moves the
    # cut in some rounds and leaves it in others.
    "defaults": {"seed": 0, "rounds": "LLLLVL"},
    # A tight bound that moves the cut in nearly every round, counted by the posterior mean.
    "tight_bound": {"seed": 1, "rounds": "LLLL",
                    "model_params": {"detect_at_least": 1.0, "detect_at_most": 1.0, "positives_from": "estimate",
                                     "bound_below_yes": 1000}},
    # The model held while verifying: the count and the held-out scores come from the fitted
    # tags, the estimate from every tag.
    "held_while_verifying": {"seed": 2, "rounds": "LLLVVL", "keep_model_while_verifying": True},
    # Held, with a bound that moves the cut.
    "held_tight_bound": {"seed": 5, "rounds": "LLLVVL", "keep_model_while_verifying": True,
                         "model_params": {"detect_at_least": 1.0, "detect_at_most": 1.0, "bound_below_yes": 1000}},
    # The count from the rounds' raw random draws (no honest estimate inside the fit).
    "random_tags": {"seed": 3, "rounds": "LLL", "model_params": {"positives_from": "random_tags",
                                                                "detect_at_least": 1.0}},
    # No bound at all.
    "no_bound": {"seed": 4, "rounds": "LLLV", "model_params": {"detect_at_least": 0.0, "detect_at_most": 0.0}},
}


def world(seed: int, n: int = 4000, d: int = 24):
    """Embeddings, truth, examples, turns and text codes: turns of two sentences, a concept in
    ~4% of turns said in one of its sentences, every tenth text a copy of another."""
    rng = np.random.default_rng(100 + seed)
    turns = np.arange(n) // 2
    turn_truth = rng.random(n // 2) < 0.04
    says = turn_truth[turns] & (np.arange(n) % 2 == rng.integers(0, 2, n // 2)[turns])
    X = rng.normal(size=(n, d)) + 2.2 * says[:, None] * np.eye(d)[0]
    texts = np.arange(n)
    copies = np.flatnonzero(rng.random(n) < 0.1)
    texts[copies] = rng.integers(0, n, copies.size)
    X[copies] = X[texts[copies]]
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    examples = rng.normal(size=(5, d)) * 0.3 + 3.0 * np.eye(d)[0]
    examples = (examples / np.linalg.norm(examples, axis=1, keepdims=True)).astype(np.float32)
    truth = turn_truth[turns].astype(np.int8)
    _, codes = np.unique(texts, return_inverse=True)
    return X, truth, examples, turns, codes.astype(np.int64)


def session_of(case: dict):
    from workbench.training.session import ActiveLearningSession

    X, truth, examples, turns, codes = world(case["seed"])
    session = ActiveLearningSession(
        X, examples, turns=turns, duplicates=codes, call_ids=turns // 20, model_params=case.get("model_params"),
        keep_model_while_verifying=case.get("keep_model_while_verifying", False), seed=case["seed"])
    return session, truth


def run_case(name: str) -> list[dict]:
    """Every round of case ``name``: what it picked and what the session made of the answers."""
    case = CASES[name]
    session, truth = session_of(case)
    out = []
    for number, kind in enumerate(case["rounds"], start=1):
        if kind == "L":
            plan = session.plan_round(number)
        else:
            plan = session.plan_verification(number, precision=0.05)
        # Each text answered once for all its copies: the truth of the row shown.
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob, kind=plan.kind)
        out.append(round_record(session, plan))
    return out


def round_record(session, plan) -> dict:
    model, est, held = session.model(), session.estimate(), session.held_out()
    scores = session.scores()
    tagged = np.flatnonzero(session.answers >= 0)
    return {
        "kind": plan.kind,
        "picks": [int(i) for i in plan.indices],
        "inclusion_prob": [_num(p) for p in np.asarray(plan.inclusion_prob, float)],
        "threshold": None if model is None else float(model.threshold_),
        "threshold_unbounded": None if model is None else float(model.threshold_unbounded_),
        "detected": None if scores is None else int((scores > 0).sum()),
        "top_scores": None if scores is None else [float(s) for s in np.sort(scores)[-5:]],
        "held_out": None if held is None else [_num(h) for h in held[tagged]],
        "estimate": None if est is None else json.loads(json.dumps(est.as_dict(), default=_num)),
    }


def _num(x):
    x = float(x)
    return None if math.isnan(x) else x


def main() -> int:
    if "--write" not in sys.argv:
        print(__doc__)
        return 1
    record = {name: run_case(name) for name in CASES}
    EXPECTED_PATH.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())  # the code under PYTHONPATH writes the record
