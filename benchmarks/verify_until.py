"""Benchmark: verify until sure. After 5 examples and 4 rounds, verify until the asked accuracy.

For every concept of every corpus of ../shared/datasets and every seed: the loop of
tracker_quality.py (its session, 4 rounds of 25 answered from the labels), then verification
rounds of up to 20 through the session's own ``plan_verification(precision=0.05)`` (or the
accuracy asked with --precision / --hit-rate), answered from the labels, until the round comes
back empty (the honest 90% interval's half-width reached) or --max-rounds. Reports, per corpus:
the extra tags used (median, 90th percentile), the tags projected before the first round
(``verification_need``), and the share of runs whose final point lies within the asked accuracy
of the truth (utterance level, over the scope), and whose interval holds the truth.

    nice -n 10 .venv/bin/python benchmarks/verify_until.py --seeds 0 1 2 3 4 5
    nice -n 10 .venv/bin/python benchmarks/verify_until.py --seeds 12 13 14 15 16 17 --results-name verify_until_fresh
    # session 14's option: the model held, detected turns drawn in proportion to their copies, 4 bands
    nice -n 10 .venv/bin/python benchmarks/verify_until.py --keep-model-while-verifying \
        --precision-sampler detected_turns --estimate-param detected_bands=4 --corpus mrda --results-name NAME

Writes benchmarks/results/NAME.md and .json (default verify_until).
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

from _corpora import DATASETS, concept_arrays, each_concept, load_corpus, pick_examples, prf, to_utterances, write_results  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402
import tracker_quality  # noqa: E402
from tracker_quality import new_session, run_tracker  # noqa: E402

from workbench.embedding.normalise import DEFAULT_NORMALISATION  # noqa: E402
from workbench.training.strategies import get_strategy  # noqa: E402

FIGURES = ("precision", "hit_rate")
# The precision rounds' sampler when --precision-sampler / --sampler-param ask for another
# (None: the session's default, verification.SAMPLERS).
SAMPLERS: dict | None = None
# The session's keep_model_while_verifying (--keep-model-while-verifying: hold the model over
# the verification rounds; default, as the session's, False: every round retrains it).
KEEP_MODEL = False


def verify_until(session, truth_sent, goal: dict, first_round: int, max_rounds: int) -> dict:
    """Verification rounds answered from ``truth_sent`` until the session's round is empty."""
    need = session.verification_need(**goal)
    extra, number, trajectory = 0, first_round, []
    while number < first_round + max_rounds:
        plan = session.plan_verification(number, **goal)
        trajectory.append(_where(session, goal, extra))
        if len(plan) == 0:
            break
        session.tag(plan.indices, truth_sent[plan.indices].astype(np.int8), number, plan.inclusion_prob,
                    kind=plan.kind)
        extra += len(plan)
        number += 1
    if number == first_round + max_rounds:
        trajectory.append(_where(session, goal, extra))
    return {"projected": need.more, "extra_tags": extra, "rounds": number - first_round,
            "reached": session.verification_need(**goal).reached, "trajectory": trajectory}


def _where(session, goal: dict, extra: int) -> dict:
    """Where the verification stands before a round: the extra tags so far, and per asked
    figure its point, half-width, random tags and projected tags still needed (to study the
    projection offline)."""
    need, est = session.verification_need(**goal), session.estimate()
    out = {"extra": extra}
    for f in need.figures:
        point = getattr(est, f"honest_{f.name}")
        out[f.name] = {"value": None if point is None else point.value, "half_width": f.half_width,
                       "random_tags": f.random_tags, "left": f.left, "more": f.more}
    return out


