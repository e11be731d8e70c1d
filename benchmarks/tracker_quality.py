"""Benchmark: how good a tracker gets in 4 rounds of 25 tags, and how honest its estimate is.

For every concept of every folder in ../shared/datasets: split utterances into sentences
(workbench.corpus.prepare_import), embed them (all-MiniLM-L6-v2, cached on disk outside the
repository), restrict to the concept's side, pick 5 example sentences from the positives
with a fixed seed, then run 4 rounds of 25 answered by a simulated user (YES when the
sentence's utterance carries one of the concept's labels on the concept's side, else NO),
through the Tracker's own loop, workbench.training.session.ActiveLearningSession (planner,
model with turn mates, estimate; a copy of a shown text never offered again). Only SQLite is
skipped. The final model's detections are compared with the ground truth over the whole
corpus at utterance level (an utterance is detected when any of its sentences is).

Baselines per concept: the keyword tracker built from the 5 examples' words
(workbench.trackers.keywords), and a ceiling: logistic regression trained on all labels with
the same embeddings, 5-fold out-of-fold, the better of C=1 and C=10, best threshold.

    .venv/bin/python benchmarks/tracker_quality.py            # all concepts, 12 seeds, then with a verification round
    .venv/bin/python benchmarks/tracker_quality.py --mixes    # also compare planner mixes
    .venv/bin/python benchmarks/tracker_quality.py --quick    # 1 seed, no timing

Writes benchmarks/results/tracker_quality.md and .json. This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpora import (  # noqa: E402
    DATASETS,
    DEFAULT_DIR,
    Corpus,
    ceiling,
    concept_scope,
    each_concept,
    load_corpus,
    oracle_threshold_f1,
    pick_examples,
    prf,
    to_utterances,
    utterance_truth,
    write_results,
)
from _quality_report import render_markdown, summarise  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.embedding.normalise import DEFAULT_NORMALISATION, NORMALISATIONS, normalise_text  # noqa: E402
from workbench.trackers.keyword_baseline import compare_with_keywords, keyword_baseline  # noqa: E402
from workbench.training.context import with_previous_turn  # noqa: E402
from workbench.training.diagnosis import diagnose  # noqa: E402
from workbench.training.duplicates import text_codes  # noqa: E402
from workbench.training.estimate import detected_where  # noqa: E402
from workbench.training.session import ActiveLearningSession  # noqa: E402
from workbench.training.strategies import DiversityStrategy, StratifiedStrategy  # noqa: E402

ROUNDS, ROUND_SIZE = 4, 25
MODEL_PARAMS: dict = {}  # overrides of TrackerModel's defaults (--model-param)
ESTIMATE_PARAMS: dict = {}  # overrides of estimate_performance's defaults (--estimate-param)
POOL_PARAMS: dict = {}  # overrides of Pool's defaults (--pool-param)
DUMP: Path | None = None  # --dump DIR: each run's tags and final scores, to study threshold rules offline

# Mixes compared with --mixes; "default" is the planner's own (rounds.EARLY_MIX/LATE_MIX).
MIXES: dict[str, dict | None] = {
    "default": None,
    "random": {"random": 1},
    "naive": {"similarity": 1},  # nearest to the examples; uncertainty from round 5 on
    "no_probe": {"similarity": 4, "top_scored": 7, "near_miss": 7, "diversity": 4, "uncertainty": 3},
    "probe_heavy": {"top_scored": 4, "near_miss": 3, "diversity": 2, "stratified": 16},
    "probe9": {"similarity": 4, "top_scored": 5, "near_miss": 4, "diversity": 3, "stratified": 9},
    "probe5": {"similarity": 5, "top_scored": 7, "near_miss": 5, "diversity": 3, "stratified": 5},
    "probe13": {"similarity": 3, "top_scored": 4, "near_miss": 3, "diversity": 2, "stratified": 13},
    "probe17": {"similarity": 2, "top_scored": 3, "near_miss": 2, "diversity": 1, "stratified": 17},
    # The probe's strata: fewer, wider ones put more probe tags just below the threshold.
    "strata5": [("similarity", 3), ("top_scored", 4), ("near_miss", 3), ("diversity", 2),
                (StratifiedStrategy(max_strata=5), 13)],
    "strata6": [("similarity", 3), ("top_scored", 4), ("near_miss", 3), ("diversity", 2),
                (StratifiedStrategy(max_strata=6), 13)],
    # Session 4: spread the confident picks over the top of the ranking (other ways of saying
    # the concept) instead of taking its very top.
    "diverse_top300": [("similarity", 3), (DiversityStrategy(top_k=300), 4), ("near_miss", 3), ("diversity", 2),
                       ("stratified", 13)],
    "diverse_top100": [("similarity", 3), (DiversityStrategy(top_k=100), 4), ("near_miss", 3), ("diversity", 2),
                       ("stratified", 13)],
    "diverse_top1000": [("similarity", 3), (DiversityStrategy(top_k=1000), 4), ("near_miss", 3), ("diversity", 2),
                        ("stratified", 13)],
}



# --- one simulated tracker ----------------------------------------------------------------

_TEXT_CACHE = None  # set by main(): embeds the concepts' descriptions
USE_DESCRIPTION = False  # the protocol: trackers start from their 5 examples
KEYWORD_FEATURE = 0.0  # --keyword-feature W: prototype, the keyword match as a feature column
PREVIOUS_TURN = 0.0  # --previous-turn W: option, each sentence joined with W x the previous turn's last sentence
VERIFY = 0  # --verify N: a verification round of N random detections after the 4 rounds
USE_TURNS = True  # the Tracker's default: probe and estimate by speaker turn (--sentences: off)


def _description(concept: dict, normalisation: str | None):
    if not USE_DESCRIPTION or _TEXT_CACHE is None or not concept.get("description"):
        return None
    return _TEXT_CACHE.get([normalise_text(concept["description"], normalisation)])[0]


def new_session(X, examples, seed, mix=None, call_ids=None, description=None, groups=None, duplicates=None,
                keep_model_while_verifying=False):
    """The session a Tracker builds over this scope (turns, duplicate texts), with the
    benchmark's overrides (--model-param, --estimate-param, --pool-param, --mix)."""
    return ActiveLearningSession(
        X, X[examples], description, turns=groups, call_ids=call_ids, duplicates=duplicates,
        planner_params={"early_mix": mix, "late_mix": mix}, model_params=MODEL_PARAMS,
        estimate_params=ESTIMATE_PARAMS, pool_params=POOL_PARAMS, seed=seed,
        keep_model_while_verifying=keep_model_while_verifying,
    )


