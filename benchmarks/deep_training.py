"""Benchmark: deep training (a fine-tuned encoder, then the usual head) against the frozen tracker.

On the transcribed meeting speech of ../shared/datasets/mrda-meetings, each concept's tracker gets
5 example sentences and 4 rounds of 25 tags answered from the labels through the product's own
loop (benchmarks/tracker_quality.py: new_session, run_tracker; ActiveLearningSession). On those
very tags the frozen model is the session's own; the deep model fine-tunes a copy of the encoder
(workbench.training.deep.EncoderFineTuning, setfit's contrastive step) on the tags and examples,
re-embeds, and fits the same head in the same session class (TrackerModel, each YES learnt from
its turn's best sentence), as Tracker.train(deep=True) does.

Re-embedding the whole 108k-sentence scope for every run is too slow for many runs on 2 cores,
so both models are scored on one fixed uniform random sample of utterances (the same sample for
frozen and deep, for every concept and seed; the output says how large and how many positives
it holds). F1 counts speaker turns, as tracker_quality.py does. The frozen ceiling is
tracker_quality.py's (logistic regression on all labels, whole corpus; ceilings.json).

Seeds 0-2 choose the fine-tuning settings (SETTINGS); seeds 12-13 are then run once with the
chosen setting and reported apart. The adoption rule of issue 15: deep training becomes the
default only if, on the held-out seeds, the median over concepts of the F1 gain is >= 0.03
absolute and no concept loses more than 0.02; otherwise it stays an option.

    nice -n 10 .venv/bin/python benchmarks/deep_training.py choose             # seeds 0-2, every setting
    nice -n 10 .venv/bin/python benchmarks/deep_training.py held-out --setting NAME   # seeds 12-13
    nice -n 10 .venv/bin/python benchmarks/deep_training.py cost --setting NAME       # the 5-minute target
    .venv/bin/python benchmarks/deep_training.py report      # rewrite the markdown from the json

Each phase updates benchmarks/results/deep_training.json and rewrites deep_training.md.
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
    RESULTS,
    concept_arrays,
    concept_scope,
    load_corpus,
    pick_examples,
    prf,
    to_utterances,
    utterance_truth,
)
from _text_cache import TextEmbeddingCache  # noqa: E402
from tracker_quality import new_session, run_tracker  # noqa: E402

from workbench.training.deep import EncoderFineTuning  # noqa: E402

CORPUS = "mrda-meetings"
SAMPLE_UTTERANCES = 5_000
SAMPLE_SEED = 20261201  # the evaluation sample; no run seed draws it
CHOOSE_SEEDS = [0, 1, 2]
HELD_OUT_SEEDS = [12, 13]
# Kept small: every setting costs a fine-tuning and a re-embedding of the sample per run.
SETTINGS = {
    "it1-lr2e-5": {"num_iterations": 1, "learning_rate": 2e-5},  # the cheapest: SetFit's learning rate, 1 iteration
    "it2-lr5e-5": {"num_iterations": 2, "learning_rate": 5e-5},  # twice the pairs, a bolder step
}
OUT = RESULTS / "deep_training"


def evaluation_sample(utt_in_scope: np.ndarray) -> np.ndarray:
    """A fixed uniform random sample of the in-scope utterances (a boolean mask over utterances)."""
    keys = np.flatnonzero(utt_in_scope)
    rng = np.random.default_rng(SAMPLE_SEED)
    chosen = rng.choice(keys, size=min(SAMPLE_UTTERANCES, len(keys)), replace=False)
    mask = np.zeros(len(utt_in_scope), bool)
    mask[chosen] = True
    return mask


def sample_f1(det_sent: np.ndarray, utt_key: np.ndarray, utt_truth: np.ndarray, sample: np.ndarray) -> dict:
    """Turn-level precision, hit rate and F1 over the sampled utterances."""
    det = to_utterances(det_sent, utt_key, len(utt_truth))
    return prf(det[sample], utt_truth[sample])


def deep_run(frozen, texts, utt_key, call_ids, examples, sample_rows, seed, setting) -> tuple[np.ndarray, dict]:
    """Fine-tune on the frozen session's tags, re-embed what the head and the evaluation need, and
    fit the head in a session over those rows. Returns (decision values on sample_rows, timings)."""
    labels = frozen.labels
    tagged = np.flatnonzero(labels >= 0)
    started = time.perf_counter()
    tuning = EncoderFineTuning(seed=seed, **setting).fit(texts[tagged].tolist(), labels[tagged].tolist(),
                                                        texts[examples].tolist())
    tuned = time.perf_counter()
    # The rows the head needs (the tags, their turn mates, the examples) and the sample to score.
    mates = np.flatnonzero(np.isin(utt_key, utt_key[tagged]))
    rows = np.unique(np.concatenate([sample_rows, tagged, mates, examples]))
    unique, inverse = np.unique(texts[rows], return_inverse=True)
    X = tuning.transform(unique.tolist())[inverse]
    embedded = time.perf_counter()
    position = {int(r): i for i, r in enumerate(rows)}
    session = new_session(X, np.array([position[int(e)] for e in examples]), seed, call_ids=call_ids[rows],
                          groups=utt_key[rows], duplicates=np.unique(texts[rows], return_inverse=True)[1])
    session.set_tags(labels[rows], frozen.shown[rows], frozen.tag_round[rows], frozen.inclusion_prob[rows])
    scores = session.scores()
    done = time.perf_counter()
    return scores[[position[int(r)] for r in sample_rows]], {
        "fine_tuning_s": tuned - started, "embedding_s": embedded - tuned, "head_s": done - embedded,
        "pairs": tuning.n_pairs_, "embedded_sentences": int(len(unique))}


def run_concept(corpus, concept, seeds, settings, ceilings) -> list[dict]:
    c = concept_arrays(corpus, concept)
    X, utt_key, n_utts, utt_truth, in_scope, truth_sent = c.X, c.utt_key, c.n_utts, c.utt_truth, c.in_scope, c.truth_sent
    texts, call_ids, n_sent_in_utt, duplicates = c.texts, c.call_ids, c.n_sent_in_utt, c.duplicates
    sample = evaluation_sample(in_scope)
    sample_rows = np.flatnonzero(sample[utt_key])
    ceiling = ceilings.get(f"{corpus.name}/{concept['name']}", {}).get("f1")
    rows = []
    for seed in seeds:
        examples = pick_examples(truth_sent, utt_key, n_sent_in_utt, seed)
        frozen = new_session(X, examples, seed, call_ids=call_ids, groups=utt_key, duplicates=duplicates)
        run_tracker(frozen, truth_sent)
        if frozen.model() is None:
            print(f"  {concept['name']} seed {seed}: no model (one class only); skipped", flush=True)
            continue
        frozen_f1 = sample_f1(frozen.scores() > 0, utt_key, utt_truth, sample)
        frozen_full = prf(to_utterances(frozen.scores() > 0, utt_key, n_utts)[in_scope], utt_truth[in_scope])
        for name, setting in settings.items():
            scores, timing = deep_run(frozen, texts, utt_key, call_ids, examples, sample_rows, seed, setting)
            det = np.zeros(len(c.scope), bool)
            det[sample_rows] = scores > 0
            deep_f1 = sample_f1(det, utt_key, utt_truth, sample)
            row = {"concept": concept["name"], "seed": seed, "setting": name, "params": setting,
                   "tags_yes": frozen.n_yes, "tags_no": frozen.n_no, "frozen": frozen_f1, "deep": deep_f1,
                   "frozen_whole_scope": frozen_full, "ceiling_f1": ceiling,
                   "gain": deep_f1["f1"] - frozen_f1["f1"], **timing}
            rows.append(row)
            print(f"  {concept['name'][:26]:26s} seed {seed:2d} {name:11s}: frozen F1 {frozen_f1['f1']:.3f} "
                  f"deep F1 {deep_f1['f1']:.3f} (ceiling {ceiling or float('nan'):.3f}; {frozen.n_yes} YES) "
                  f"{timing['fine_tuning_s']:.0f}s tuning + {timing['embedding_s']:.0f}s embedding", flush=True)
    return rows


def per_concept(rows: list[dict], setting: str) -> dict[str, dict]:
    """Mean figures per concept for one setting."""
    out = {}
    for concept in dict.fromkeys(r["concept"] for r in rows):
        mine = [r for r in rows if r["concept"] == concept and r["setting"] == setting]
        if not mine:
            continue
        out[concept] = {
            "frozen_f1": float(np.mean([r["frozen"]["f1"] for r in mine])),
            "deep_f1": float(np.mean([r["deep"]["f1"] for r in mine])),
            "gain": float(np.mean([r["gain"] for r in mine])), "ceiling_f1": mine[0]["ceiling_f1"],
            **{f"{model}_{m}": float(np.mean([r[model][m] for r in mine]))
               for model in ("frozen", "deep") for m in ("precision", "hit_rate")},
            "seconds": float(np.mean([r["fine_tuning_s"] + r["embedding_s"] + r["head_s"] for r in mine])),
            "runs": len(mine),
        }
    return out


def adoption(concepts: dict[str, dict]) -> dict:
    gains = [c["gain"] for c in concepts.values()]
    median, worst = float(np.median(gains)), float(min(gains))
    adopt = median >= 0.03 and worst >= -0.02
    return {"median_gain": median, "worst_gain": worst, "adopt_by_default": adopt,
            "above_ceiling": sum(c["ceiling_f1"] is not None and c["deep_f1"] > c["ceiling_f1"]
                                 for c in concepts.values())}


def _summaries(rows: list[dict], settings) -> dict[str, dict]:
    """Per setting: its per-concept means and the adoption rule's figures."""
    out = {name: {"concepts": per_concept(rows, name)} for name in settings}
    for summary in out.values():
        summary["adoption"] = adoption(summary["concepts"])
    return out