def run_concept(corpus, concept, seeds, goal, max_rounds) -> list[dict]:
    c = concept_arrays(corpus, concept)
    X, utt_key, n_utts, utt_truth, in_scope, truth_sent = c.X, c.utt_key, c.n_utts, c.utt_truth, c.in_scope, c.truth_sent
    rows = []
    for seed in seeds:
        t = time.time()
        examples = pick_examples(truth_sent, utt_key, c.n_sent_in_utt, seed)
        session = new_session(X, examples, seed, call_ids=c.call_ids, groups=utt_key, duplicates=c.duplicates,
                              keep_model_while_verifying=KEEP_MODEL)
        if SAMPLERS:
            session.verification_samplers.update(SAMPLERS)  # the learning rounds never read it
        run_tracker(session, truth_sent)
        if session.model() is None:
            rows.append({"corpus": corpus.name, "concept": concept["name"], "seed": seed, "collapsed": True})
            continue
        before = session.estimate()
        row = {"corpus": corpus.name, "concept": concept["name"], "seed": seed, "collapsed": False}
        row |= verify_until(session, truth_sent, goal, 5, max_rounds)
        est = session.estimate()
        det = to_utterances(session.scores() > 0, utt_key, n_utts)
        truth = prf(det[in_scope], utt_truth[in_scope])
        for name in FIGURES:
            f, f0 = getattr(est, f"honest_{name}"), getattr(before, f"honest_{name}")
            row[name] = {"truth": truth[name], "value": f.value, "low": f.low, "high": f.high,
                         "half_width_before": (f0.high - f0.low) / 2, "half_width": (f.high - f.low) / 2}
        row["seconds"] = time.time() - t
        rows.append(row)
        name = next(iter(goal))
        p = row[name]
        print(f"  {concept['name'][:30]:30s} seed {seed}: projected {row['projected']:4d} used {row['extra_tags']:4d} "
              f"{name} truth {p['truth']:.3f} est {p['value']:.3f} [{p['low']:.3f},{p['high']:.3f}] "
              f"hw {p['half_width_before']:.3f}->{p['half_width']:.3f} {row['seconds']:.0f}s", flush=True)
    return rows


def summarise(rows: list[dict], goal: dict) -> dict:
    """Per corpus and over all: extra tags (median, p90), projected tags, share within the asked
    accuracy and interval coverage, for each asked figure."""
    out = {}
    groups = {"all": [r for r in rows if not r["collapsed"]]}
    for r in groups["all"]:
        groups.setdefault(r["corpus"], []).append(r)
    for name, rs in groups.items():
        extra = np.array([r["extra_tags"] for r in rs], float)
        s = {"runs": len(rs), "extra_median": float(np.median(extra)), "extra_p90": float(np.quantile(extra, 0.9)),
             "projected_median": float(np.median([r["projected"] for r in rs])),
             "reached": float(np.mean([r["reached"] for r in rs]))}
        for fig, asked in goal.items():
            err = np.array([abs(r[fig]["value"] - r[fig]["truth"]) for r in rs])
            s[fig] = {"asked": asked, "within": float(np.mean(err <= asked)),
                      "covered": float(np.mean([r[fig]["low"] <= r[fig]["truth"] <= r[fig]["high"] for r in rs])),
                      "half_width_median": float(np.median([r[fig]["half_width"] for r in rs])),
                      "half_width_before_median": float(np.median([r[fig]["half_width_before"] for r in rs]))}
        out[name] = s
    return out