def run_tracker(session: ActiveLearningSession, truth_sent, rounds=ROUNDS) -> list[dict]:
    """The rounds a user tags, answered by the simulated user (YES when the sentence's
    utterance carries the concept), then a verification round of VERIFY detections when
    --verify asks for one. Returns each round's YES count and the planner's notes."""
    history = []
    for number in range(1, rounds + 1):
        plan = session.plan_round(number, ROUND_SIZE)
        answers = truth_sent[plan.indices].astype(np.int8)
        session.tag(plan.indices, answers, number, plan.inclusion_prob)
        history.append({"round": number, "yes": int(answers.sum()), "notes": list(plan.notes)})
    if VERIFY and session.model() is not None:
        plan = session.plan_verification(rounds + 1, VERIFY)
        answers = truth_sent[plan.indices].astype(np.int8)
        session.tag(plan.indices, answers, rounds + 1, plan.inclusion_prob, kind=plan.kind)
        history.append({"round": rounds + 1, "yes": int(answers.sum()), "notes": ["verification"]})
    return history


def fig(f):
    return None if f is None else {"value": f.value, "low": f.low, "high": f.high, "n": f.n}


def run_concept(corpus: Corpus, concept: dict, seeds: list[int], mix, ceiling_cache: dict,
                with_keywords: bool = True) -> list[dict]:
    scope = concept_scope(corpus, concept)
    utt_key_all = corpus.sentences["utt_key"].to_numpy()
    if PREVIOUS_TURN:
        # Over the whole corpus, so that the turn before is found on either side; the ceiling
        # stays the sentence-only one.
        X = with_previous_turn(corpus.embeddings, corpus.sentences["call_id"].to_numpy(), utt_key_all,
                               PREVIOUS_TURN)[scope]
    else:
        X = corpus.embeddings[scope]
    utt_key = utt_key_all[scope]
    n_utts = len(corpus.utt_labels)
    utt_truth = utterance_truth(corpus, concept)
    utt_in_scope = np.zeros(n_utts, bool)
    utt_in_scope[utt_key] = True
    truth_sent = utt_truth[utt_key]
    n_sent_in_utt = np.bincount(utt_key_all, minlength=n_utts)
    texts = corpus.sentences["text"].to_numpy()[scope]
    call_ids = corpus.sentences["call_id"].to_numpy()[scope]

    key = f"{corpus.key}/{concept['name']}"
    if key not in ceiling_cache:
        t = time.time()
        ceiling_cache[key] = ceiling(X, truth_sent.astype(int), utt_key, utt_truth, utt_in_scope)
        print(f"  ceiling {key}: F1 {ceiling_cache[key]['f1']:.3f} ({time.time() - t:.0f}s)", flush=True)
    ceil = ceiling_cache[key]

    out = []
    X_base = X
    # The Tracker's code of each sentence's text (case, spaces, punctuation folded): one candidate, one answer.
    duplicates = text_codes(texts)
    for seed in seeds:
        examples = pick_examples(truth_sent, utt_key, n_sent_in_utt, seed)
        X = X_base
        if KEYWORD_FEATURE:
            # Prototype: the keyword tracker's match (from the 5 examples' words) as one more
            # feature column, so the classifier can weigh the exact words against the meaning.
            _, kw = keyword_baseline(texts, texts[examples].tolist(), random_state=seed)
            X = np.column_stack([X_base, KEYWORD_FEATURE * kw.astype(np.float32)]).astype(np.float32)
        t = time.time()
        session = new_session(X, examples, seed, mix, call_ids=call_ids, description=_description(concept, corpus.normalisation),
                              groups=utt_key if USE_TURNS else None, duplicates=duplicates)
        history = run_tracker(session, truth_sent)
        model, scores, labels, est = session.model(), session.scores(), session.labels, session.estimate()
        elapsed = time.time() - t
        collapsed = model is None
        if DUMP is not None and model is not None:
            DUMP.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                DUMP / f"{corpus.name}__{concept['name']}__{seed}.npz", labels=labels,
                inclusion=session.inclusion_prob, examples=examples, raw=(scores + model.threshold_).astype(np.float32),
                threshold=model.threshold_, scope=scope,
            )
        det_sent = scores > 0 if scores is not None else np.zeros(len(X), bool)
        det_utt = to_utterances(det_sent, utt_key, n_utts)
        utt_m = prf(det_utt[utt_in_scope], utt_truth[utt_in_scope])
        sent_m = prf(det_sent, truth_sent)
        oracle = oracle_threshold_f1(scores, utt_key, n_utts, utt_in_scope, utt_truth)
        row = {
            "corpus": corpus.name, "concept": concept["name"], "seed": seed, "normalisation": corpus.normalisation,
            "population_sentences": int(len(X)), "prevalence_sentences": float(truth_sent.mean()),
            "collapsed": collapsed, "seconds": elapsed,
            "tags_yes": int((labels == 1).sum()), "tags_no": int((labels == 0).sum()),
            "utterance": utt_m, "sentence": sent_m, "ceiling": ceil,
            # The truth the estimate speaks about: turns (utterances) when the tracker knows them.
            "estimate_truth": "utterance" if USE_TURNS else "sentence",
            "ratio_to_ceiling": utt_m["f1"] / ceil["f1"] if ceil["f1"] else None,
            # The same final scores at the best threshold in hindsight: what the ranking
            # allows, so that a gap to the ceiling splits into ranking and threshold.
            "oracle_threshold_ratio": oracle / ceil["f1"] if ceil["f1"] else None,
            "history": history,
        }
        if est is not None:
            row["estimate"] = {
                "reference_precision": fig(est.reference_precision),
                "reference_hit_rate": fig(est.reference_hit_rate),
                "honest_precision": fig(est.honest_precision),
                "honest_hit_rate": fig(est.honest_hit_rate),
                "n_probe_tags": est.n_probe_tags, "n_yes": est.n_yes, "n_no": est.n_no,
                "detected_sentences": est.detected_sentences, "detected_calls": est.detected_calls,
                "notes": list(est.notes),
                # What the overview says about the tracker in plain words (finds little, ...).
                "findings": [f.code for f in diagnose(est, session.held_out(), labels)],
            }
        if with_keywords:
            # The product's keyword baseline (Tracker.keyword_comparison), and whether its advice
            # ("the keywords do as well on your tags") matches the corpus truth.
            baseline = keyword_baseline(texts, texts[examples].tolist(), random_state=seed)
            kw_utt = to_utterances(baseline[1], utt_key, n_utts)
            row["keyword"] = prf(kw_utt[utt_in_scope], utt_truth[utt_in_scope]) | {"phrases": list(baseline[0])}
            if model is not None and not KEYWORD_FEATURE:
                held_out = detected_where(session.held_out(), len(labels))
                k = compare_with_keywords(texts, labels, det_sent, held_out, [], inclusion_prob=session.inclusion_prob,
                                          groups=utt_key if USE_TURNS else None, baseline=baseline)
                row["keyword_advice"] = {"keywords_do_as_well": k.keywords_do_as_well,
                                         "keyword_f1_on_tags": k.keyword_f1, "tracker_f1_on_tags": k.tracker_f1}
        out.append(row)
        e = row.get("estimate") or {}
        hp, hr = e.get("honest_precision"), e.get("honest_hit_rate")
        print(
            f"  {concept['name'][:34]:34s} seed {seed}: F1 {utt_m['f1']:.3f} "
            f"({row['ratio_to_ceiling'] or 0:.2f}x ceiling {ceil['f1']:.3f}) "
            f"sentP {sent_m['precision']:.2f} sentR {sent_m['hit_rate']:.2f} "
            f"est P {hp['value'] if hp else float('nan'):.2f} [{hp['low'] if hp else 0:.2f},{hp['high'] if hp else 0:.2f}] "
            f"R {hr['value'] if hr else float('nan'):.2f} [{hr['low'] if hr else 0:.2f},{hr['high'] if hr else 0:.2f}] "
            f"kw {row.get('keyword', {}).get('f1', float('nan')):.3f} {elapsed:.1f}s",
            flush=True,
        )
    return out


