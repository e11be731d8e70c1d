"""A text-keyed embedding cache for benchmarks, kept outside the repository.

Keyed by the sentence text alone so that any sentence splitter (the temporary pysbd split
or workbench.corpus) reuses the same vectors: the machine is shared and embedding the
shared corpora costs minutes. Several benchmark processes share the folder: the texts and the
vectors are read under a shared lock and written under an exclusive one, merged with what
others added meanwhile, so a text never points at another text's vector.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl


DEFAULT_DIR = Path(os.environ.get("WB_BENCH_CACHE", "/tmp/wb-bench-cache"))


class TextEmbeddingCache:
    def __init__(self, directory: Path = DEFAULT_DIR, model_id: str | None = None, backend: str = "torch",
                 jitter: float = 0.0) -> None:
        # jitter > 0: each vector moved by a fixed random offset of that L2 length (seeded by the
        # text), then renormalised; a control for how much a loop's outcome moves with float noise.
        self.jitter = jitter
        # The onnx backend's vectors live apart: a comparison must not read torch's rows back.
        self.backend = backend
        self.dir = Path(directory) / (model_id or ("all-MiniLM-L6-v2" if backend == "torch" else f"all-MiniLM-L6-v2-{backend}"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._texts_path = self.dir / "texts.parquet"
        self._vecs_path = self.dir / "vectors.npy"
        with self._locked(fcntl.LOCK_SH):
            self._read()
        self._model = None

    @contextmanager
    def _locked(self, mode: int):
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, mode)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> None:
        if self._texts_path.exists():
            self._texts = pl.read_parquet(self._texts_path)["text"].to_list()
            self._vecs = np.load(self._vecs_path)
            if len(self._texts) != len(self._vecs):
                raise RuntimeError(f"{self.dir}: {len(self._texts)} texts but {len(self._vecs)} vectors; delete the folder")
        else:
            self._texts, self._vecs = [], np.zeros((0, 384), np.float32)
        self._index = {t: i for i, t in enumerate(self._texts)}

    def _embed(self, texts: list[str]) -> np.ndarray:
        # The product's own embedder: it batches texts of one token length, so a text's vector
        # does not depend on which texts were missing with it (vectors cached before session 14
        # came from padded batches, whose last bits depended on the fill order).
        if self._model is None:
            from workbench.embedding.embedder import Embedder

            self._model = Embedder(backend=self.backend, text_normalisation=None)
        from tqdm import tqdm

        with tqdm(total=len(texts), unit="sentence", desc="Embedding", disable=len(texts) < 1000) as bar:
            return self._model.encode(texts, on_batch=bar.update)

    def get(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._index})
        if missing:
            # Embed short texts together: padding per batch is what costs time.
            missing.sort(key=len)
            new = self._embed(missing)
            with self._locked(fcntl.LOCK_EX):
                self._read()  # what other processes added while this one embedded
                keep = [i for i, t in enumerate(missing) if t not in self._index]
                start = len(self._texts)
                self._texts.extend(missing[i] for i in keep)
                self._vecs = np.concatenate([self._vecs, new[keep]])
                for i, t in enumerate(self._texts[start:]):
                    self._index[t] = start + i
                tmp_vecs, tmp_texts = self._vecs_path.with_suffix(".tmp.npy"), self._texts_path.with_suffix(".tmp")
                np.save(tmp_vecs, self._vecs)
                pl.DataFrame({"text": self._texts}).write_parquet(tmp_texts)
                tmp_vecs.replace(self._vecs_path)
                tmp_texts.replace(self._texts_path)
        vectors = self._vecs[[self._index[t] for t in texts]]
        if self.jitter:
            import zlib

            noise = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(vectors.shape[1])
                              for t in texts]) if texts else np.zeros_like(vectors)
            noise *= self.jitter / np.linalg.norm(noise, axis=1, keepdims=True)
            vectors = vectors + noise.astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors
