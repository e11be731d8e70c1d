"""Diagnostic: on transcribed speech, is the gap to the ceiling the positives found, the number
of labels, or the representation?

Through the loop (5 examples, 4 rounds of 25 tags) the meetings trackers reach about 0.42x the
frozen-embedding ceiling, and about 0.48x at the best threshold in hindsight. This study fits
the product's own model (``ActiveLearningSession`` over the concept's scope: ``TrackerModel``
with its defaults, the 5 examples, turn mates, each text once, the threshold's bound) on label
sets chosen with the truth in hand, and scores it on the whole corpus as tracker_quality.py
does (utterance-level F1 over the concept's side, as a ratio to the same ceiling):

* (i) ``random``: N labels drawn at random from the scope's sentences (a text in proportion to
  its copies, each text once, as a tag answers every copy), N in 100 ... 3200;
* (ii) ``k positives``: 100 labels, k drawn at random from the true positives and 100 - k
  at random from the negatives;
* (iii) the loop's own label set (a run of tracker_quality's loop, same seed), and the same
  counts with its YES tags or its NO tags swapped for random ones of the same class.

Each cell reports the F1 ratio at the model's own threshold and at the best threshold in
hindsight (the ranking's limit, comparable with the ceiling, which is also at its best
threshold). Seed s picks the examples as the loop does and seeds the draws; one draw per seed.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/speech_budget.py   # seeds 0-11, all five concepts

Writes benchmarks/results/speech_budget.md and .json. This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracker_quality as tq  # noqa: E402
from _corpora import (  # noqa: E402
    DATASETS,
    DEFAULT_DIR,
    RESULTS,
    ConceptArrays,
    concept_arrays,
    load_corpus,
    oracle_threshold_f1,
    pick_examples,
    prf,
    to_utterances,
    write_results,
)
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.embedding.normalise import DEFAULT_NORMALISATION  # noqa: E402
from workbench.training.session import ActiveLearningSession  # noqa: E402

CORPUS = "mrda-meetings"
SIZES = (100, 200, 400, 800, 1600, 3200)
POSITIVE_COUNTS = (10, 20, 30, 50)
BUDGET = 100


def distinct_texts(rows: np.ndarray, codes: np.ndarray, n: int, rng: np.random.Generator,
                   taken: set[int]) -> list[int]:
    """Up to ``n`` rows of ``rows`` in random order whose texts are not in ``taken`` nor each
    other's: a tag answers every copy of its text, so each label is one distinct text."""
    out: list[int] = []
    if n <= 0:
        return out
    for r in rng.permutation(rows):
        c = int(codes[r])
        if c not in taken:
            taken.add(c)
            out.append(int(r))
            if len(out) == n:
                break
    return out


def fit_and_score(a: ConceptArrays, examples: np.ndarray, rows, answers, inclusion, rounds, seed: int,
                  ceiling_f1: float) -> dict:
    """The product's model on these tags (recorded on ``rows`` in ``rounds``, drawn with
    chance ``inclusion``, NaN: not at random), scored over the whole corpus: F1 / ceiling at
    its threshold and at the best threshold in hindsight."""
    n = len(a.X)
    labels, shown = np.full(n, -1, np.int8), np.zeros(n, bool)
    tag_round, pi = np.full(n, -1, np.int64), np.full(n, np.nan)
    rows = np.asarray(rows, np.int64)
    labels[rows], shown[rows], tag_round[rows], pi[rows] = answers, True, rounds, inclusion
    session = ActiveLearningSession(a.X, a.X[examples], turns=a.utt_key, call_ids=a.call_ids,
                                    duplicates=a.duplicates, seed=seed)
    session.set_tags(labels, shown, tag_round, pi)
    scores = session.scores()
    if scores is None:
        return {"ratio": 0.0, "oracle_ratio": 0.0, "yes": int((answers == 1).sum()), "collapsed": True}
    det = to_utterances(scores > 0, a.utt_key, a.n_utts)
    m = prf(det[a.in_scope], a.utt_truth[a.in_scope])
    oracle = oracle_threshold_f1(scores, a.utt_key, a.n_utts, a.in_scope, a.utt_truth)
    return {"ratio": m["f1"] / ceiling_f1, "oracle_ratio": oracle / ceiling_f1, "f1": m["f1"],
            "precision": m["precision"], "hit_rate": m["hit_rate"], "yes": int((answers == 1).sum()),
            "collapsed": False}


