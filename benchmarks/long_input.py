"""Long input in linear time (issue 14, item 4): one very long utterance, and a large import
with --no-embed while a keyword tracker is active.

    python benchmarks/long_input.py                       # 1 MB utterance, 100,000 utterances
    python benchmarks/long_input.py --utterances 20000    # smaller

Measures, on this machine:
(a) sentence splitting of one transcript-like text of 40 KB, 80 KB and 1 MB: the windowed splitter
    (split_text) against one pysbd pass over the whole text (_split_window, the splitter before
    issue 14; skipped above 80 KB, where it takes minutes: a 1 MB text did not finish in 500 s);
(b) ws.import_calls(embed=False) of one call whose single utterance is 1 MB (target <= 5 s);
(c) ws.import_calls(embed=False) of N demo utterances into a workspace with an active keyword
    tracker, which scores the new calls during the import (target: 100,000 in <= 30 s on 2 cores);
(d) counting the sentences of that import that have no embedding, as scoring with a trained
    tracker does before it refuses (quadratic before issue 14: np.isin over text arrays).
Writes benchmarks/results/long_input.json and long_input.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import polars as pl  # noqa: E402

from workbench.core.errors import WorkbenchError  # noqa: E402
from workbench.corpus.sentences import WINDOW_CHARS, _split_window, split_text  # noqa: E402
from workbench.demo.generator import generate_demo  # noqa: E402
from workbench.embedding.matrix import SentenceMatrix  # noqa: E402
from workbench.workspace import Workspace  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
WHOLE_TEXT_LIMIT = 80_000  # one pysbd pass over more than this takes minutes
_WORDS = ("sure thing we can do that next week the price is fine call me I'm here ok "
          "Dr. Smith said 3.5 percent e.g. the U.S. office at 5 p.m. well").split()
CALL = {"call_id": "long-1", "started_at": "2026-01-05T09:30:00Z", "duration_s": "600", "title": "Long",
        "is_external": "true", "team": "EMEA", "rep": "ana", "deal_stage": "Discovery", "channel": "call"}


def transcript(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 16)))
        parts.append(sentence.capitalize() + rng.choice([". ", "? ", "! ", "... ", " "]))
        size += len(parts[-1])
    return "".join(parts)[:n_chars]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - start, 3)


def splitting(sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        text = transcript(size)
        sentences, windowed = timed(lambda: split_text(text))
        whole = timed(lambda: _split_window(text, "en"))[1] if size <= WHOLE_TEXT_LIMIT else None
        rows.append({"chars": size, "sentences": len(sentences), "windowed_s": windowed, "whole_text_s": whole})
        print(f"split {size:>9,} chars: {len(sentences):,} sentences in {windowed} s (whole text: {whole} s)")
    return rows


def long_utterance_import(root: Path, size: int) -> dict:
    ws = Workspace(root / "one-long")
    utts = pl.DataFrame([{"call_id": CALL["call_id"], "utterance_id": "0", "speaker": "ana", "side": "company",
                          "text": transcript(size, seed=1)}])
    result, seconds = timed(lambda: ws.import_calls(pl.DataFrame([CALL]), utts, embed=False, progress=False))
    print(f"import of one {size:,}-character utterance: {result.imported_sentences:,} sentences in {seconds} s")
    return {"chars": size, "sentences": result.imported_sentences, "import_s": seconds,
            "warning": next((w for w in result.warnings if "longer than" in w), None)}


def large_import(root: Path, n_utterances: int) -> dict:
    ws = Workspace(root / "many")
    seed_calls = generate_demo(root / "seed", n_calls=20, seed=1)
    ws.import_calls(seed_calls.calls, seed_calls.utterances, embed=False, progress=False)
    keyword = ws.create_keyword_tracker("Price talk", phrases=["discount", "price", "too expensive"])
    keyword.activate(progress=False, verbose=False)
    paths = generate_demo(root / "big", n_calls=max(1, round(n_utterances / 56)), seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, seconds = timed(lambda: ws.import_calls(paths.calls, paths.utterances, embed=False, progress=False))
    print(f"import --no-embed of {result.imported_utterances:,} utterances ({result.imported_sentences:,} sentences) "
          f"with an active keyword tracker: {seconds} s, mentions {result.scored}")

    def count_unembedded() -> str:
        try:
            SentenceMatrix(ws, model_id="model-without-vectors").sync()
        except WorkbenchError as error:
            return str(error).split(" sentences")[0]
        return "0"

    counted, count_s = timed(count_unembedded)
    print(f"counting the {counted} sentences without embeddings: {count_s} s")
    return {"utterances": result.imported_utterances, "sentences": result.imported_sentences, "import_s": seconds,
            "keyword_mentions": result.scored.get("Price talk"), "unembedded": counted, "count_unembedded_s": count_s}


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "long_input.json").write_text(json.dumps(results, indent=2) + "\n")
    split_rows = "\n".join(
        f"| {r['chars']:,} | {r['sentences']:,} | {r['windowed_s']} | "
        f"{'not run (minutes)' if r['whole_text_s'] is None else r['whole_text_s']} |" for r in results["splitting"])
    one, many = results["one_long_utterance"], results["large_import"]
    (RESULTS / "long_input.md").write_text(f"""# Long input (issue 14, item 4)

`python benchmarks/long_input.py --utterances {results['args']['utterances']} --long-chars {results['args']['long_chars']}`
on {results['machine']}. Window: {WINDOW_CHARS:,} characters.

## Sentence splitting of one text

| characters | sentences | windowed (s) | one pysbd pass, as before (s) |
|---:|---:|---:|---:|
{split_rows}

## Imports (embed=False)

| case | utterances | sentences | seconds |
|---|---:|---:|---:|
| one utterance of {one['chars']:,} characters (target <= 5 s) | 1 | {one['sentences']:,} | {one['import_s']} |
| demo calls, active keyword tracker | {many['utterances']:,} | {many['sentences']:,} | {many['import_s']} |
| counting the workspace's sentences without embeddings | | {many['unembedded']} | {many['count_unembedded_s']} |

The import's note on the long utterance: "{one['warning']}"
""")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--utterances", type=int, default=100_000)
    ap.add_argument("--long-chars", type=int, default=1_000_000)
    ap.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    args = ap.parse_args()
    results = {"args": vars(args), "machine": f"{platform.machine()}, {platform.python_version()}",
               "splitting": splitting([40_000, 80_000, args.long_chars])}
    with tempfile.TemporaryDirectory(prefix="long-input-") as tmp:
        results["one_long_utterance"] = long_utterance_import(Path(tmp), args.long_chars)
        results["large_import"] = large_import(Path(tmp), args.utterances)
    if not args.no_write:
        write(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
