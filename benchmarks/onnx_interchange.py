"""Do torch and ONNX Runtime vectors stand for each other under a trained tracker?

    python benchmarks/onnx_interchange.py              # 3,000 demo sentences, the 8 shipped trackers
    python benchmarks/onnx_interchange.py --n 1000

Since session 15 a new workspace embeds on ONNX Runtime, and versions trained on torch fp32 vectors
(the shipped pre-trained bundles; every older workspace's trackers) score ONNX fp32 vectors of the
same weights, and the other way round (workbench.embedding.backend.same_vectors). This measures
what that costs: distinct sentences of the seeded demo corpus (split as an import splits them) are
embedded by the workbench's own ``embed_texts`` on each backend, rounded through float16 as the
embedding cache stores them, and scored by each shipped bundle's classifier (its
``linear_model.json``, as the scoring path applies it). Writes
benchmarks/results/onnx_interchange.json/.md: cosines per sentence, the largest score difference
and the sentences whose detection differs.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def demo_sentences(n: int, seed: int) -> list[str]:
    from workbench.demo.generator import generate_demo
    from workbench.embedding.embedder import Embedder
    from workbench.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="onnx-interchange-") as tmp:
        paths = generate_demo(Path(tmp) / "raw", n_calls=120, seed=7)
        ws = Workspace(Path(tmp) / "ws", model=Embedder(backend="torch"))  # only splits; nothing embedded
        ws.import_calls(paths.calls, paths.utterances, embed=False, progress=False)
        texts = ws.sentences["text"].unique(maintain_order=True).to_list()
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=min(n, len(texts)), replace=False))]


def bundle_models() -> dict:
    from workbench.activation.bundles import pretrained
    from workbench.registry.linear_model import LinearTrackerModel

    out = {}
    for name, path in pretrained().items():
        with zipfile.ZipFile(path) as z:
            data = json.loads(z.read("version/model/artifacts/linear_model.json"))
        out[name] = LinearTrackerModel.from_dict(data, source=str(path))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="distinct demo sentences (default 3,000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from workbench.embedding.embedder import Embedder, embed_texts
    from workbench.embedding.onnx_encoder import onnx_missing

    if (missing := onnx_missing()) is not None:
        print(f"needs the onnx backend: {missing}", file=sys.stderr)
        return 1
    texts = demo_sentences(args.n, args.seed)
    vectors, cpu = {}, {}
    for backend in ("torch", "onnx"):
        embedder = Embedder(backend=backend, text_normalisation=None)
        t0 = time.process_time()
        vectors[backend] = embed_texts(texts, None, embedder, progress=False)
        cpu[backend] = time.process_time() - t0
    a, b = vectors["torch"].astype(np.float64), vectors["onnx"].astype(np.float64)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    identical_rows = int((vectors["torch"] == vectors["onnx"]).all(1).sum())
    rows = []
    for name, model in bundle_models().items():
        st, so = model.score(vectors["torch"]), model.score(vectors["onnx"])
        dt_, do = st >= 0.5, so >= 0.5
        rows.append({"tracker": name, "detected_torch": int(dt_.sum()), "detected_onnx": int(do.sum()),
                     "differ": int((dt_ != do).sum()), "max_score_diff": float(np.abs(st - so).max()),
                     "embedding_model": model.embedding_model})
    result = {"sentences": len(texts), "seed": args.seed, "cpu_s": cpu, "identical_rows": identical_rows,
              "cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean()),
              "max_abs_component_diff": float(np.abs(a - b).max()), "trackers": rows,
              "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "onnx_interchange.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "onnx_interchange.md").write_text(report(result))
    print(report(result))
    return 0


def report(r: dict) -> str:
    lines = [
        "# Torch and ONNX Runtime vectors under trained trackers",
        "",
        f"{r['at']}: {r['sentences']:,} distinct sentences of the seeded demo corpus (120 calls, seed 7; sample seed "
        f"{r['seed']}), each embedded by `embed_texts` with `Embedder(backend=\"torch\")` and "
        "`Embedder(backend=\"onnx\")` and rounded through float16 as the cache stores it, then scored by the "
        "8 shipped pre-trained trackers' classifiers (trained on torch vectors). "
        f"CPU seconds to embed: torch {r['cpu_s']['torch']:.1f}, onnx {r['cpu_s']['onnx']:.1f} (a shared machine: "
        "`benchmarks/onnx_embedding.py` is the throughput measurement).",
        "",
        f"Vectors: cosine min {r['cosine_min']:.7f}, mean {r['cosine_mean']:.7f}; largest difference of one "
        f"component {r['max_abs_component_diff']:.2e}; {r['identical_rows']:,} of {r['sentences']:,} rows identical "
        "after the float16 rounding.",
        "",
        "| tracker | detected (torch vectors) | detected (onnx vectors) | detections that differ | largest score difference |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in r["trackers"]:
        lines.append(f"| {t['tracker']} | {t['detected_torch']:,} | {t['detected_onnx']:,} | {t['differ']} | "
                     f"{t['max_score_diff']:.1e} |")
    differ = sum(t["differ"] for t in r["trackers"])
    lines += ["", f"Over {len(r['trackers'])} trackers x {r['sentences']:,} sentences, {differ} detections differ."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
