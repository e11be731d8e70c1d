"""Benchmark: what speech text should be embedded as, measured through the product's own loop.

Issue 15, item 2: transcript normalisation before embedding, and segmentation for speech. Each
variant changes only the text each sentence is embedded as (or, for segmentation, the sentence
rows); the truth, the simulated user, the 5 examples and the 4 rounds of 25 are those of
tracker_quality.py (its run_concept, the Tracker's ActiveLearningSession). The ceiling is
recomputed on each variant's embeddings, so both the ratio to the ceiling and the absolute F1 are
reported: a variant that lowers the ceiling must not look better for it.

Variants:
- raw: the sentence as imported.
- speech-1: workbench.embedding.normalise (fillers, repetitions, disfluency marks removed).
- speech-1 + run-on windows: sentences over RUN_ON_WORDS words cut into windows of at most
  WINDOW_WORDS words, each its own row (a turn is detected when any of its rows is).
- speech-1 + fragments with context: fragments (at most FRAGMENT_WORDS words and no sentence end:
  "so", "and", "uh", "i mean", the pieces of abandoned turns) embedded together with the next
  sentence of the call; the row and its display stay the fragment. Short sentences that end
  ("yeah.", "no.", "right?") carry meaning on their own and are left alone.

Diagnostics per variant, by sentence length (words of the original): share of the scope and of
the positives, hit rate and precision of the final detections; they say whether run-ons or
fragments are where the tracker goes wrong.

    nice -n 10 .venv/bin/python benchmarks/speech_text.py          # choose: seeds 0-11, every variant, typed check
    nice -n 10 .venv/bin/python benchmarks/speech_text.py --held-out-seeds 12 13 14 15 16 17   # the final run

Writes benchmarks/results/NAME.md and .json (default speech_text).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tracker_quality as tq  # noqa: E402
from _corpora import DATASETS, RESULTS, Corpus, concept_scope, load_corpus, utterance_truth  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.embedding.normalise import normaliser  # noqa: E402

RUN_ON_WORDS, WINDOW_WORDS = 24, 16
FRAGMENT_WORDS = 2
SENTENCE_END = re.compile(r"[.?!…]\W*$")
LENGTHS = {"1-2 words": (1, 2), "3-24 words": (3, 24), "25+ words": (25, 10**9)}
VARIANTS = {
    "raw": (None, None),
    "speech-1": ("speech-1", None),
    "speech-1 + run-on windows": ("speech-1", "windows"),
    "speech-1 + fragments with context": ("speech-1", "fragment-context"),
}


# --- segmentations ------------------------------------------------------------------------

def run_on_windows(sentences: pl.DataFrame) -> pl.DataFrame:
    """Sentences over RUN_ON_WORDS words cut into equal windows of at most WINDOW_WORDS words."""
    def cut(text: str) -> list[str]:
        words = text.split()
        if len(words) <= RUN_ON_WORDS:
            return [text]
        n = -(-len(words) // WINDOW_WORDS)
        bounds = np.linspace(0, len(words), n + 1).round().astype(int)
        return [" ".join(words[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    return sentences.with_columns(pl.col("text").map_elements(cut, return_dtype=pl.List(pl.String))).explode("text")


def embedded_texts(sentences: pl.DataFrame, segmentation: str | None) -> list[str]:
    """The text each row is embedded as, before normalisation."""
    texts = sentences["text"].to_list()
    if segmentation != "fragment-context":
        return texts
    calls = sentences["call_id"].to_list()
    out = list(texts)
    for i, text in enumerate(texts):
        fragment = len(text.split()) <= FRAGMENT_WORDS and not SENTENCE_END.search(text)
        if fragment and i + 1 < len(texts) and calls[i + 1] == calls[i]:
            out[i] = f"{text} {texts[i + 1]}"
    return out


def variant_corpus(base: Corpus, name: str, cache: TextEmbeddingCache) -> Corpus:
    normalisation, segmentation = VARIANTS[name]
    sentences = run_on_windows(base.sentences) if segmentation == "windows" else base.sentences
    texts = embedded_texts(sentences, segmentation)
    normalise = normaliser(normalisation)
    embeddings = cache.get(normalise(texts) if normalise else texts)
    return replace(base, sentences=sentences, embeddings=embeddings, normalisation=normalisation,
                   segmentation=segmentation)


# --- diagnostics --------------------------------------------------------------------------

def by_length(corpus: Corpus, concept: dict, dump: Path, seeds: list[int]) -> dict:
    """Per sentence length, and for the fragments the context variant changes: share of the
    scope, of the positive sentences and of the final detections, and the detections' hit rate
    and precision (sentence rows against their turn's truth), over seeds."""
    scope = concept_scope(corpus, concept)
    texts = corpus.sentences["text"].to_numpy()[scope]
    words = np.array([len(t.split()) for t in texts])
    ends = np.array([bool(SENTENCE_END.search(t)) for t in texts])
    truth = utterance_truth(corpus, concept)[corpus.sentences["utt_key"].to_numpy()[scope]]
    buckets = {label: (words >= low) & (words <= high) for label, (low, high) in LENGTHS.items()}
    buckets["fragments (<= 2 words, no sentence end)"] = (words <= FRAGMENT_WORDS) & ~ends
    detected = np.zeros((len(seeds), len(scope)), bool)
    for i, seed in enumerate(seeds):
        path = dump / f"{corpus.name}__{concept['name']}__{seed}.npz"
        if path.exists():  # else the model collapsed: nothing detected
            d = np.load(path)
            detected[i] = d["raw"] > d["threshold"]
    out = {}
    for label, in_bucket in buckets.items():
        tp = int((detected & truth & in_bucket).sum())
        fp = int((detected & ~truth & in_bucket).sum())
        fn = int((~detected & truth & in_bucket).sum())
        out[label] = {"share_of_scope": float(in_bucket.mean()),
                      "share_of_positives": float((truth & in_bucket).sum() / max(truth.sum(), 1)),
                      "share_of_detections": float((tp + fp) / max(detected.sum(), 1)),
                      "hit_rate": tp / (tp + fn) if tp + fn else None,
                      "precision": tp / (tp + fp) if tp + fp else None}
    return out


# --- summary and report -------------------------------------------------------------------

def concept_summary(rows: list[dict]) -> dict:
    f1 = [r["utterance"]["f1"] for r in rows]
    return {
        "ceiling_f1": rows[0]["ceiling"]["f1"], "f1": float(np.mean(f1)),
        "ratio": float(np.mean([r["ratio_to_ceiling"] or 0.0 for r in rows])),
        "worst_seed_f1": float(min(f1)),
        "precision": float(np.mean([r["utterance"]["precision"] for r in rows])),
        "hit_rate": float(np.mean([r["utterance"]["hit_rate"] for r in rows])),
        "tags_yes": float(np.mean([r["tags_yes"] for r in rows])), "runs": len(rows),
    }


def variant_summary(concepts: dict[str, dict]) -> dict:
    ratios = [c["ratio"] for c in concepts.values()]
    return {"median_ratio": float(np.median(ratios)), "worst_ratio": float(min(ratios)),
            "median_f1": float(np.median([c["f1"] for c in concepts.values()])),
            "median_ceiling_f1": float(np.median([c["ceiling_f1"] for c in concepts.values()]))}


def holds(variant: dict, raw: dict) -> bool:
    """A variant holds when it beats the raw text on the median F1 over concepts both as a ratio
    to its own ceiling and in absolute F1 (a lower ceiling must not pass for a gain)."""
    return variant["median_ratio"] > raw["median_ratio"] and variant["median_f1"] > raw["median_f1"]


def render_section(section: dict) -> list[str]:
    lines = [f"## {section['title']}", "", f"Seeds {section['seeds']}.", "",
             "| corpus | variant | median F1 | median ceiling F1 | median F1/ceiling | worst F1/ceiling | beats raw |",
             "|---|---|---|---|---|---|---|"]
    for corpus, variants in section["corpora"].items():
        raw = variants.get("raw", {}).get("summary")
        for name, v in variants.items():
            s = v["summary"]
            verdict = "-" if name == "raw" or raw is None else ("yes" if holds(s, raw) else "no")
            lines.append(f"| {corpus} | {name} | {s['median_f1']:.3f} | {s['median_ceiling_f1']:.3f} | "
                         f"{s['median_ratio']:.2f} | {s['worst_ratio']:.2f} | {verdict} |")
    lines += ["", "| corpus | concept | variant | ceiling F1 | F1 (mean) | F1 (worst seed) | F1/ceiling | precision | "
              "hit rate | YES tags |", "|---|---|---|---|---|---|---|---|---|---|"]
    for corpus, variants in section["corpora"].items():
        for concept in next(iter(variants.values()))["concepts"]:
            for name, v in variants.items():
                c = v["concepts"][concept]
                lines.append(f"| {corpus} | {concept} | {name} | {c['ceiling_f1']:.3f} | {c['f1']:.3f} | "
                             f"{c['worst_seed_f1']:.3f} | {c['ratio']:.2f} | {c['precision']:.2f} | {c['hit_rate']:.2f} | "
                             f"{c['tags_yes']:.1f} |")
    return lines + [""]


def render_lengths(section: dict) -> list[str]:
    lines = [f"## Where the tracker goes wrong, by sentence length ({section['title']})", "",
             "Final detections of all seeds, sentence rows against their turn's truth.", "",
             "| corpus | concept | variant | length | share of scope | share of positives | share of detections | "
             "hit rate | precision |", "|---|---|---|---|---|---|---|---|---|"]
    for corpus, variants in section["corpora"].items():
        for name, v in variants.items():
            for concept, buckets in v["by_length"].items():
                for label, b in buckets.items():
                    hr = "-" if b["hit_rate"] is None else f"{b['hit_rate']:.2f}"
                    p = "-" if b["precision"] is None else f"{b['precision']:.2f}"
                    lines.append(f"| {corpus} | {concept} | {name} | {label} | {b['share_of_scope']:.3f} | "
                                 f"{b['share_of_positives']:.3f} | {b['share_of_detections']:.3f} | {hr} | {p} |")
    return lines + [""]


def render(result: dict) -> str:
    lines = [f"# {result['title']}", "", "Generated by `benchmarks/speech_text.py`; do not edit by hand.", "",
             "The loop of tracker_quality.py (5 examples, 4 rounds of 25, no verification round); F1 at utterance "
             "level; the ceiling recomputed on each variant's embeddings. A variant beats raw when its median F1 "
             "over concepts is higher both as a ratio to its ceiling and in absolute F1.", ""]
    for section in result["sections"]:
        lines += render_section(section)
    lines += render_lengths(result["sections"][0])
    return "\n".join(lines) + "\n"


def run_section(title: str, corpus_names: list[str], variants: list[str], seeds: list[int],
                cache: TextEmbeddingCache, ceilings: dict, ceiling_path: Path) -> dict:
    section = {"title": title, "seeds": seeds, "corpora": {}}
    for corpus_name in corpus_names:
        base = load_corpus(DATASETS / corpus_name, cache)
        section["corpora"][corpus_name] = {}
        for name in variants:
            corpus = variant_corpus(base, name, cache)
            print(f"== {title}: {corpus_name}, {name}: {len(corpus.sentences)} sentences", flush=True)
            with tempfile.TemporaryDirectory() as dump:
                tq.DUMP = Path(dump)
                concepts, lengths = {}, {}
                for concept in corpus.concepts:
                    rows = tq.run_concept(corpus, concept, seeds, None, ceilings, with_keywords=False)
                    ceiling_path.write_text(json.dumps(ceilings))
                    concepts[concept["name"]] = concept_summary(rows)
                    lengths[concept["name"]] = by_length(corpus, concept, Path(dump), seeds)
                tq.DUMP = None
            summary = variant_summary(concepts)
            section["corpora"][corpus_name][name] = {"concepts": concepts, "by_length": lengths, "summary": summary}
            print(json.dumps(summary), flush=True)
    return section


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(12)), help="seeds to choose on")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--typed", nargs="*", default=["multiwoz-val", "multidogo-train"],
                    help="typed corpora on which the normalisation must not lose (raw against speech-1)")
    ap.add_argument("--held-out-seeds", type=int, nargs="*", default=[],
                    help="seeds kept apart from every choice: run once, after the choice (raw against --held-out)")
    ap.add_argument("--held-out", nargs="*", default=["speech-1"], choices=list(VARIANTS))
    ap.add_argument("--results-name", default="speech_text")
    args = ap.parse_args(argv)
    cache = TextEmbeddingCache()
    ceiling_path = tq.DEFAULT_DIR / "ceilings.json"
    ceilings = json.loads(ceiling_path.read_text()) if ceiling_path.exists() else {}
    sections = [run_section("Real speech, seeds to choose on", ["mrda-meetings"], args.variants, args.seeds,
                            cache, ceilings, ceiling_path)]
    if args.typed:
        sections.append(run_section("Typed dialogues: the normalisation must not lose", args.typed, ["raw", "speech-1"],
                                    args.seeds, cache, ceilings, ceiling_path))
    if args.held_out_seeds:
        sections.append(run_section("Real speech, held-out seeds (run once, after the choice)", ["mrda-meetings"],
                                    ["raw", *args.held_out], args.held_out_seeds, cache, ceilings, ceiling_path))
    result = {"title": "Speech text: normalisation and segmentation before embedding", "sections": sections,
              "settings": {"run_on_words": RUN_ON_WORDS, "window_words": WINDOW_WORDS, "fragment_words": FRAGMENT_WORDS}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.results_name}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"{args.results_name}.md").write_text(render(result))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
