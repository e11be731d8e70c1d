"""Sentence embeddings as one float32 matrix on disk, for scoring every sentence at once.

The embedding cache (workbench.embedding.cache) is keyed by text and stores float16 shards: right for
embedding once and never again, wrong for scoring a million sentences in seconds, because
gathering a million rows out of shards and widening float16 to float32 costs far more than the
matrix product itself (measured in benchmarks/results/backfill.md). So activation keeps a second,
derived copy: one float32 row per sentence id, appended as sentences are imported.

Layout, one folder per embedding model under ``data/embeddings/matrix/``::

    vectors.f32    rows x dim float32, append-only
    ids.i64        the sentence_id of each row, append-only
    state.json     {"rows": n, "dim": d, "model_id": ...}: only the first n rows are valid

Writers append data, fsync it, then replace state.json; a reader maps only the rows state.json
names, so a killed writer leaves a tail that the next writer overwrites. One writer at a time
(a lock file). Rows are never rewritten: a sentence id names a fixed text, so its vector never
changes; rows of sentences that a re-import removed stay until :meth:`SentenceMatrix.compact`.

Rows are appended in import order, which is the order of ``ws.sentences``: a tracker's scope is
then a set of nearly contiguous row ranges, which the scorer reads chunk by chunk without a
gather.
"""
from __future__ import annotations

from workbench.core.files import atomic_write_text, file_lock

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import polars as pl

from workbench.core.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.workspace import Workspace

# Rows per block when reading the matrix: ~48 MB of float32 at 384 dimensions, large enough for
# BLAS to run at memory speed, small enough to stay in cache-friendly pieces.
BLOCK_ROWS = 131_072
# Texts looked up in the embedding cache at once while syncing: bounds memory for big imports.
_SYNC_BATCH = 100_000


@dataclass(frozen=True)
class MatrixView:
    """The matrix as it was when opened: ``vectors[positions[i]]`` is the embedding of the i-th
    sentence of ``ws.sentences`` (for the generation it was aligned with)."""

    vectors: np.ndarray  # (rows, dim) float32 memmap
    positions: np.ndarray  # int64, aligned with ws.sentences
    generation: int

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def embeddings(self, sentence_rows: np.ndarray | None = None) -> np.ndarray:
        """A copy of the vectors of the given rows of ws.sentences (all when None)."""
        pos = self.positions if sentence_rows is None else self.positions[sentence_rows]
        return np.asarray(self.vectors[pos], dtype=np.float32)