def measure_cost(corpus, setting: dict) -> dict:
    """The issue's cost target: fine-tuning on ~100 tags plus re-embedding 100,000 sentences, timed
    here, beside what EncoderFineTuning.estimate_time predicted for the same work."""
    concept = corpus.concepts[0]
    scope = concept_scope(corpus, concept)
    utt_key = corpus.sentences["utt_key"].to_numpy()[scope]
    utt_truth = utterance_truth(corpus, concept)
    texts = corpus.sentences["text"].to_numpy()[scope]
    n_sent_in_utt = np.bincount(corpus.sentences["utt_key"].to_numpy(), minlength=len(corpus.utt_labels))
    examples = pick_examples(utt_truth[utt_key], utt_key, n_sent_in_utt, 0)
    frozen = new_session(corpus.embeddings[scope], examples, 0, groups=utt_key,
                         duplicates=np.unique(texts, return_inverse=True)[1])
    run_tracker(frozen, utt_truth[utt_key])
    tagged = np.flatnonzero(frozen.labels >= 0)
    to_embed = corpus.sentences["text"].to_list()[:100_000]
    tuning = EncoderFineTuning(seed=0, **setting)
    args = (texts[tagged].tolist(), frozen.labels[tagged].tolist(), texts[examples].tolist())
    estimate = tuning.estimate_time(*args, to_embed)
    started = time.perf_counter()
    tuning.fit(*args)
    tuned = time.perf_counter()
    tuning.transform(to_embed)
    done = time.perf_counter()
    return {"tags": int(len(tagged)), "pairs": tuning.n_pairs_, "sentences": len(to_embed),
            "fine_tuning_s": tuned - started, "embedding_s": done - tuned, "total_s": done - started,
            "estimated_s": estimate.seconds, "estimate": estimate.describe(), "cores": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0]}


