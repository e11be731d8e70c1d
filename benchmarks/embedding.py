"""Embedding throughput: plain sentence-transformers vs the workbench, cold and warm cache.

    python benchmarks/embedding.py            # 5,000 real sentences
    python benchmarks/embedding.py --n 1000 --repeats 1 --no-int8

All variants embed the same distinct texts in one process. Each round goes through the
texts in slices of --slice, running every variant on a slice (in rotating order) before
moving on, so the variants compared ran seconds apart and a load spike from another
process hits them alike; ratios are taken within a round, the median over rounds reported.

(a) plain      SentenceTransformer(path).encode(texts, batch_size=B)
(b) cold       embed_texts of texts not yet in the cache (embeds them, writes the shards)
(c) warm       embed_texts again, from a freshly opened cache (as a new session would)
(d) int8       embed_texts with Embedder(quantize=True), cold; cosine to the fp32 vectors

Writes benchmarks/results/embedding.json and embedding.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _interleaved import interleaved_round, load_record, slices_of, write_results  # noqa: E402
SHARED = REPO.parent / "shared" / "datasets"
DATASETS = ("multiwoz-val", "multidogo-train")


def load_texts(n: int) -> tuple[list[str], str]:
    """n distinct texts: real utterances from ../shared, or generated ones if it is absent."""
    files = [SHARED / name / "utterances.parquet" for name in DATASETS]
    if all(f.exists() for f in files):
        import polars as pl

        pool: list[str] = []
        for f in files:
            pool.extend(pl.read_parquet(f, columns=["text"])["text"].drop_nulls().to_list())
        pool = list(dict.fromkeys(t.strip() for t in pool if t and t.strip()))
        random.Random(0).shuffle(pool)
        if len(pool) < n:
            print(f"only {len(pool)} distinct utterances in {SHARED}; using all of them", file=sys.stderr)
        return pool[:n], f"{min(n, len(pool))} distinct utterances from {', '.join(DATASETS)} (shuffled, seed 0)"
    print(f"{SHARED} not found: benchmarking on generated sentences instead", file=sys.stderr)
    rng = random.Random(0)
    words = ("price discount contract team budget call next week send proposal legal sign quarter "
             "license seats onboarding renewal demo pilot approve number lower could we you the a to").split()
    texts = []
    while len(texts) < n:
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))).capitalize() + f" ({len(texts)}).")
    return texts, f"{n} generated sentences (../shared/datasets absent)"


def machine() -> dict:
    import numpy
    import sentence_transformers
    import torch
    import transformers

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "quantized_engine": torch.backends.quantized.engine,
        "platform": platform.platform(),
    }


def cosine_stats(reference, other) -> dict:
    """Per-sentence cosine of two (n, dim) arrays of the same sentences: mean, min, percentiles."""
    import numpy as np

    reference, other = reference.astype(np.float64), other.astype(np.float64)
    cos = (reference * other).sum(1) / (np.linalg.norm(reference, axis=1) * np.linalg.norm(other, axis=1))
    return {"mean": float(cos.mean()), "min": float(cos.min()), "p1": float(np.percentile(cos, 1)),
            "p5": float(np.percentile(cos, 5)), "median": float(np.median(cos))}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="distinct sentences to embed (default 5000)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of every variant (default 2)")
    parser.add_argument("--slice", type=int, default=500, help="texts per paired measurement (default 500)")
    parser.add_argument("--warm-repeats", type=int, default=5)
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 variant")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    from workbench.core.settings import use_offline_environment
    from workbench.embedding.cache import EmbeddingCache
    from workbench.embedding.embedder import Embedder, embed_texts

    use_offline_environment()  # before sentence_transformers is imported below
    import numpy as np
    from sentence_transformers import SentenceTransformer

    texts, source = load_texts(args.n)
    n = len(texts)
    loads = [os.getloadavg()]
    info = machine()
    print(f"{source}; {info['cpu']}, {info['cores']} cores, torch threads {info['torch_threads']}; "
          f"load {loads[0][0]:.2f}", file=sys.stderr)

    embedder = Embedder(batch_size=args.batch_size)
    plain = SentenceTransformer(str(embedder.model_path), device="cpu", local_files_only=True)
    variants = ["plain", "cold"]
    int8 = None
    if not args.no_int8:
        int8 = Embedder(batch_size=args.batch_size, quantize=True)
        variants.append("int8")
    # First calls pay for lazy initialisation (thread pools, quantised kernels): not measured.
    warmup = texts[:128]
    plain.encode(warmup, batch_size=args.batch_size)
    embedder.encode(warmup)
    if int8 is not None:
        int8.encode(warmup)

    # Seconds per round for each variant, summed over slices, the slices interleaved between the
    # variants (benchmarks/_interleaved.py): on a shared machine that keeps the ratios honest.
    seconds: dict[str, list[float]] = {v: [] for v in variants + ["warm"]}
    vectors: dict[str, list] = {v: [] for v in variants}
    slices = slices_of(texts, args.slice)
    with tempfile.TemporaryDirectory(prefix="wb-embed-bench-") as tmp:
        for round_no in range(args.repeats):
            caches = {v: EmbeddingCache(Path(tmp) / f"{v}-{round_no}", m.model_id)
                      for v, m in (("cold", embedder), ("int8", int8)) if m is not None}
            # Every slice is new to the round's caches, so each embed_texts call is a cold run.
            runs = {"plain": lambda part: plain.encode(part, batch_size=args.batch_size),
                    "cold": lambda part: embed_texts(part, caches["cold"], embedder, progress=False)}
            if int8 is not None:
                runs["int8"] = lambda part: embed_texts(part, caches["int8"], int8, progress=False)
            spent, outputs = interleaved_round(runs, slices, round_no, loads)
            for variant in variants:
                seconds[variant].append(spent[variant])
                if round_no == 0:
                    vectors[variant] = outputs[variant]
            assert len(caches["cold"]) == n
            # A new session over the cache the cold run just filled: open, look up, assemble.
            cold_vectors = np.concatenate(vectors["cold"])
            for _ in range(args.warm_repeats):
                out, dt = timed(lambda: embed_texts(texts, EmbeddingCache(caches["cold"].root, embedder.model_id),
                                                    embedder, progress=False))
                seconds["warm"].append(dt)
                if not np.array_equal(out, cold_vectors):
                    raise AssertionError("warm cache returned different vectors than the cold run")
            print(f"round {round_no + 1}: warm {n / min(seconds['warm'][-args.warm_repeats:]):.0f}/s",
                  file=sys.stderr)
    vectors = {v: np.concatenate(parts) for v, parts in vectors.items()}

    rate = {v: [n / s for s in ts] for v, ts in seconds.items()}
    median_rate = {v: statistics.median(r) for v, r in rate.items()}
    # Paired per round: both variants ran back to back under the same load.
    per_round_cold_vs_plain = [seconds["plain"][i] / seconds["cold"][i] for i in range(args.repeats)]
    warm_per_round = [
        statistics.median(seconds["warm"][i * args.warm_repeats : (i + 1) * args.warm_repeats])
        for i in range(args.repeats)
    ]
    ratios = {
        "cold_vs_plain": statistics.median(per_round_cold_vs_plain),
        "cold_vs_plain_per_round": per_round_cold_vs_plain,
        "warm_vs_cold": statistics.median(seconds["cold"][i] / warm_per_round[i] for i in range(args.repeats)),
    }

    quality = {"float16_cache_cosine_to_fp32": cosine_stats(vectors["plain"], vectors["cold"])}
    if int8 is not None:
        ratios["int8_vs_plain"] = statistics.median(seconds["plain"][i] / seconds["int8"][i] for i in range(args.repeats))
        ratios["int8_vs_cold"] = statistics.median(seconds["cold"][i] / seconds["int8"][i] for i in range(args.repeats))
        quality["int8_cosine_to_fp32"] = cosine_stats(vectors["plain"], vectors["int8"])
        # What a nearest-neighbour search (or a classifier's view of similarity) would notice.
        m = min(n, 2000)
        ref, alt = vectors["plain"][:m], vectors["int8"][:m]
        k = 10
        top_ref = np.argsort(-(ref @ ref.T), axis=1)[:, 1 : k + 1]
        top_alt = np.argsort(-(alt @ alt.T), axis=1)[:, 1 : k + 1]
        overlap = [len(set(a) & set(b)) / k for a, b in zip(top_ref, top_alt)]
        quality["int8_top10_neighbour_overlap"] = {"mean": float(np.mean(overlap)), "sentences": m}

    result = {
        "benchmark": "embedding",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "texts": source,
        "n": n,
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "warm_repeats": args.warm_repeats,
        "slice": args.slice,
        "model_id": embedder.model_id,
        "int8_model_id": int8.model_id if int8 is not None else None,
        "sentences_per_s_median": median_rate,
        "sentences_per_s_runs": rate,
        "ratios": ratios,
        "quality": quality,
        "targets": {"cold_vs_plain>=0.95": ratios["cold_vs_plain"] >= 0.95,
                    "warm_vs_cold>=50": ratios["warm_vs_cold"] >= 50},
        "machine": info,
        **load_record(loads, info["cores"]),
    }
    write_results(args.out, "embedding", result, render)
    return 0


def render(r: dict) -> str:
    rate, ratio, q, m = r["sentences_per_s_median"], r["ratios"], r["quality"], r["machine"]
    lines = [
        "# Embedding throughput",
        "",
        f"{r['when']}: {r['texts']}, {r['mean_chars']:.0f} characters on average; batch size {r['batch_size']}, "
        f"{r['repeats']} rounds, each in slices of {r['slice']} with every variant run on a slice in rotating order "
        f"before the next; warm cache timed {r['warm_repeats']} times per round.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['torch_threads']} threads, "
        f"sentence-transformers {m['sentence_transformers']}, transformers {m['transformers']}, Python {m['python']}.",
        f"Load average (1/5/15 min) at start {fmt_load(r['load_average_1_5_15']['start'])}, "
        f"at end {fmt_load(r['load_average_1_5_15']['end'])}: {r['load_note']}.",
        "",
        "| variant | sentences/s (median) | runs |",
        "|---|---:|---|",
    ]
    names = {"plain": "(a) plain `SentenceTransformer.encode`", "cold": "(b) workbench, cold cache",
             "warm": "(c) workbench, warm cache (reopened)", "int8": "(d) workbench int8, cold cache"}
    for key, label in names.items():
        if key in rate:
            runs = ", ".join(f"{x:,.0f}" for x in r["sentences_per_s_runs"][key])
            lines.append(f"| {label} | {rate[key]:,.0f} | {runs} |")
    lines += [
        "",
        f"- cold / plain: **{ratio['cold_vs_plain']:.3f}x** (target >= 0.95; per round: "
        + ", ".join(f"{x:.3f}" for x in ratio["cold_vs_plain_per_round"]) + ")",
        f"- warm / cold: **{ratio['warm_vs_cold']:,.0f}x** (target >= 50)",
    ]
    if "int8_vs_plain" in ratio:
        lines.append(f"- int8 / plain fp32: **{ratio['int8_vs_plain']:.2f}x**, int8 / workbench fp32: {ratio['int8_vs_cold']:.2f}x")
    lines += ["", "Quality (cosine similarity to the plain fp32 vectors of the same sentence):", ""]
    f16 = q["float16_cache_cosine_to_fp32"]
    lines.append(f"- float16 cache: mean {f16['mean']:.7f}, min {f16['min']:.7f} "
                 f"(1 - min = {1 - f16['min']:.1e}: storage in float16 costs nothing measurable)")
    if "int8_cosine_to_fp32" in q:
        i8 = q["int8_cosine_to_fp32"]
        nb = q["int8_top10_neighbour_overlap"]
        lines.append(f"- int8: mean {i8['mean']:.4f}, median {i8['median']:.4f}, 5th percentile {i8['p5']:.4f}, "
                     f"1st percentile {i8['p1']:.4f}, min {i8['min']:.4f}")
        lines.append(f"- int8: {nb['mean']:.0%} of each sentence's 10 nearest neighbours (fp32) are still among its "
                     f"10 nearest (over {nb['sentences']:,} sentences)")
    lines.append("")
    return "\n".join(lines)


def fmt_load(load) -> str:
    return "/".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    sys.exit(main())
