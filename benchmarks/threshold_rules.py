"""Threshold rules, scored offline on the final models of a tracker_quality run.

On the quality benchmark the rankings learnt in 4 rounds reach 0.966x the ceiling at the
best threshold in hindsight, and the chosen thresholds cost about 0.03 more. This script
asks whether another rule for choosing the threshold from the tags would recover that, on
the same final models (the rounds are not rerun):

    .venv/bin/python benchmarks/tracker_quality.py --dump /tmp/tq-dump --verify 0 --no-write
    .venv/bin/python benchmarks/threshold_rules.py /tmp/tq-dump          # writes results/threshold_rules.md

The recorded tables were made before YES tags were learnt from their turns' best sentences:
dumps from ``--model-param yes_sentence=tagged``, read with ``--yes-sentence tagged``.

Each rule sees what ``TrackerModel.fit`` sees (the tags' out-of-fold decision values, under
the same folds) and returns a cut on that scale, applied to the final model's raw scores as
the product does. F1 is at utterance level over the concept's side, as a ratio to the
ceiling; the "default" row must reproduce the benchmark (the script stops otherwise).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpora import dumped_runs, load_corpora, median_and_worst, write_study  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.training.model import TrackerModel, best_f1_threshold, turn_mates  # noqa: E402


def out_of_fold(X, labels, examples, seed, groups, yes_sentence="best_of_turn"):
    """The tags' out-of-fold decision values exactly as TrackerModel's "cv" threshold gets them
    (a YES learnt from its turn's best sentence, as the model chose it), and each tag's turn
    scored as its best sentence under the same fold model."""
    tagged = np.flatnonzero(labels >= 0)
    y = labels[tagged].astype(int)
    mate_rows, mate_of = turn_mates(groups, tagged)
    m = TrackerModel(random_state=seed, yes_sentence=yes_sentence).fit(
        X[tagged], y, example_embeddings=X[examples], mate_embeddings=X[mate_rows], mate_of=mate_of)
    Xt = X[tagged].copy()
    chosen = m.witness_rows_ >= 0
    Xt[chosen] = X[mate_rows[m.witness_rows_[chosen]]]
    k = min(m.cv, int(np.bincount(y, minlength=2).min()))
    oof = np.empty(len(y))
    turn = np.empty(len(y))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(Xt, y):
        lr = m._fit_lr(Xt[tr], y[tr], None, X[examples])
        oof[te] = lr.decision_function(Xt[te])
        turn[te] = lr.decision_function(X[tagged[te]])
        held = np.isin(mate_of, te)
        if held.any():
            np.maximum.at(turn, mate_of[held], lr.decision_function(X[mate_rows[held]]))
    turn = np.maximum(turn, oof)
    return y, oof, turn


def _cuts(s):
    return np.append((s[:-1] + s[1:]) / 2, s[-1] - 1e-9)


def smoothed(oof, y, seed):
    """Best expected F1 on the tags under a logistic calibration of their scores: a smooth
    curve instead of the jagged one of 100 points."""
    p = LogisticRegression(C=100).fit(oof[:, None], y).predict_proba(oof[:, None])[:, 1]
    order = np.argsort(-oof)
    s, pp = oof[order], p[order]
    f1 = 2 * np.cumsum(pp) / (np.arange(1, len(s) + 1) + pp.sum())
    f1 = np.where(np.append(s[1:] < s[:-1], True), f1, -1)
    return float(_cuts(s)[int(np.argmax(f1))])


def bagged(oof, y, seed, n=50):
    """Median of the best-F1 cuts of bootstrap resamples of the tags."""
    rng = np.random.default_rng(seed)
    cuts = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].any():
            cuts.append(best_f1_threshold(oof[i], y[i]))
    return float(np.median(cuts))


def plateau(eps):
    """Median of every cut whose F1 on the tags is within eps of the best."""
    def rule(oof, y, seed):
        order = np.argsort(-oof)
        s, yy = oof[order], y[order].astype(bool)
        f1 = 2 * np.cumsum(yy) / (np.arange(1, len(s) + 1) + yy.sum())
        f1 = np.where(np.append(s[1:] < s[:-1], True), f1, -1)
        return float(np.median(_cuts(s)[f1 >= f1.max() - eps]))
    return rule


def yes_turns(oof, y, seed, turn):
    """Best F1 where a YES tag counts as found when any sentence of its turn scores above the
    cut (a sentence that says it, says it for its turn) and a NO tag speaks for its sentence
    only (a NO on one sentence says nothing of the rest of the turn)."""
    return best_f1_threshold(np.where(y == 1, turn, oof), y)


RULES = {
    "best F1 of the tags' out-of-fold scores (default)": lambda oof, y, seed, turn: best_f1_threshold(oof, y),
    "best F1 counting turns: each tag's turn scored as its best sentence (threshold_unit=turn)":
        lambda oof, y, seed, turn: best_f1_threshold(turn, y),
    "best F1 counting a YES tag's turn and a NO tag's sentence": yes_turns,
    "best expected F1 under a logistic calibration of those scores": lambda oof, y, seed, turn: smoothed(oof, y, seed),
    "median best cut over 50 bootstrap resamples of the tags": lambda oof, y, seed, turn: bagged(oof, y, seed),
    "median of the cuts within 0.01 of the best F1": lambda oof, y, seed, turn: plateau(0.01)(oof, y, seed),
    "median of the cuts within 0.02 of the best F1": lambda oof, y, seed, turn: plateau(0.02)(oof, y, seed),
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dumps", type=Path, nargs="+", help="folders written by tracker_quality.py --dump")
    ap.add_argument("--yes-sentence", choices=["best_of_turn", "tagged"], default="best_of_turn",
                    help="the model the dumps were made with: tagged for dumps made with "
                         "--model-param yes_sentence=tagged (the tables recorded in session 4)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    corpora = load_corpora(TextEmbeddingCache())
    sections = []
    for dump in args.dumps:
        ratios: dict[str, dict[str, list[float]]] = {name: {} for name in [*RULES, "oracle"]}
        seeds = set()
        for run in dumped_runs(dump, corpora):
            seeds.add(run.seed)
            y, oof, turn = out_of_fold(run.X, run.labels, run.examples, run.seed, run.utt_key, args.yes_sentence)
            for name, rule in RULES.items():
                cut = rule(oof, y, run.seed, turn)
                if "(default)" in name and abs(cut - run.threshold) > 1e-6:
                    raise SystemExit(f"{run.key} seed {run.seed}: the default rule gives {cut}, the run used "
                                     f"{run.threshold}; the dump is from another version of the model")
                ratios[name].setdefault(run.key, []).append(run.f1_ratio(run.raw, cut))
            ratios["oracle"].setdefault(run.key, []).append(run.oracle_ratio(run.raw))
        lines = [f"### {dump.name}: seeds {min(seeds)}-{max(seeds)}, {sum(map(len, ratios['oracle'].values()))} runs",
                 "", "| rule | median F1 / ceiling | worst concept |", "|---|---|---|"]
        for name, by in ratios.items():
            median, worst = median_and_worst(by)
            label = "best threshold in hindsight (needs the ground truth)" if name == "oracle" else name
            lines.append(f"| {label} | {median:.3f} | {worst:.3f} |")
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)
    if not args.no_write:
        write_study("threshold_rules.md", "Threshold rules on the same final models", "threshold_rules.py", sections)


if __name__ == "__main__":
    main()
