"""A round in a second at a million sentences (issue 16, item 5): next round -> tags -> train -> estimate.

    python benchmarks/round_latency.py                          # 1,000,000 sentences, then 100,000 for reference
    python benchmarks/round_latency.py --sentences 100000 --no-reference --no-write   # a quick look

Builds the workspace of benchmarks/backfill.py (distinct texts, random unit vectors written into the
embedding cache so no model runs) and plants a concept in it: a sentence means it when its vector
lies near a hidden direction (cosine > 0.1, about 2.5% of sentences), and the tracker's 5 example
sentences are new texts whose cached vectors lie near that direction. A tracker over every sentence
(mentioned by anyone, no filters) is then driven through the product's own API, as a user would:

    t = ws.create_tracker(...); t.add_examples(5 texts)
    each round: t.next_round() -> t.tag(id, truth) for all 25 -> t.train() (MLflow run, version,
                figures) -> t.performance()

in a freshly opened Workspace (round 1 pays the one-off load of the embeddings), each step timed
apart and the round in total. Round 1 is cold; rounds 2-6 show the steady state the target is about.
Each round's picks and estimate are hashed (``fingerprint``) so that a change of speed can be checked
to leave what a round computes unchanged.

Target: a round (next round + 25 tags + train + estimate) <= 1 s with 1,000,000 sentences in scope.
Writes benchmarks/results/round_latency.json and round_latency.md (``--results-name NAME``: NAME.json, NAME.md).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402

from backfill import build_workspace, report  # noqa: E402

TARGET_SENTENCES, TARGET_SECONDS = 1_000_000, 1.0
ROUNDS = 6
STEPS = ("next_round", "tag", "train", "estimate")
EXAMPLES = [f"Planted concept example number {i}." for i in range(5)]


def plant_concept(root: Path, dim: int, seed: int) -> dict[int, str]:
    """The hidden concept: truth per sentence_id ("yes"/"no"), and the examples' vectors cached
    near its direction (so that adding them as examples embeds nothing)."""
    from workbench import Workspace
    from workbench.embedding.cache import EmbeddingCache, text_keys

    rng = np.random.default_rng(10_000 + seed)
    direction = rng.standard_normal(dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    ws = Workspace(root)
    cache = EmbeddingCache(ws.embeddings_dir, ws.embedder.model_id)
    texts, ids = ws.sentences["text"].to_list(), ws.sentences["sentence_id"].to_numpy()
    yes = np.zeros(len(texts), bool)
    for lo in range(0, len(texts), 100_000):
        vectors, missing = cache.lookup_keys(text_keys(texts[lo : lo + 100_000]))
        assert not missing.any()
        yes[lo : lo + len(vectors)] = vectors @ direction > 0.1
    examples = direction + 0.08 * rng.standard_normal((len(EXAMPLES), dim)).astype(np.float32)
    cache.add_keys(text_keys(EXAMPLES), examples / np.linalg.norm(examples, axis=1, keepdims=True))
    return {int(i): ("yes" if y else "no") for i, y in zip(ids, yes)}


def drive(root: Path, truth: dict[int, str], rounds: int) -> list[dict]:
    """The user's loop through the API in a fresh Workspace; per round, each step's seconds."""
    from workbench import Workspace
    from workbench.trackers.scope_check import SmallCorpusWarning

    ws = Workspace(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCorpusWarning)  # 10,000 calls at 1M; fewer at the reference size
        t = ws.create_tracker("Planted concept", mentioned_by="any", examples=EXAMPLES)
    out = []
    for _ in range(rounds):
        secs: dict[str, float] = {}
        cpu: dict[str, float] = {}
        main: dict[str, float] = {}
        clock = _Clock(main)
        rnd = t.next_round()
        clock.lap("next_round", secs, cpu)
        for c in rnd.candidates:
            t.tag(c.sentence_id, truth[c.sentence_id])
        clock.lap("tag", secs, cpu)
        trained = t.train()
        clock.lap("train", secs, cpu)
        est = t.performance()
        clock.lap("estimate", secs, cpu)
        secs["total"], cpu["total"], main["total"] = sum(secs.values()), sum(cpu.values()), sum(main.values())
        picks = [c.sentence_id for c in rnd.candidates]
        out.append({"round": rnd.number, **{k: round(v, 3) for k, v in secs.items()},
                    "cpu": {k: round(v, 3) for k, v in cpu.items()},
                    "cpu_main_thread": {k: round(v, 3) for k, v in main.items()},
                    "yes": sum(truth[s] == "yes" for s in picks), "version": trained.version,
                    "precision": _value(est.honest_precision), "hit_rate": _value(est.honest_hit_rate),
                    "fingerprint": _fingerprint(picks, est.as_dict())})
        print(f"  round {rnd.number}: " + ", ".join(f"{k} {secs[k]:.3f}" for k in (*STEPS, "total"))
              + f" (cpu {cpu['total']:.3f}, main thread {main['total']:.3f}) {out[-1]['fingerprint']}", flush=True)
    # What the round left to the background (the figures logged to MLflow), waited for here.
    t0 = time.perf_counter()
    # (Code from before the figures were deferred has no queue: the script measures it too.)
    getattr(ws.registry, "wait_for_figures", lambda: None)()
    out[-1]["figures_left_s"] = round(time.perf_counter() - t0, 3)
    return out


class _Clock:
    """Wall and CPU seconds (the whole process's, background threads included) between laps,
    and into ``main`` the CPU seconds of the thread that drives the round (what the user waits
    on when no other thread competes; the rest is the background's)."""

    def __init__(self, main: dict) -> None:
        self.main = main
        self.wall, self.cpu, self.thread = time.perf_counter(), time.process_time(), time.thread_time()

    def lap(self, step: str, secs: dict, cpu: dict) -> None:
        wall, used, thread = time.perf_counter(), time.process_time(), time.thread_time()
        secs[step], cpu[step], self.main[step] = wall - self.wall, used - self.cpu, thread - self.thread
        self.wall, self.cpu, self.thread = wall, used, thread


def _value(figure) -> float | None:
    return None if figure is None else round(figure.value, 3)


def _fingerprint(picks: list[int], estimate: dict) -> str:
    """What a round computed (its picks and the estimate after it), hashed: equal before and after a speed-up."""
    text = json.dumps([picks, estimate], sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def measure(n: int, dim: int, seed: int, rounds: int, keep: Path | None) -> dict:
    root = keep / f"{n}-sentences" if keep else Path(tempfile.mkdtemp(prefix="wb-round-"))
    if keep and root.exists():
        shutil.rmtree(root)
    try:
        t0 = time.perf_counter()
        build_workspace(root, n, 100, dim, seed)
        truth = plant_concept(root, dim, seed)
        build_s = time.perf_counter() - t0
        gc.collect()
        rows = drive(root, truth, rounds)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    steady = rows[1:]
    return {"sentences": n, "build_s": round(build_s, 1), "yes_share": round(sum(v == "yes" for v in truth.values()) / n, 4),
            "rounds": rows, "steady_max_s": max(r["total"] for r in steady) if steady else None,
            "steady_median_s": float(np.median([r["total"] for r in steady])) if steady else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=TARGET_SENTENCES)
    ap.add_argument("--reference", type=int, default=100_000, help="a second, smaller corpus for reference")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="build the workspaces under this folder and keep them")
    ap.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    ap.add_argument("--results-name", default="round_latency", metavar="NAME",
                    help="write benchmarks/results/NAME.json and NAME.md (default round_latency)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="a round_latency.json of other code (e.g. before a change): set beside this run")
    args = ap.parse_args()
    sizes = [args.sentences] + ([] if args.no_reference else [args.reference])
    runs = []
    for n in sizes:
        print(f"{n:,} sentences:", flush=True)
        runs.append(measure(n, args.dim, args.seed, args.rounds, args.keep))
    main_run = runs[0]
    out = {
        "benchmark": "round_latency",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "corpus": {"dim": args.dim, "seed": args.seed, "rounds": args.rounds},
        "target": {"sentences": TARGET_SENTENCES, "seconds": TARGET_SECONDS,
                   "met": main_run["sentences"] >= TARGET_SENTENCES and main_run["steady_max_s"] is not None
                   and main_run["steady_max_s"] <= TARGET_SECONDS},
        "runs": runs,
    }
    if args.compare:
        out["compared_with"] = {"file": str(args.compare), **json.loads(args.compare.read_text())}
    report(out, render(out), args.results_name, write=not args.no_write)
    return 0


def render(out: dict) -> str:
    main_run, t = out["runs"][0], out["target"]
    lines = [
        "# Round latency",
        "",
        f"`python benchmarks/round_latency.py` on {out['date'][:10]}: {out['machine']['cpus']} CPUs, Python "
        f"{out['machine']['python']}, load average at the end {out['machine']['load_average']}.",
        "",
        "The workspace of benchmarks/backfill.py (random unit vectors in the embedding cache) with a planted concept: "
        "a sentence means it when its vector lies near a hidden direction, and the 5 examples lie near it. A tracker "
        "over every sentence, driven through the API in a freshly opened Workspace: `next_round()`, `tag()` x 25 from "
        "the truth, `train()` (MLflow run and version), `performance()`. Seconds per step; round 1 pays the one-off "
        "load of the embeddings. CPU s: the process's CPU seconds in the round, the background threads that "
        "plan the next round, complete the MLflow record and draw the figures included (a load-independent view "
        "of the work on a shared machine); main-thread CPU s: those of the thread the user waits on.",
        "",
        f"**Target: a round <= {t['seconds']:g} s at {t['sentences']:,} sentences, rounds 2-{out['corpus']['rounds']}: "
        f"{'met' if t['met'] else 'NOT met'}** (slowest {main_run['steady_max_s']:.2f} s, median "
        f"{main_run['steady_median_s']:.2f} s).",
        "",
    ]
    for run in out["runs"]:
        lines += [f"## {run['sentences']:,} sentences in scope ({run['yes_share']:.1%} mean the concept)", "",
                  "| round | next round | 25 tags | train | estimate | **round** | CPU s | main-thread CPU s | YES found "
                  "| precision, hit rate (est.) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in run["rounds"]:
            lines.append(f"| {r['round']} | {r['next_round']:.3f} | {r['tag']:.3f} | {r['train']:.3f} | "
                         f"{r['estimate']:.3f} | **{r['total']:.3f}** | {r['cpu']['total']:.2f} | "
                         f"{_main_cpu(r)} | {r['yes']} | {_pair(r)} |")
        lines += ["", f"Build {run['build_s']:.0f} s; peak memory of the process so far {run['peak_rss_mb']:,} MB; "
                  f"after the last round, the figures still being drawn in the background took "
                  f"{run['rounds'][-1].get('figures_left_s', 0):.2f} s more to log.", ""]
    if "compared_with" in out:
        lines += _comparison(out)
    lines += ["Timings on a machine shared with other work; rerun for your own.", ""]
    return "\n".join(lines)


def _comparison(out: dict) -> list[str]:
    """Rounds 2-N of each size against the same sizes in ``--compare``'s file."""
    other = out["compared_with"]
    lines = [f"## Against {other['file']} ({other['date'][:10]}, load average then {other['machine']['load_average']})", "",
             "| sentences | median round then | median round now | CPU s then | CPU s now | main-thread CPU s then "
             "| main-thread CPU s now | same picks and estimates |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for run in out["runs"]:
        then = next((r for r in other["runs"] if r["sentences"] == run["sentences"]), None)
        if then is None:
            continue
        same = [r["fingerprint"] for r in run["rounds"]] == [r["fingerprint"] for r in then["rounds"]]
        cells = " | ".join("-" if np.isnan(v) else f"{v:.2f}" for v in (
            _median(then, "total"), _median(run, "total"), _median(then, "cpu"), _median(run, "cpu"),
            _median(then, "cpu_main_thread"), _median(run, "cpu_main_thread")))
        lines.append(f"| {run['sentences']:,} | {cells} | {'yes, every round' if same else 'NO'} |")
    return lines + ["", "Medians over rounds 2 and later. The machine's load differed between the two runs: the CPU "
                    "seconds compare the work, the wall seconds mostly the load.", ""]


def _median(run: dict, what: str) -> float:
    if what in ("cpu", "cpu_main_thread"):
        values = [r[what]["total"] for r in run["rounds"][1:] if what in r]
    else:
        values = [r[what] for r in run["rounds"][1:]]
    return float(np.median(values)) if values else float("nan")


def _main_cpu(r: dict) -> str:
    return f"{r['cpu_main_thread']['total']:.2f}" if "cpu_main_thread" in r else "-"


def _pair(r: dict) -> str:
    return ", ".join("-" if r[k] is None else f"{r[k]:.2f}" for k in ("precision", "hit_rate"))


if __name__ == "__main__":
    sys.exit(main())