def render(result: dict) -> str:
    goal, seeds = result["goal"], result["seeds"]
    asked = ", ".join(f"{k} ±{v}" for k, v in goal.items())
    lines = [f"# Verify until sure ({asked})", "",
             "Generated by `benchmarks/verify_until.py`; do not edit by hand.", "",
             f"Seeds {seeds}. After 5 examples and 4 rounds of 25 (tracker_quality.py's loop), verification "
             f"rounds of up to 20 from `session.plan_verification({', '.join(f'{k}={v}' for k, v in goal.items())})` "
             f"until it comes back empty (at most {result['max_rounds']} rounds). Truth: utterance level over the scope.",
             "", f"Precision rounds drawn by `{result.get('precision_sampler', 'DetectedSampleStrategy()')}`; "
             f"model {'held' if result.get('keep_model_while_verifying', False) else 'refitted after every round'} "
             f"while verifying; estimate "
             f"overrides {result.get('estimate_params') or 'none'}; load average at the end "
             f"{', '.join(f'{x:.1f}' for x in result.get('load', ()))} (2 cores, shared).",
             "", "| corpus | runs | extra tags median | extra tags p90 | projected median | reached | "
             + " | ".join(f"{f} within ±{a} | {f} covered | {f} half-width before -> after" for f, a in goal.items())
             + " |", "|---" * (6 + 3 * len(goal)) + "|"]
    for name, s in result["summary"].items():
        cells = [name, str(s["runs"]), f"{s['extra_median']:.0f}", f"{s['extra_p90']:.0f}",
                 f"{s['projected_median']:.0f}", f"{s['reached']:.0%}"]
        for f in goal:
            g = s[f]
            cells += [f"{g['within']:.0%}", f"{g['covered']:.0%}",
                      f"{g['half_width_before_median']:.3f} -> {g['half_width_median']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    ap.add_argument("--precision", type=float, default=None, help="asked half-width (default 0.05 when no --hit-rate)")
    ap.add_argument("--hit-rate", type=float, default=None)
    ap.add_argument("--max-rounds", type=int, default=15)
    ap.add_argument("--concept", default=None)
    ap.add_argument("--corpus", action="append", default=None,
                    help="only corpora whose folder name contains this (repeat for several)")
    ap.add_argument("--precision-sampler", default=None,
                    help="the strategy precision rounds draw with (default: the session's, detected_sample)")
    ap.add_argument("--sampler-param", action="append", default=[], metavar="KEY=VALUE",
                    help="a parameter of --precision-sampler, e.g. strata=4 floor=0.2")
    ap.add_argument("--estimate-param", action="append", default=[], metavar="KEY=VALUE",
                    help="an override of the estimate's parameters, e.g. detected_bands=4")
    ap.add_argument("--keep-model-while-verifying", action="store_true",
                    help="hold the model over the verification rounds (the session's keep_model_while_verifying)")
    ap.add_argument("--results-name", default="verify_until")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    goal = {k: v for k, v in (("precision", args.precision), ("hit_rate", args.hit_rate)) if v is not None}
    goal = goal or {"precision": 0.05}
    global SAMPLERS, KEEP_MODEL
    KEEP_MODEL = args.keep_model_while_verifying
    sampler_params = tracker_quality.key_values(args.sampler_param)
    if args.precision_sampler or sampler_params:
        SAMPLERS = {"precision": get_strategy(args.precision_sampler or "detected_sample", **sampler_params)}
    tracker_quality.ESTIMATE_PARAMS.update(tracker_quality.key_values(args.estimate_param))
    cache = TextEmbeddingCache()
    corpora = [load_corpus(d, cache, DEFAULT_NORMALISATION) for d in sorted(DATASETS.iterdir())
               if (d / "concepts.json").exists() and (not args.corpus or any(c in d.name for c in args.corpus))]
    rows = []
    for corpus, concept in each_concept(corpora, args.concept):
        rows += run_concept(corpus, concept, args.seeds, goal, args.max_rounds)
    result = {"goal": goal, "seeds": args.seeds, "corpora": [c.name for c in corpora], "max_rounds": args.max_rounds,
              "precision_sampler": repr(SAMPLERS["precision"]) if SAMPLERS else "DetectedSampleStrategy()",
              "estimate_params": dict(tracker_quality.ESTIMATE_PARAMS), "load": os.getloadavg(),
              "keep_model_while_verifying": KEEP_MODEL,
              "summary": summarise(rows, goal), "runs": rows}
    print(json.dumps(result["summary"], indent=1))
    if not args.no_write:
        write_results(args.results_name, result, render(result))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
