"""Levers for transcribed speech, scored offline on the tags of a tracker_quality run.

On mrda-meetings the trackers' rankings reach about 0.48x the ceiling at the best threshold
in hindsight and the chosen thresholds about 0.34x (benchmarks/results/tracker_quality.md,
before session 6). This study refits the product's own session (ActiveLearningSession, turn
mates and all) on the dumped tags, under other model settings and other threshold rules, and
reports typed and spoken corpora apart:

    .venv/bin/python benchmarks/tracker_quality.py --dump /tmp/tq-dump --verify 0 --no-write --no-timing
    .venv/bin/python benchmarks/speech_levers.py /tmp/tq-dump       # writes results/speech_levers.md

The rounds are not rerun (the tags are those the dumped model chose), so a lever that looks
good here must still be confirmed through the loop (tracker_quality.py --model-param ...).

Threshold rules that need the corpus (each estimates the corpus F1 of every cut from the
final model's scores on the whole scope and a calibration P(YES | score) of the tags'
held-out scores; the tagged rows count as their answers):

* "calibrated on every tag": the calibration fitted on all tags.
* "calibrated on the random tags": fitted on the stratified probe's tags only, whose
  selection depends on the score alone, so P(YES | score) is not bent by the choice.
* "two-piece": the probe's calibration below the model's threshold, every tag's above it
  (the honest estimate's calibration, workbench.training.estimate.calibration).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpora import dumped_runs, load_corpora, median_and_worst, write_study  # noqa: E402
from _quality_report import SPOKEN  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.training.estimate.calibration import RIDGE, logistic  # noqa: E402
from workbench.training.session import ActiveLearningSession  # noqa: E402

MODELS = {"C = 10 (the default)": {"C": 10.0}, "C = 3": {"C": 3.0}, "C = 2": {"C": 2.0},
          "C = 1": {"C": 1.0}, "C = 0.3": {"C": 0.3}}


def expected_f1_cut(raw: np.ndarray, p_yes: np.ndarray, labels: np.ndarray) -> float:
    """The cut on ``raw`` that maximises the expected corpus F1 when each untagged row is a
    mention with probability ``p_yes`` and each tagged row is its answer."""
    q = np.where(labels >= 0, (labels == 1).astype(float), p_yes)
    order = np.argsort(-raw)
    s, qq = raw[order], q[order]
    f1 = 2 * np.cumsum(qq) / (np.arange(1, len(s) + 1) + qq.sum())
    f1 = np.where(np.append(s[1:] < s[:-1], True), f1, -1)
    i = int(np.argmax(f1))
    return float((s[i] + s[i + 1]) / 2) if i + 1 < len(s) else float(s[i] - 1e-9)


def threshold_rules(session: ActiveLearningSession, inclusion: np.ndarray) -> dict[str, float]:
    """Each rule's cut on the raw scale of the session's final model."""
    model, labels = session.model(), session.labels
    raw = session.scores() + model.threshold_
    tagged = np.flatnonzero(labels >= 0)
    y = labels[tagged].astype(float)
    oof = session.held_out()[tagged] + model.threshold_  # held-out decision values keep the threshold
    Z = np.column_stack([oof, np.ones_like(oof)])
    probe = np.isfinite(inclusion[tagged]) & (inclusion[tagged] > 0)
    a, b = logistic(Z, y, RIDGE)
    rules = {"best F1 of the tags' out-of-fold scores (default)": model.threshold_,
             "expected corpus F1, calibrated on every tag": expected_f1_cut(raw, expit(a * raw + b), labels)}
    if probe.sum() >= 4 and y[probe].any():
        a1, b1 = logistic(Z[probe], y[probe], RIDGE)
        rules["expected corpus F1, calibrated on the random tags"] = expected_f1_cut(raw, expit(a1 * raw + b1), labels)
        two = np.where(raw > model.threshold_, expit(a * raw + b), expit(a1 * raw + b1))
        rules["expected corpus F1, two-piece calibration"] = expected_f1_cut(raw, two, labels)
    return rules


def _table(title: str, by: dict[str, dict[str, list[float]]]) -> list[str]:
    lines = [f"#### {title}", "", "| lever | typed: median / worst | speech: median / worst |", "|---|---|---|"]
    for name, runs in by.items():
        typed = {k: v for k, v in runs.items() if k.split("/")[0] not in SPOKEN}
        spoken = {k: v for k, v in runs.items() if k.split("/")[0] in SPOKEN}
        cells = [("%.3f / %.3f" % median_and_worst(g)) if g else "–" for g in (typed, spoken)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dump", type=Path, help="a folder written by tracker_quality.py --dump")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    corpora = load_corpora(TextEmbeddingCache())
    chosen: dict[str, dict[str, list[float]]] = {}
    hindsight: dict[str, dict[str, list[float]]] = {}
    rules: dict[str, dict[str, list[float]]] = {}
    seeds = set()
    for run in dumped_runs(args.dump, corpora):
        seeds.add(run.seed)
        inclusion = np.load(args.dump / f"{run.key.replace('/', '__')}__{run.seed}.npz")["inclusion"]
        for name, params in MODELS.items():
            session = ActiveLearningSession(run.X, run.X[run.examples], turns=run.utt_key, model_params=params,
                                            seed=run.seed)
            session.set_tags(run.labels, run.labels >= 0, np.where(run.labels >= 0, 1, -1), inclusion)
            raw = session.scores() + session.model().threshold_
            chosen.setdefault(name, {}).setdefault(run.key, []).append(run.f1_ratio(raw, session.model().threshold_))
            hindsight.setdefault(name, {}).setdefault(run.key, []).append(run.oracle_ratio(raw))
            if params["C"] == 1.0:
                for rule, cut in threshold_rules(session, inclusion).items():
                    rules.setdefault(rule, {}).setdefault(run.key, []).append(run.f1_ratio(raw, cut))
        print(f"  {run.key} seed {run.seed}", flush=True)
    lines = [f"### {args.dump.name}: seeds {min(seeds)}-{max(seeds)}; F1 / ceiling, median over concepts and the "
             "worst concept", ""]
    lines += _table("The model's regularisation (its own threshold)", chosen) + [""]
    lines += _table("The same models at the best threshold in hindsight (the ranking's limit)", hindsight) + [""]
    lines += _table("Threshold rules on the C = 1 model", rules)
    print("\n".join(lines), flush=True)
    if not args.no_write:
        write_study("speech_levers.md", "Levers for transcribed speech, on the same tags", "speech_levers.py",
                    ["\n".join(lines)])


if __name__ == "__main__":
    main()