def linear_scores(
    view: MatrixView,
    sentence_rows: np.ndarray,
    weights: np.ndarray,
    bias: float,
    *,
    on_block: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``X @ weights + bias`` for the given rows of ws.sentences, as float32.

    Reads the matrix block by block and skips blocks no requested row falls in; within a block
    all rows are scored (a contiguous BLAS product) and the requested ones picked out, which is
    much faster than gathering scattered rows first. ``on_block(n)`` reports rows done.
    """
    sentence_rows = np.asarray(sentence_rows, dtype=np.int64)
    out = np.empty(len(sentence_rows), dtype=np.float32)
    if len(sentence_rows) == 0:
        return out
    w = np.ascontiguousarray(weights, dtype=np.float32).ravel()
    if w.shape[0] != view.dim:
        raise WorkbenchError(
            f"The model expects {w.shape[0]}-dimensional embeddings but the workspace holds "
            f"{view.dim}-dimensional ones: it was trained with another embedding model."
        )
    pos = view.positions[sentence_rows]
    block = pos // BLOCK_ROWS
    order = np.argsort(block, kind="stable")
    sorted_blocks = block[order]
    starts = np.flatnonzero(np.r_[True, sorted_blocks[1:] != sorted_blocks[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends):
        b = int(sorted_blocks[s])
        lo = b * BLOCK_ROWS
        chunk = view.vectors[lo : min(lo + BLOCK_ROWS, view.vectors.shape[0])]
        scores = chunk @ w
        idx = order[s:e]
        out[idx] = scores[pos[idx] - lo]
        if on_block is not None:
            on_block(int(e - s))
    out += np.float32(bias)
    return out


class SentenceMatrix:
    """The float32 sentence-embedding matrix of one workspace and embedding model."""

    def __init__(self, ws: "Workspace", model_id: str | None = None) -> None:
        import re

        self.ws = ws
        self.model_id = model_id or ws.embedder.model_id
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model_id).strip("-.") or "model"
        self.path = ws.embeddings_dir / "matrix" / safe
        self._aligned: tuple[int, int, np.ndarray] | None = None  # generation, rows, positions

    def __repr__(self) -> str:
        return f"SentenceMatrix({str(self.path)!r}, {self.rows:,} rows)"

    # -- state -------------------------------------------------------------------------------
    def _state(self) -> dict:
        try:
            return json.loads((self.path / "state.json").read_text())
        except FileNotFoundError:
            return {"rows": 0, "dim": None, "model_id": self.model_id}

    @property
    def rows(self) -> int:
        return int(self._state()["rows"])

    def _lock(self):
        return file_lock(self.path / ".lock")

    def _ids(self, rows: int) -> np.ndarray:
        if rows == 0:
            return np.empty(0, dtype=np.int64)
        return np.fromfile(self.path / "ids.i64", dtype="<i8", count=rows)

    def _vectors(self, rows: int, dim: int) -> np.ndarray:
        if rows == 0:
            return np.empty((0, dim), dtype=np.float32)
        return np.memmap(self.path / "vectors.f32", dtype="<f4", mode="r", shape=(rows, dim))

    # -- writing -----------------------------------------------------------------------------
    def sync(self, *, progress: bool = False) -> int:
        """Append the vectors of sentences that have none yet; returns how many were added.

        Raises with the fix when some sentences are not embedded. Cheap when nothing is new:
        one comparison of sentence ids.
        """
        from workbench.embedding.cache import EmbeddingCache, text_keys

        sents = self.ws.sentences
        with self._lock():
            state = self._state()
            rows, dim = int(state["rows"]), state["dim"]
            have = self._ids(rows)
            ids = sents["sentence_id"].to_numpy()
            if len(have) == len(ids) and np.array_equal(have, ids):
                return 0  # the common case: rows were appended in table order and nothing was replaced
            new = ~np.isin(ids, have, assume_unique=False)
            if not new.any():
                return 0
            # One row per id, even where a sentence id repeats in the table.
            new_ids, first = np.unique(ids[new], return_index=True)
            texts = sents["text"].to_numpy()[np.flatnonzero(new)[first]]
            order = np.argsort(np.flatnonzero(new)[first], kind="stable")  # keep table order
            new_ids, texts = new_ids[order], texts[order]
            cache = EmbeddingCache(self.ws.embeddings_dir, self.model_id)
            bar = _bar(len(new_ids), "Preparing embeddings for scoring", progress)
            try:
                with open(self.path / "vectors.f32", "ab") as vf, open(self.path / "ids.i64", "ab") as idf:
                    # A killed writer may have left a tail past the committed rows: cut it off.
                    if dim is not None:
                        vf.truncate(rows * dim * 4)
                    idf.truncate(rows * 8)
                    vf.seek(0, os.SEEK_END)
                    idf.seek(0, os.SEEK_END)
                    for start in range(0, len(new_ids), _SYNC_BATCH):
                        batch = texts[start : start + _SYNC_BATCH]
                        matrix, missing = cache.lookup_keys(text_keys(list(batch)))
                        if missing.any():
                            # A hash join: np.isin on text (object) arrays compares every pair.
                            unembedded = pl.Series(list(batch[missing]), dtype=pl.String).implode()
                            n_missing = int(sents["text"].is_in(unembedded).sum())
                            raise WorkbenchError(
                                f"{n_missing:,} sentences in {self.ws.path} have no embedding for model "
                                f"{self.model_id}. Run `workbench embed` (or ws.embed()) first."
                            )
                        if dim is None:
                            dim = int(matrix.shape[1])
                        elif matrix.shape[1] != dim:
                            raise WorkbenchError(f"The embedding cache {cache.path} holds {matrix.shape[1]}-d "
                                                 f"vectors but {self.path} holds {dim}-d ones.")
                        vf.write(np.ascontiguousarray(matrix, dtype="<f4").tobytes())
                        idf.write(new_ids[start : start + len(batch)].astype("<i8").tobytes())
                        if bar is not None:
                            bar.update(len(batch))
                    vf.flush()
                    idf.flush()
                    os.fsync(vf.fileno())
                    os.fsync(idf.fileno())
            finally:
                if bar is not None:
                    bar.close()
            _atomic_json(self.path / "state.json", {"rows": rows + len(new_ids), "dim": dim, "model_id": self.model_id})
            self._aligned = None
            return len(new_ids)

    def compact(self) -> int:
        """Rewrite the matrix with only the sentences the workspace holds now; returns rows dropped."""
        sents = self.ws.sentences
        with self._lock():
            state = self._state()
            rows, dim = int(state["rows"]), state["dim"]
            if rows == 0:
                return 0
            have = self._ids(rows)
            keep = np.isin(have, sents["sentence_id"].to_numpy())
            if keep.all():
                return 0
            vectors = self._vectors(rows, dim)
            tmp_v, tmp_i = self.path / ".vectors.f32.tmp", self.path / ".ids.i64.tmp"
            with open(tmp_v, "wb") as vf:
                for lo in range(0, rows, BLOCK_ROWS):
                    vf.write(np.ascontiguousarray(vectors[lo : lo + BLOCK_ROWS][keep[lo : lo + BLOCK_ROWS]]).tobytes())
                vf.flush()
                os.fsync(vf.fileno())
            have[keep].astype("<i8").tofile(tmp_i)
            del vectors
            # The state is shrunk first, so a crash between the renames leaves a valid prefix.
            kept = int(keep.sum())
            _atomic_json(self.path / "state.json", {"rows": 0, "dim": dim, "model_id": self.model_id})
            os.replace(tmp_v, self.path / "vectors.f32")
            os.replace(tmp_i, self.path / "ids.i64")
            _atomic_json(self.path / "state.json", {"rows": kept, "dim": dim, "model_id": self.model_id})
            self._aligned = None
            return rows - kept

    # -- reading -----------------------------------------------------------------------------
    def view(self, *, sync: bool = True, progress: bool = False) -> MatrixView:
        """The matrix aligned with the workspace's current sentences (synced first by default)."""
        if sync:
            self.sync(progress=progress)
        gen = self.ws.generation
        state = self._state()
        rows, dim = int(state["rows"]), state["dim"]
        sents = self.ws.sentences
        if self._aligned is not None and self._aligned[:2] == (gen, rows):
            positions = self._aligned[2]
        else:
            have = self._ids(rows)
            ids = sents["sentence_id"].to_numpy()
            if len(have) == len(ids) and np.array_equal(have, ids):
                self._aligned = (gen, rows, np.arange(rows, dtype=np.int64))
                return MatrixView(vectors=self._vectors(rows, dim or 0), positions=self._aligned[2], generation=gen)
            order = np.argsort(have, kind="stable")
            at = np.searchsorted(have, ids, sorter=order)
            at = np.clip(at, 0, max(rows - 1, 0))
            positions = order[at] if rows else np.empty(0, dtype=np.int64)
            if len(ids) and (rows == 0 or not np.array_equal(have[positions], ids)):
                raise WorkbenchError(
                    f"Some sentences of {self.ws.path} are not in the scoring matrix {self.path}; "
                    "call SentenceMatrix(ws).sync() (activation does) after embedding them."
                )
            self._aligned = (gen, rows, positions)
        return MatrixView(vectors=self._vectors(rows, dim or 0), positions=positions, generation=gen)


def _atomic_json(path: Path, value: dict) -> None:
    atomic_write_text(path, json.dumps(value))


def _bar(total: int, desc: str, progress: bool):
    if not progress or total < 10_000:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sentence", unit_scale=True)