# --- round timing ---------------------------------------------------------------------------

def time_round(X: np.ndarray, seed: int = 0, repeats: int = 3) -> dict:
    """Tag 25 -> next 25 ready: retrain, rescore all rows, estimate, plan. On len(X) rows,
    through the session the Tracker builds (a fresh one per repeat: nothing cached)."""
    rng = np.random.default_rng(seed)
    N = len(X)
    # A plausible state after 4 rounds: 100 tags, a quarter YES, a third of them random.
    tagged = rng.choice(N, 100, replace=False)
    tag_round = np.full(N, -1, np.int64)
    tag_round[tagged] = np.repeat(np.arange(1, 5), 25)
    inclusion = np.full(N, np.nan)
    inclusion[tagged[::3]] = 0.001
    labels = np.full(N, -1, np.int8)
    labels[tagged] = rng.random(100) < 0.25
    examples = rng.choice(N, 5, replace=False)
    # Speaker turns of 1-4 sentences, as the Tracker passes them.
    groups = np.repeat(np.arange(N), rng.integers(1, 5, N))[:N]
    times = {"fit": [], "score": [], "estimate": [], "plan": [], "total": []}
    for _ in range(repeats):
        session = new_session(X, examples, seed, groups=groups)
        session.set_tags(labels, labels >= 0, tag_round, inclusion)
        t0 = time.perf_counter()
        model = session.model()
        t1 = time.perf_counter()
        session.scores()
        t2 = time.perf_counter()
        session.estimate()
        t3 = time.perf_counter()
        session.plan_round(6, ROUND_SIZE)
        t4 = time.perf_counter()
        assert model is not None
        for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            times[k].append(v)
    return {k: float(np.median(v)) for k, v in times.items()} | {"rows": N}