def loop_tags(a: ConceptArrays, examples: np.ndarray, seed: int):
    """The rows the product's loop tags in 4 rounds of 25 (tracker_quality's simulated user,
    its defaults), their answers, rounds and chances of being drawn."""
    session = tq.new_session(a.X, examples, seed, call_ids=a.call_ids, groups=a.utt_key, duplicates=a.duplicates)
    tq.run_tracker(session, a.truth_sent)
    labels, shown, tag_round, pi = session.recorded_tags
    rows = np.flatnonzero(shown & (labels >= 0))
    return rows, labels[rows].astype(np.int8), tag_round[rows], pi[rows]


def label_sets(a: ConceptArrays, examples: np.ndarray, seed: int):
    """(cell, rows, answers, inclusion probability, round) for every label set of the study.
    Swapped-in tags are not a probability sample of the scope (NaN chance, round 4)."""
    rng = np.random.default_rng([seed, 15])
    codes = a.duplicates
    n_texts = len(np.unique(codes))
    everything = np.arange(len(a.X))
    pos_rows, neg_rows = np.flatnonzero(a.truth_sent), np.flatnonzero(~a.truth_sent)
    # Nested random draws: the first N of one permutation of distinct texts.
    random_rows = distinct_texts(everything, codes, max(SIZES), rng, set(codes[examples].tolist()))
    for n in SIZES:
        rows = np.array(random_rows[:n])
        yield f"random N={n}", rows, a.truth_sent[rows].astype(np.int8), n / n_texts, 1
    for k in POSITIVE_COUNTS:
        taken = set(codes[examples].tolist())
        pos = distinct_texts(pos_rows, codes, k, rng, taken)
        neg = distinct_texts(neg_rows, codes, BUDGET - k, rng, taken)
        rows = np.array(pos + neg)
        yield f"100 labels, k={k} positives", rows, a.truth_sent[rows].astype(np.int8), np.nan, 1
    rows, answers, rounds, pi = loop_tags(a, examples, seed)
    yes, no = answers == 1, answers == 0
    yield "loop: its YES + its NO", rows, answers, pi, rounds
    n_yes, n_no = int(yes.sum()), int(no.sum())

    def swapped(keep, cls_rows, count):
        taken = set(codes[examples].tolist()) | set(codes[rows[keep]].tolist())
        new = np.array(distinct_texts(cls_rows, codes, count, rng, taken), np.int64)
        r = np.concatenate([rows[keep], new])
        return (r, a.truth_sent[r].astype(np.int8), np.concatenate([pi[keep], np.full(len(new), np.nan)]),
                np.concatenate([rounds[keep], np.full(len(new), 4)]))

    yield ("loop: its YES + random NO", *swapped(yes, neg_rows, n_no))
    yield ("loop: random YES + its NO", *swapped(no, pos_rows, n_yes))
    taken = set(codes[examples].tolist())
    r = np.array(distinct_texts(pos_rows, codes, n_yes, rng, taken) + distinct_texts(neg_rows, codes, n_no, rng, taken),
                 np.int64)
    yield "loop counts: random YES + random NO", r, a.truth_sent[r].astype(np.int8), np.nan, 1


def summarise(runs: list[dict]) -> dict:
    """Per cell: per concept the mean ratio over seeds, then the median and worst concept."""
    cells: dict[str, dict[str, list[dict]]] = {}
    for r in runs:
        cells.setdefault(r["cell"], {}).setdefault(r["concept"], []).append(r)
    out = {}
    for cell, by_concept in cells.items():
        per = {c: {"ratio": float(np.mean([x["ratio"] for x in v])),
                   "oracle_ratio": float(np.mean([x["oracle_ratio"] for x in v])),
                   "yes": float(np.mean([x["yes"] for x in v])), "draws": len(v)} for c, v in by_concept.items()}
        out[cell] = {"per_concept": per,
                     "median_ratio": float(np.median([p["ratio"] for p in per.values()])),
                     "min_ratio": float(min(p["ratio"] for p in per.values())),
                     "median_oracle_ratio": float(np.median([p["oracle_ratio"] for p in per.values()])),
                     "min_oracle_ratio": float(min(p["oracle_ratio"] for p in per.values()))}
    return out