# --- the report -------------------------------------------------------------------------------

def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def render_markdown(result: dict) -> str:
    s = result.get("sample", {})
    lines = [
        "# Deep training against the frozen tracker, on transcribed meeting speech",
        "",
        "Generated by `benchmarks/deep_training.py`; do not edit by hand.",
        "",
        f"Corpus `{CORPUS}`; 5 examples and 4 rounds of 25 tags per tracker through the product's loop, then, on "
        "the same tags, the frozen model (the session's) and the deep one (`EncoderFineTuning`, then the same head). "
        f"**Both are scored on one fixed uniform random sample of {s.get('utterances', SAMPLE_UTTERANCES):,} "
        "utterances** (the same for frozen and deep, every concept and seed), not on the whole scope: re-embedding "
        "108k sentences per run is too slow on 2 cores. F1 counts speaker turns. Positive turns in the sample: "
        + ", ".join(f"{k} {v}" for k, v in s.get("positives", {}).items()) + ". The frozen ceiling is "
        "tracker_quality.py's (all labels, whole corpus). Seconds: fine-tuning + re-embedding the sample (about "
        f"{SAMPLE_UTTERANCES // 1000}k turns) + the head, on a shared 2-core machine (torch threads per phase: "
        f"{result.get('torch_threads', {})}).",
    ]
    choose = result.get("choose")
    if choose:
        lines += ["", f"## Choosing the setting (seeds {', '.join(map(str, choose['seeds']))})", "",
                  "| setting | params | median gain | worst concept gain | mean seconds |", "|---|---|---|---|---|"]
        for name, summary in choose["settings"].items():
            a, c = summary["adoption"], summary["concepts"]
            lines.append(f"| {name} | `{json.dumps(SETTINGS.get(name, {}))}` | {a['median_gain']:+.3f} | "
                         f"{a['worst_gain']:+.3f} | {np.mean([v['seconds'] for v in c.values()]):.0f} |")
        lines += ["", f"Chosen: **{choose['chosen']}** (the highest median gain, ties to the cheaper).", "",
                  "| concept | setting | frozen F1 | deep F1 | gain | ceiling F1 | seconds |",
                  "|---|---|---|---|---|---|---|"]
        for name, summary in choose["settings"].items():
            for concept, c in summary["concepts"].items():
                lines.append(f"| {concept} | {name} | {_f(c['frozen_f1'])} | {_f(c['deep_f1'])} | {c['gain']:+.3f} | "
                             f"{_f(c['ceiling_f1'])} | {c['seconds']:.0f} |")
    held = result.get("held_out")
    if held:
        a = held["adoption"]
        verdict = ("met: deep training may become the default" if a["adopt_by_default"] else
                   "not met: deep training stays an option (`t.train(deep=True)`, `workbench train NAME --deep`, "
                   "the tagging view's button)")
        lines += ["", f"## Held-out seeds {', '.join(map(str, held['seeds']))} (setting {held['setting']}, chosen "
                      "on seeds 0-2; looked at once)", "",
                  "| concept | frozen F1 | deep F1 | gain | frozen ceiling F1 | deep above the ceiling | "
                  "precision frozen / deep | hit rate frozen / deep | seconds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for concept, c in held["concepts"].items():
            above = "yes" if c["ceiling_f1"] is not None and c["deep_f1"] > c["ceiling_f1"] else "no"
            pr = {k: c.get(k) for k in ("frozen_precision", "deep_precision", "frozen_hit_rate", "deep_hit_rate")}
            lines.append(f"| {concept} | {_f(c['frozen_f1'])} | {_f(c['deep_f1'])} | {c['gain']:+.3f} | "
                         f"{_f(c['ceiling_f1'])} | {above} | {_f(pr['frozen_precision'])} / {_f(pr['deep_precision'])} | "
                         f"{_f(pr['frozen_hit_rate'])} / {_f(pr['deep_hit_rate'])} | {c['seconds']:.0f} |")
        lines += ["", f"Median gain {a['median_gain']:+.3f} (rule: >= +0.030), worst concept {a['worst_gain']:+.3f} "
                      f"(rule: no concept below -0.020): the adoption rule is **{verdict}**. Deep F1 above the frozen "
                      f"ceiling on {a['above_ceiling']} of {len(held['concepts'])} concepts (target: 3 of 5)."]
    # The chosen setting's runs, seeds 0-2 and held out (each frozen run once).
    chosen = (choose or {}).get("chosen")
    runs = [r for r in (choose or {}).get("runs", []) if r["setting"] == chosen] + (held or {}).get("runs", [])
    if runs:
        sample = np.mean([r["frozen"]["f1"] for r in runs])
        whole = np.mean([r["frozen_whole_scope"]["f1"] for r in runs])
        counts = {m: (sum(r[m]["tp"] for r in runs), sum(r[m]["fp"] for r in runs)) for m in ("frozen", "deep")}
        lines += ["", "## How far to trust the sample, and where the F1 goes", "",
                  f"Over the {len(runs)} runs of setting {chosen} (seeds 0-2 and held out), the frozen model's mean F1 "
                  f"is {sample:.3f} on the sample and {whole:.3f} on "
                  f"the whole scope. Summed over those runs, the frozen model's detections in the sample hold "
                  f"{counts['frozen'][0]} right and {counts['frozen'][1]} wrong turns, the deep model's "
                  f"{counts['deep'][0]} right and {counts['deep'][1]} wrong: the tuned encoder finds somewhat more, but "
                  "its head's threshold, cross-validated on tags the encoder was tuned on, lets in far more false "
                  "detections."]
    costs = result.get("costs")
    if costs:
        lines += ["", "## Cost", "", "Fine-tuning on one run's 100 tags (setting "
                  f"{costs[-1]['setting']}) and re-embedding 100,000 sentences of the corpus, each time measured "
                  "beside the up-front estimate (`EncoderFineTuning.estimate_time`). Target: 5 minutes on 2 cores.", "",
                  "| torch threads | fine-tuning | re-embedding 100k | total | vs target | estimated before | "
                  "1-min load average at the end |", "|---|---|---|---|---|---|---|"]
        for cost in costs:
            gap = cost["total_s"] - 300
            verdict = "within" if gap <= 0 else f"over by {gap / 60:.1f} min"
            lines.append(f"| {cost['torch_threads']} | "
                         f"{cost['fine_tuning_s']:.0f} s ({cost['pairs']} pairs) | {cost['embedding_s']:.0f} s | "
                         f"**{cost['total_s'] / 60:.1f} min** | {verdict} | {cost['estimated_s'] / 60:.1f} min | "
                         f"{cost['load_average_1min']:.1f} |")
    return "\n".join(lines) + "\n"


def _save(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    OUT.with_suffix(".md").write_text(render_markdown(result))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("phase", choices=["choose", "held-out", "cost", "report"],
                    help="report: rewrite deep_training.md from deep_training.json")
    ap.add_argument("--setting", choices=list(SETTINGS), help="the setting chosen on seeds 0-2 (held-out, cost)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--concept", default=None, help="only concepts whose name contains this")
    args = ap.parse_args(argv)
    path = OUT.with_suffix(".json")
    result = json.loads(path.read_text()) if path.exists() else {}
    if args.phase == "report":  # the summaries again from the runs, then the markdown
        if "choose" in result:
            result["choose"]["settings"] = _summaries(result["choose"]["runs"], result["choose"]["settings"])
        if "held_out" in result:
            held = result["held_out"]
            held.update(_summaries(held["runs"], [held["setting"]])[held["setting"]])
        return _save(result)
    if "cost" in result:  # a single measurement, as the first version of this script kept it
        result["costs"] = [{**result.pop("cost"), "torch_threads": result.get("torch_threads", {}).get("cost")}]
    import torch

    # On a machine shared with other jobs, one torch thread per process runs several times faster
    # than two threads that wait on each other (OMP_NUM_THREADS=1); the report says which ran.
    result.setdefault("torch_threads", {})[args.phase] = torch.get_num_threads()
    corpus = load_corpus(DATASETS / CORPUS, TextEmbeddingCache())
    if args.phase == "cost":
        setting = args.setting or result.get("choose", {}).get("chosen") or next(iter(SETTINGS))
        # Every measurement is kept: the machine is shared, and each says how busy it was.
        costs = result.setdefault("costs", [])
        costs.append({**measure_cost(corpus, SETTINGS[setting]), "setting": setting,
                      "torch_threads": torch.get_num_threads()})
        print(json.dumps(costs[-1], indent=1), flush=True)
        return _save(result)
    ceilings = json.loads((DEFAULT_DIR / "ceilings.json").read_text())
    settings = SETTINGS if args.phase == "choose" else {args.setting: SETTINGS[args.setting]}
    if args.phase == "held-out" and not args.setting:
        ap.error("held-out needs --setting (the one chosen on seeds 0-2)")
    seeds = args.seeds or (CHOOSE_SEEDS if args.phase == "choose" else HELD_OUT_SEEDS)
    rows, positives = [], {}
    for concept in corpus.concepts:
        if args.concept and args.concept.lower() not in concept["name"].lower():
            continue
        rows += run_concept(corpus, concept, seeds, settings, ceilings)
        in_scope = np.zeros(len(corpus.utt_labels), bool)
        in_scope[corpus.sentences["utt_key"].to_numpy()[concept_scope(corpus, concept)]] = True
        positives[concept["name"]] = int(utterance_truth(corpus, concept)[evaluation_sample(in_scope)].sum())
    result["sample"] = {"utterances": SAMPLE_UTTERANCES, "seed": SAMPLE_SEED, "positives": positives}
    summaries = _summaries(rows, settings)
    if args.phase == "choose":
        chosen = max(summaries, key=lambda n: (round(summaries[n]["adoption"]["median_gain"], 3),
                                               -np.mean([c["seconds"] for c in summaries[n]["concepts"].values()])))
        result["choose"] = {"seeds": seeds, "settings": summaries, "chosen": chosen, "runs": rows}
    else:
        result["held_out"] = {"seeds": seeds, "setting": args.setting, **summaries[args.setting], "runs": rows}
    print(render_markdown(result), flush=True)
    _save(result)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