def key_values(pairs: list[str]) -> dict:
    """``KEY=VALUE`` options as a dict: a VALUE in JSON (numbers, lists, true/false, "quoted")
    as parsed, any other as the bare string (``threshold_unit=turn``)."""
    out = {}
    for kv in pairs:
        if "=" not in kv:
            raise SystemExit(f"expected KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # Twelve seeds: session 1 chose its defaults on seeds 0-2 (3-5 held out); session 2
    # looked at 0-5; seeds 6-11 were never used to choose anything.
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    ap.add_argument("--quick", action="store_true", help="1 seed, no round timing")
    ap.add_argument("--no-timing", action="store_true", help="skip the round timing")
    ap.add_argument("--mixes", nargs="*", default=None,
                    help="also compare these planner mixes (default: all of MIXES)")
    ap.add_argument("--concept", default=None, help="only concepts whose name contains this")
    ap.add_argument("--corpus", default=None, help="only corpora whose folder name contains this")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--results-name", default="tracker_quality", metavar="NAME",
                    help="write benchmarks/results/NAME.md and .json (e.g. tracker_quality_fresh for seeds "
                         "kept apart from every choice of settings)")
    ap.add_argument("--with-description", action="store_true",
                    help="also give each tracker its concept's description, as a user would")
    ap.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--estimate-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--pool-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--keyword-feature", type=float, default=0.0, metavar="W",
                    help="prototype: add the examples' keyword match as a feature column of weight W")
    ap.add_argument("--previous-turn", type=float, default=0.0, metavar="W",
                    help="option: each sentence's features are its embedding plus W x the previous turn's last "
                         "sentence, renormalised (workbench.training.context); ratios stay to the sentence ceiling")
    ap.add_argument("--sentences", action="store_true",
                    help="probe and estimate by sentence instead of by speaker turn (the earlier default)")
    ap.add_argument("--verify", type=int, default=20, metavar="N",
                    help="also measure a second pass with a verification round of N random detections after "
                         "the 4 rounds (reported separately; 0: skip)")
    ap.add_argument("--dump", type=Path, default=None, metavar="DIR",
                    help="write each run's tags and final scores to DIR (to study threshold rules offline)")
    ap.add_argument("--mix", default=None, help="run with this mix of MIXES instead of the default")
    ap.add_argument("--normalise", default=DEFAULT_NORMALISATION or "none", metavar="NAME",
                    help="embed each sentence's text as the product does under this text normalisation "
                         f"(workbench.embedding.normalise: {', '.join(NORMALISATIONS)}, or none; "
                         f"default: the product's, {DEFAULT_NORMALISATION})")
    ap.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                    help="what embeds the sentences (workbench.embedding.embedder.BACKENDS); onnx vectors and "
                         "ceilings are cached apart from torch's")
    ap.add_argument("--jitter", type=float, default=0.0, metavar="L2",
                    help="move each vector by a fixed random offset of this length (a control for float noise, "
                         "e.g. 1e-6: what onnx and torch vectors differ by)")
    args = ap.parse_args(argv)
    for target, pairs in ((MODEL_PARAMS, args.model_param), (ESTIMATE_PARAMS, args.estimate_param),
                          (POOL_PARAMS, args.pool_param)):
        target.update(key_values(pairs))
    seeds = args.seeds[:1] if args.quick else args.seeds

    cache = TextEmbeddingCache(backend=args.backend, jitter=args.jitter)
    global _TEXT_CACHE, USE_DESCRIPTION, USE_TURNS, VERIFY, KEYWORD_FEATURE, DUMP, PREVIOUS_TURN
    KEYWORD_FEATURE = args.keyword_feature
    PREVIOUS_TURN = args.previous_turn
    DUMP = args.dump
    _TEXT_CACHE, USE_DESCRIPTION, USE_TURNS = cache, args.with_description, not args.sentences
    ceiling_path = DEFAULT_DIR / ("ceilings.json" if args.backend == "torch" else f"ceilings-{args.backend}.json")
    ceiling_cache = json.loads(ceiling_path.read_text()) if ceiling_path.exists() else {}
    normalisation = None if args.normalise == "none" else args.normalise
    corpora = [load_corpus(d, cache, normalisation) for d in sorted(DATASETS.iterdir())
               if (d / "concepts.json").exists() and (args.corpus or "") in d.name]

    def run_all(mix, with_keywords=True):
        rows = []
        for corpus, concept in each_concept(corpora, args.concept):
            rows += run_concept(corpus, concept, seeds, mix, ceiling_cache, with_keywords)
            ceiling_path.write_text(json.dumps(ceiling_cache))
        return rows

    rows = run_all(MIXES[args.mix] if args.mix else None)
    summary = summarise(rows)
    verified = None
    if args.verify:
        print(f"== with a verification round of {args.verify}", flush=True)
        VERIFY = args.verify
        verified = summarise(run_all(MIXES[args.mix] if args.mix else None, with_keywords=False))
        verified["size"] = args.verify
        VERIFY = 0
    mixes = {}
    if args.mixes is not None:
        for name in args.mixes or [m for m in MIXES if m != "default"]:
            print(f"== mix {name}", flush=True)
            mixes[name] = summarise(run_all(MIXES[name], with_keywords=False))
        mixes["default"] = summary
    timing = None
    if not (args.quick or args.no_timing):
        big = max(corpora, key=lambda c: len(c.sentences))
        X = big.embeddings
        if len(X) < 100_000:
            # Pad to 100,000 rows with real sentences of the other corpora.
            others = np.concatenate([c.embeddings for c in corpora if c is not big])
            X = np.concatenate([X, others[: 100_000 - len(X)]])
        timing = time_round(X[:100_000])
        print(f"round on {timing['rows']} rows: {timing}", flush=True)

    result = {"summary": summary, "verified": verified, "mixes": mixes, "round_timing": timing, "runs": rows,
              "seeds": seeds, "keyword_baseline": "workbench.trackers.keywords (related_forms, background-filtered)"}
    print(json.dumps(summary, indent=1))
    if not args.no_write:
        write_results(args.results_name, result, render_markdown(result))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