def render(result: dict) -> str:
    s = result["summary"]
    concepts = list(next(iter(s.values()))["per_concept"])
    lines = ["# Speech budget: what ~100 labels on frozen embeddings allow", "",
             "Generated by `benchmarks/speech_budget.py`; do not edit by hand.", "",
             f"Corpus {CORPUS}; seeds {result['seeds']} (one draw per seed; the seed also picks the 5 examples as "
             "the loop does). The product's model (`ActiveLearningSession`, `TrackerModel` defaults, the 5 "
             "examples, turn mates, each text once) fitted on oracle label sets and scored over the whole corpus "
             "at utterance level, as a ratio to the frozen ceiling (`tracker_quality.py`'s). Each cell: median "
             "over the 5 concepts of the per-concept mean over seeds, the worst concept in brackets; "
             "'at threshold' is the model's own threshold, 'best threshold' the best one in hindsight (the "
             "ranking's limit, like the ceiling's). CPU seconds for the whole run: "
             f"{result['cpu_seconds']:.0f}.", "",
             "| label set | YES labels (mean) | F1 / ceiling at threshold | F1 / ceiling, best threshold | "
             + " | ".join(f"{c} (best thr.)" for c in concepts) + " |",
             "|---|---|---|---|" + "---|" * len(concepts)]
    for cell, v in s.items():
        per = v["per_concept"]
        yes = np.mean([p["yes"] for p in per.values()])
        lines.append(f"| {cell} | {yes:.1f} | {v['median_ratio']:.3f} ({v['min_ratio']:.3f}) | "
                     f"{v['median_oracle_ratio']:.3f} ({v['min_oracle_ratio']:.3f}) | "
                     + " | ".join(f"{per[c]['oracle_ratio']:.2f}" for c in concepts) + " |")
    lines += ["", "## What it says", "", result.get("reading", "(see the report)"), ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    ap.add_argument("--concept", default=None)
    ap.add_argument("--results-name", default="speech_budget")
    ap.add_argument("--reading", type=Path, default=None, help="a file with the 'what it says' paragraph")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the markdown from the results' json (with --reading), without fitting")
    args = ap.parse_args(argv)
    if args.render_only:
        path = RESULTS / f"{args.results_name}.json"
        result = json.loads(path.read_text())
        if args.reading:
            result["reading"] = args.reading.read_text().strip()
        write_results(args.results_name, result, render(result))
        return
    t0 = time.process_time()
    cache = TextEmbeddingCache()
    corpus = load_corpus(DATASETS / CORPUS, cache, DEFAULT_NORMALISATION)
    ceilings = json.loads((DEFAULT_DIR / "ceilings.json").read_text())
    runs = []
    for concept in corpus.concepts:
        if args.concept and args.concept.lower() not in concept["name"].lower():
            continue
        a = concept_arrays(corpus, concept)
        ceil = ceilings[f"{corpus.key}/{concept['name']}"]["f1"]
        for seed in args.seeds:
            examples = pick_examples(a.truth_sent, a.utt_key, a.n_sent_in_utt, seed)
            for cell, rows, answers, pi, rounds in label_sets(a, examples, seed):
                r = fit_and_score(a, examples, rows, answers, pi, rounds, seed, ceil)
                runs.append({"concept": concept["name"], "seed": seed, "cell": cell, "labels": len(rows)} | r)
                print(f"{concept['name'][:22]:22s} seed {seed:2d} {cell:38s} yes {r['yes']:4d} "
                      f"ratio {r['ratio']:.3f} best-thr {r['oracle_ratio']:.3f}", flush=True)
    result = {"seeds": args.seeds, "summary": summarise(runs), "runs": runs,
              "cpu_seconds": time.process_time() - t0}
    if args.reading:
        result["reading"] = args.reading.read_text().strip()
    write_results(args.results_name, result, render(result))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
