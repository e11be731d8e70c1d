"""Embedding from texts on Spark: sentences/s with local[1] and local[2] against the local embedder.

    python benchmarks/spark_embedding.py             # 3,000 real sentences, about 2 minutes
    python benchmarks/spark_embedding.py --n 1000 --masters "local[1]" "local[2]" "local[4]"

Every variant embeds the same distinct texts, cold, into a fresh embedding cache, end to end:
(a) local       workbench.embedding.embedder.embed_texts (what `workbench embed` does), torch with
                all of the machine's cores, then with one thread (the rate of one core);
(b) local[N]    workbench.activation.spark_embed.spark_embed (what `workbench embed --engine
                spark` does) in a Spark session with N executor cores: stage the texts, embed
                them on the executors (one torch thread per task slot), read the float16
                vectors back into the cache. Timed after a warm-up job, so each Python worker
                has already loaded the model (a cluster loads it once per worker too, then
                embeds for hours); the session's start and the warm-up are reported apart.

Also reported: the cosine of the Spark vectors to the local ones, and the machine's load average
around each measurement (other processes share the cores; rerun on an idle machine for figures
to quote). Writes benchmarks/results/spark_embedding.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from embedding import load_texts, machine  # noqa: E402  (benchmarks/embedding.py)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def local_run(texts: list[str], folder: Path, threads: int | None = None) -> dict:
    import torch

    from workbench.embedding.cache import EmbeddingCache
    from workbench.embedding.embedder import Embedder, embed_texts

    all_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    embedder = Embedder()
    embedder.model  # load the weights before the clock starts, as the Spark workers are warmed up
    before = load()
    start = time.perf_counter()
    vectors = embed_texts(texts, EmbeddingCache(folder, embedder.model_id), embedder, progress=False)
    seconds = time.perf_counter() - start
    torch.set_num_threads(all_threads)
    return {"engine": "local" if not threads else f"local, {threads} torch thread", "seconds": round(seconds, 2),
            "sentences_per_s": round(len(texts) / seconds, 1), "load_before": before, "load_after": load()}, vectors


def spark_run(master: str, texts: list[str], folder: Path) -> tuple[dict, object]:
    import numpy as np

    from workbench.activation.spark import session
    from workbench.activation.spark_embed import spark_embed
    from workbench.embedding.cache import EmbeddingCache
    from workbench.embedding.embedder import Embedder

    embedder = Embedder()
    start = time.perf_counter()
    spark = session(master, app_name="benchmark-spark-embedding")
    started = time.perf_counter() - start
    try:
        cores = spark.sparkContext.defaultParallelism
        # Warm-up: a few texts per task slot, so every Python worker imports torch and loads the model.
        start = time.perf_counter()
        spark_embed(folder / "warm-up", folder, embedder, [f"Warm-up sentence number {i}." for i in range(8 * cores)],
                    spark=spark)
        warm_up = time.perf_counter() - start
        before = load()
        start = time.perf_counter()
        added = spark_embed(folder / "cache", folder, embedder, texts, spark=spark)
        seconds = time.perf_counter() - start
        after = load()
    finally:
        spark.stop()
    assert added == len(set(texts)), (added, len(set(texts)))
    vectors, missing = EmbeddingCache(folder / "cache", embedder.model_id).lookup(texts)
    assert not missing.any()
    return {"engine": f"spark {master}", "executor_cores": cores, "seconds": round(seconds, 2),
            "sentences_per_s": round(len(texts) / seconds, 1), "session_start_s": round(started, 1),
            "warm_up_s": round(warm_up, 1), "load_before": before, "load_after": after}, np.asarray(vectors)


def vs_one(run: dict, one: dict | None) -> str:
    """A Spark run's rate against local[1]'s ("" for the local run)."""
    if one is None or not run["engine"].startswith("spark"):
        return ""
    return f"{run['sentences_per_s'] / one['sentences_per_s']:.2f}"


def markdown(result: dict) -> str:
    rows = result["runs"]
    base = next(r for r in rows if r["engine"] == "local")["sentences_per_s"]
    one = next((r for r in rows if r["engine"] == "spark local[1]"), None)
    lines = [
        "# Embedding from texts on Spark",
        "",
        f"`python benchmarks/spark_embedding.py --n {result['n']}`: {result['texts']}, embedded cold into a fresh "
        "cache, end to end (staging, executors, vectors back into the float16 cache for Spark). "
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; "
        f"measured {result['measured_at']}. Load average (1 min) before and after each run is shown: other "
        "processes shared these cores.",
        "",
        "| engine | executor cores | seconds | sentences/s | × local | × local[1] | min cosine to local | load before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cos = r.get("min_cosine_to_local")
        lines.append(
            f"| {r['engine']} | {r.get('executor_cores', '')} | {r['seconds']} | {r['sentences_per_s']:,} | "
            f"{r['sentences_per_s'] / base:.2f} | "
            f"{vs_one(r, one)} | "
            f"{'' if cos is None else f'{cos:.6f}'} | {r['load_before']} → {r['load_after']} |")
    busiest = max(max(r["load_before"], r["load_after"]) for r in rows)
    if busiest > result["machine"]["cores"]:
        lines += ["", f"**The load average reached {busiest} on {result['machine']['cores']} cores: other processes "
                  "held the cores, so these rates measure the contention more than the engines (and more executor "
                  "cores cannot help when no core is free). Rerun on an idle machine before quoting them.**"]
    lines += ["", "Spark session start and warm-up (model load in every Python worker), not in the times above: "
              + "; ".join(f"{r['engine']}: {r['session_start_s']} s + {r['warm_up_s']} s"
                          for r in rows if "session_start_s" in r) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="distinct sentences to embed (default 3000)")
    parser.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import numpy as np

    texts, source = load_texts(args.n)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        run, reference = local_run(texts, Path(tmp) / "local")
        runs.append(run)
        print(run, flush=True)
        # One torch thread: the per-core rate, as one Spark task slot runs it (the cluster plan's figure).
        run, _ = local_run(texts, Path(tmp) / "local-1-thread", threads=1)
        runs.append(run)
        print(run, flush=True)
        for master in args.masters:
            run, vectors = spark_run(master, texts, Path(tmp) / master.replace("[", "-").replace("]", ""))
            cosine = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
            run["min_cosine_to_local"] = round(float(cosine.min()), 6)
            runs.append(run)
            print(run, flush=True)
    result = {"n": len(texts), "texts": source, "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine(), "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "spark_embedding.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "spark_embedding.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
