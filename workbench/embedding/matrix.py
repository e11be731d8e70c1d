"""Scoring every sentence at once from the one copy of its embedding: the float16 cache.

The embedding cache (workbench.embedding.cache) stores each distinct text's vector once, as
float16 rows of append-only shard files. Scoring reads those shards in place: a small index maps
each sentence id to its vector's row, and the scorer converts the shards to float32 block by
block, on the fly (exactly, see :func:`widen`), for the matrix product. There is no second copy of the vectors (until issue 16
a float32 matrix of 1.5 KB per sentence sat beside the 0.77 KB cache row; now a sentence costs its
cache row plus 12 bytes of index).

Layout, one folder per embedding model under ``data/embeddings/matrix/``::

    state.json          {"format": 2, "rows": n, "dim": d, "model_id": ..., "index": "index-000003",
                         "shards": [[shard file name, rows], ...]}: only the first n rows are valid
    index-000003.ids    int64, the sentence_id of each row, append-only
    index-000003.rows   uint32, the row of its vector in the cache's shards of ``shards`` laid end
                        to end, append-only

Writers append to the index, fsync, then replace state.json; a reader uses only the rows
state.json names, so a killed writer leaves a tail that the next writer cuts off. One writer at a
time (a lock file). When the cache is compacted (its shards merged into one and deleted) the rows
point nowhere: the index is rebuilt from the texts into a new ``index-NNNNNN`` pair, state.json is
flipped to it in one rename, and only then are the old files deleted.

The layout before (format 1: ``vectors.f32``, ``ids.i64`` and a state.json without "format") is
migrated on first use: vectors the cache lacks are written back into it, the index is built and
state.json flipped, and only then is ``vectors.f32`` deleted, so a kill at any point leaves a
workspace that opens (as the old layout, migrated again, or as the new one).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import polars as pl

from workbench.core.errors import WorkbenchError
from workbench.core.files import atomic_write_text, file_lock
from workbench.embedding.cache import EmbeddingCache, model_folder, shard_vectors, text_keys

if TYPE_CHECKING:
    from workbench.workspace import Workspace

FORMAT = 2
# Rows per block when reading the shards: requested rows are grouped by block, and a block with
# fewer requested rows than 1 in _SPARSE has just those rows gathered instead of all widened.
BLOCK_ROWS = 32_768
_SPARSE = 4
# Rows widened to float32 at a time: 1.5 MB at 384 dimensions, so the widening's passes and the
# product run in the CPU's cache (4-7x faster on 2 cores than widening a whole block at once).
_WIDEN_ROWS = 1024
_F16_SCALE = np.float32(2.0**112)  # 2 ** (float32 exponent bias - float16 exponent bias)
_F16_MASK = np.int32(0x8FFFFFFF - 2**32)  # the sign bit and the 28 bits below the exponent's top
_MAX_ROW = 2**32 - 1  # the index stores rows as uint32
_LEGACY_FILES = ("vectors.f32", "ids.i64")


@dataclass(frozen=True)
class MatrixView:
    """The cached vectors as they were when opened: the embedding of the i-th sentence of
    ``ws.sentences`` is row ``positions[i]`` of the ``shards`` laid end to end."""

    shards: tuple[np.ndarray, ...]  # (rows, dim) float16 memmaps, one per cache shard
    offsets: np.ndarray  # int64, the first row of each shard, then the total
    positions: np.ndarray  # int64, aligned with ws.sentences
    generation: int
    dim: int

    def locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard number, row within it) of rows of the shards laid end to end."""
        if len(positions) and positions.min() < 0:  # a sentence the index does not hold (see _open)
            raise WorkbenchError(
                f"{int((positions < 0).sum()):,} of the sentences asked for are not in the scoring index: embed them "
                "and index them first (SentenceMatrix(ws).view(rows=...) does, once they are embedded).")
        shard = np.searchsorted(self.offsets, positions, side="right") - 1
        return shard, positions - self.offsets[shard]

    def embeddings(self, sentence_rows: np.ndarray | None = None) -> np.ndarray:
        """A float32 copy of the vectors of the given rows of ws.sentences (all when None)."""
        pos = self.positions if sentence_rows is None else self.positions[sentence_rows]
        out = np.empty((len(pos), self.dim), dtype=np.float32)
        shard, row = self.locate(pos)
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = widen(self.shards[s][row[sel]], np.empty((int(sel.sum()), self.dim), dtype=np.float32))
        return out


def widen(half: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Float16 rows into float32 ``out``, exactly (every finite value; the cache holds no other).

    numpy's own float16 cast is a scalar loop (~1 s per million 384-d rows on 2 cores); this
    does it with four vectorised integer and float passes: sign-extend the 16 bits to 32, shift
    the exponent and mantissa into float32's places, clear what the sign extension left between
    them, and multiply by 2**112 to move the exponent bias from float16's to float32's (which
    also turns float16 subnormals into the right float32 values).
    """
    bits = out.view(np.int32)
    np.copyto(bits, half.view(np.int16))
    np.left_shift(bits, 13, out=bits)
    np.bitwise_and(bits, _F16_MASK, out=bits)
    np.multiply(out, _F16_SCALE, out=out)
    return out


def _product(half: np.ndarray, w: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """``half @ w`` in float32 for float16 rows, widened a cache-sized piece at a time."""
    out = np.empty(len(half), dtype=np.float32)
    for lo in range(0, len(half), _WIDEN_ROWS):
        piece = half[lo : lo + _WIDEN_ROWS]
        np.matmul(widen(piece, buffer[: len(piece)]), w, out=out[lo : lo + len(piece)])
    return out


def linear_scores(
    view: MatrixView,
    sentence_rows: np.ndarray,
    weights: np.ndarray,
    bias: float,
    *,
    on_block: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``X @ weights + bias`` for the given rows of ws.sentences, as float32.

    Reads the float16 shards block by block and skips blocks no requested row falls in. A block
    with many requested rows is scored whole, widened to float32 piece by piece (then the
    requested rows picked out); a block with few has just those rows gathered first. The
    vectors are exactly the cache's, so the scores are those of the float32 copy kept before.
    ``on_block(n)`` reports rows done.
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
    shard, row = view.locate(view.positions[sentence_rows])
    key = (shard << 32) | (row // BLOCK_ROWS)
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(order)]
    buffer = np.empty((_WIDEN_ROWS, view.dim), dtype=np.float32)
    for s, e in zip(starts, ends):
        vectors = view.shards[int(sorted_keys[s] >> 32)]
        lo = int(sorted_keys[s] & 0xFFFFFFFF) * BLOCK_ROWS
        block = vectors[lo : min(lo + BLOCK_ROWS, vectors.shape[0])]
        idx = order[s:e]
        if (e - s) * _SPARSE < len(block):
            out[idx] = _product(block[row[idx] - lo], w, buffer)
        else:
            out[idx] = _product(block, w, buffer)[row[idx] - lo]
        if on_block is not None:
            on_block(int(e - s))
    out += np.float32(bias)
    return out


def storage_bytes(ws: "Workspace", model_id: str | None = None) -> int:
    """Bytes on disk of one model's embeddings in a workspace: its cache shards and its scoring
    index (or, in the old layout, float32 matrix)."""
    matrix = SentenceMatrix(ws, model_id)
    cache = EmbeddingCache(ws.embeddings_dir, matrix.model_id)
    return sum(f.stat().st_size for folder in (cache.path, matrix.path) if folder.exists()
               for f in folder.iterdir() if f.is_file())


class SentenceMatrix:
    """The scoring index of one workspace and embedding model: sentence id -> cached vector."""

    def __init__(self, ws: "Workspace", model_id: str | None = None) -> None:
        self.ws = ws
        self.model_id = model_id or ws.embedder.model_id
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model_id).strip("-.") or "model"
        self.path = ws.embeddings_dir / "matrix" / safe
        self._aligned: tuple | None = None  # (generation, rows, index name), positions

    def __repr__(self) -> str:
        return f"SentenceMatrix({str(self.path)!r}, {self.rows:,} rows)"

    # -- state -------------------------------------------------------------------------------
    def _state(self) -> dict:
        try:
            state = json.loads((self.path / "state.json").read_text())
        except FileNotFoundError:
            return {"format": FORMAT, "rows": 0, "dim": None, "model_id": self.model_id, "index": None, "shards": []}
        if state.get("format", 1) > FORMAT:
            raise WorkbenchError(f"{self.path / 'state.json'} is of format {state['format']}, newer than this "
                                 f"workbench reads ({FORMAT}): upgrade the workbench.")
        return state

    @property
    def rows(self) -> int:
        return int(self._state()["rows"])

    def _lock(self):
        return file_lock(self.path / ".lock")

    def _cache(self) -> "EmbeddingCache":
        return EmbeddingCache(self.ws.embeddings_dir, self.model_id)

    def _read_index(self, state: dict) -> tuple[np.ndarray, np.ndarray]:
        rows = int(state["rows"])
        if rows == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        stem = self.path / state["index"]
        ids = np.fromfile(f"{stem}.ids", dtype="<i8", count=rows)
        at = np.fromfile(f"{stem}.rows", dtype="<u4", count=rows).astype(np.int64)
        if len(ids) < rows or len(at) < rows:
            raise WorkbenchError(f"The scoring index {stem} is shorter than {self.path / 'state.json'} says "
                                 f"({rows:,} rows); delete the folder {self.path} and it is rebuilt.")
        return ids, at

    # -- writing -----------------------------------------------------------------------------
    def _locate(self, cache: "EmbeddingCache", texts: np.ndarray, listed: list,
                keys: np.ndarray | None = None) -> tuple[list, np.ndarray] | None:
        """Rows of ``texts``' vectors (``keys``: their text keys, when known) in the shards
        ``listed`` (extended with the cache's newer shards): (shards, rows), or None when a listed
        shard is gone (the cache was compacted)."""
        shards, loc = cache.locate_keys(text_keys(list(texts)) if keys is None else keys)
        if (loc < 0).any():
            unembedded = pl.Series(list(texts[loc < 0]), dtype=pl.String).implode()
            n_missing = int(self.ws.sentences["text"].is_in(unembedded).sum())
            raise WorkbenchError(
                f"{n_missing:,} sentences in {self.ws.path} have no embedding for model "
                f"{self.model_id}. Run `workbench embed` (or ws.embed()) first."
            )
        current = dict(shards)
        if any(name not in current for name, _ in listed):
            return None
        listed = [list(s) for s in listed] + [[n, c] for n, c in shards if n not in {name for name, _ in listed}]
        start = {name: off for (name, _), off in zip(listed, np.cumsum([0] + [c for _, c in listed]))}
        shard_start = np.array([start[name] for name, _ in shards], dtype=np.int64)
        rows = shard_start[loc >> 32] + (loc & 0xFFFFFFFF)
        if len(rows) and rows.max() > _MAX_ROW:
            raise WorkbenchError(f"The embedding cache {cache.path} holds more than {_MAX_ROW:,} vectors, more than "
                                 "the scoring index addresses: compact it (EmbeddingCache.compact()).")
        return listed, rows

    def _write_index(self, state: dict, ids: np.ndarray, texts: np.ndarray, dim: int | None) -> dict:
        """A new index of ``ids`` (with ``texts``), written beside the old one and made current
        by replacing state.json; the old index files are deleted after."""
        cache = self._cache()
        located = self._locate(cache, texts, [])
        assert located is not None  # nothing listed, nothing can have gone
        shards, rows = located
        number = 1 + max([int(p.stem.split("-")[1]) for p in self.path.glob("index-*.ids")] + [0])
        name = f"index-{number:06d}"
        for suffix, values in ((".ids", ids.astype("<i8")), (".rows", rows.astype("<u4"))):
            with open(self.path / f"{name}{suffix}", "wb") as f:
                f.write(values.tobytes())
                f.flush()
                os.fsync(f.fileno())
        new = {"format": FORMAT, "rows": len(ids), "dim": dim if dim is not None else cache.dimension,
               "model_id": self.model_id, "index": name, "shards": shards}
        _atomic_json(self.path / "state.json", new)
        self._remove_stale_files(name)
        self._aligned = None
        return new

    def _remove_stale_files(self, live: str) -> None:
        """Index files other than ``live``'s and the old layout's files (callers hold the lock)."""
        for f in self.path.iterdir():
            if (f.name.startswith("index-") and f.stem != live) or f.name in _LEGACY_FILES:
                f.unlink(missing_ok=True)

    def _held(self, ids: np.ndarray) -> pl.DataFrame:
        """``ids`` that the workspace still holds, in their order, with their texts."""
        sents = self.ws.sentences.select("sentence_id", "text").unique("sentence_id", keep="first")
        return pl.DataFrame({"sentence_id": np.asarray(ids, dtype=np.int64)}).join(
            sents, on="sentence_id", how="inner", maintain_order="left")

    def _reindex(self, state: dict, keep: np.ndarray | None = None) -> dict:
        """The index rebuilt from the texts of the sentence ids it holds that the workspace still
        has (``keep`` narrows them), e.g. after the cache was compacted."""
        ids, _ = self._read_index(state)
        held = self._held(ids if keep is None else ids[keep])
        return self._write_index(state, held["sentence_id"].to_numpy(), held["text"].to_numpy(), state["dim"])

    def _migrate(self, state: dict) -> dict:
        """The old layout (a float32 matrix) turned into an index over the cache (callers hold
        the lock). Vectors of the workspace's sentences that the cache lacks are added to it from
        the matrix first, so nothing that was embedded has to be embedded again."""
        rows, dim = int(state["rows"]), state["dim"]
        ids = np.fromfile(self.path / "ids.i64", dtype="<i8", count=rows) if rows else np.empty(0, np.int64)
        held = self._held(ids).join(pl.DataFrame({"sentence_id": ids, "_at": np.arange(len(ids))}),
                                    on="sentence_id", how="left", maintain_order="left")
        if held.height:
            cache = self._cache()
            keys = text_keys(held["text"].to_list())
            _, loc = cache.locate_keys(keys)
            lost = np.flatnonzero(loc < 0)
            if len(lost):
                matrix = np.memmap(self.path / "vectors.f32", dtype="<f4", mode="r", shape=(rows, dim))
                cache.add_keys(keys[lost], np.asarray(matrix[held["_at"].to_numpy()[lost]]))
                del matrix
        return self._write_index(state, held["sentence_id"].to_numpy(), held["text"].to_numpy(), dim)

    def _current_state(self) -> dict:
        """state.json, the old layout migrated first (callers hold the lock)."""
        state = self._state()
        if state.get("format", 1) < FORMAT:
            return self._migrate(state)
        for name in _LEGACY_FILES:  # left by a migration killed after its flip
            (self.path / name).unlink(missing_ok=True)
        return state

    def sync(self, *, rows: np.ndarray | None = None, progress: bool = False) -> int:
        """Index the vectors of sentences that have none yet (of ``rows`` of ws.sentences, every
        sentence by default); returns how many were added.

        Raises with the fix when some of them are not embedded (a workspace with a tagging sample
        embeds the rest of a scope when a tracker is applied to it, see ``unembedded``). Cheap
        when nothing is new: one comparison of sentence ids. ``progress`` is kept for callers;
        indexing reads no vectors.
        """
        return self._sync(rows, skip_unembedded=False)[0]

    def unembedded(self, rows: np.ndarray) -> np.ndarray:
        """The ``rows`` of ws.sentences whose text has no vector in the cache: what must be
        embedded before they can be scored (none once every call is embedded; the calls outside a
        tagging sample until a backfill embeds them). The others are indexed on the way, as
        ``view(rows=...)`` would, so each new sentence's text is hashed once."""
        return self._sync(rows, skip_unembedded=True)[1]

    def _sync(self, rows: np.ndarray | None, *, skip_unembedded: bool) -> tuple[int, np.ndarray]:
        """(rows indexed, rows left out for want of a vector: raised on unless ``skip_unembedded``)."""
        sents = self.ws.sentences
        none = np.empty(0, dtype=np.int64)
        with self._lock():
            state = self._current_state()
            have, _ = self._read_index(state)
            ids = sents["sentence_id"].to_numpy()
            if len(have) == len(ids) and np.array_equal(have, ids):
                return 0, none  # the common case: rows were appended in table order and nothing was replaced
            wanted = np.arange(len(ids)) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
            new = wanted[~np.isin(ids[wanted], have)]
            keys, missing = None, none
            if skip_unembedded and len(new):
                keys = text_keys(list(sents["text"].to_numpy()[new]))
                found = self._cache().locate_keys(keys)[1] >= 0
                new, keys, missing = new[found], keys[found], new[~found]
            if not len(new):
                return 0, missing
            # One row per id, even where a sentence id repeats in the table; table order kept.
            new_ids, first = np.unique(ids[new], return_index=True)
            order = np.argsort(first, kind="stable")
            new_ids, texts = new_ids[order], sents["text"].to_numpy()[new[first[order]]]
            keys = None if keys is None else keys[first[order]]
            located = self._locate(self._cache(), texts, state["shards"], keys) if state["index"] else None
            if located is None:  # a new index (first sync), or the cache was compacted: all rows again
                held = self._held(np.r_[have, new_ids])
                self._write_index(state, held["sentence_id"].to_numpy(), held["text"].to_numpy(), state["dim"])
                return len(new_ids), missing
            shards, found_rows = located
            self._append(state, shards, new_ids, found_rows)
            return len(new_ids), missing

    def _append(self, state: dict, shards: list, new_ids: np.ndarray, rows: np.ndarray) -> None:
        count, stem = int(state["rows"]), self.path / state["index"]
        with open(f"{stem}.ids", "ab") as idf, open(f"{stem}.rows", "ab") as rf:
            # A killed writer may have left a tail past the committed rows: cut it off.
            idf.truncate(count * 8)
            rf.truncate(count * 4)
            idf.seek(0, os.SEEK_END)
            rf.seek(0, os.SEEK_END)
            idf.write(new_ids.astype("<i8").tobytes())
            rf.write(rows.astype("<u4").tobytes())
            for f in (idf, rf):
                f.flush()
                os.fsync(f.fileno())
        _atomic_json(self.path / "state.json", {**state, "rows": count + len(new_ids), "shards": shards})
        self._aligned = None

    def compact(self) -> int:
        """Drop the index rows of sentences the workspace no longer holds; returns rows dropped."""
        with self._lock():
            state = self._current_state()
            have, _ = self._read_index(state)
            keep = np.isin(have, self.ws.sentences["sentence_id"].to_numpy())
            if keep.all():
                return 0
            self._reindex(state, keep)
            return int((~keep).sum())

    # -- reading -----------------------------------------------------------------------------
    def view(self, *, sync: bool = True, rows: np.ndarray | None = None, progress: bool = False) -> MatrixView:
        """The cached vectors aligned with the workspace's current sentences, synced first by
        default: ``rows`` of them (raising when one has no vector, as ``sync``), else every
        sentence that has a vector (a workspace with a tagging sample has none for the calls
        outside it until a backfill embeds them). Sentences the index does not hold have
        position -1: asking for their vectors raises."""
        for _ in range(5):
            if sync:
                self._sync(rows, skip_unembedded=rows is None)
            elif self._state().get("format", 1) < FORMAT:
                with self._lock():
                    self._current_state()
            state = self._state()
            try:
                return self._open(state)
            except FileNotFoundError:
                # A writer replaced the index, or the cache was compacted, between our reads.
                with self._lock():
                    fresh = self._current_state()
                    if fresh.get("index") == state.get("index"):
                        self._reindex(fresh)
        raise WorkbenchError(f"The scoring index {self.path} keeps changing under the reader; try again.")

    def _open(self, state: dict) -> MatrixView:
        gen = self.ws.generation
        rows, dim = int(state["rows"]), int(state["dim"] or 0)
        cache_dir = model_folder(self.ws.embeddings_dir, self.model_id)  # no need to read the cache's keys
        try:
            shards = tuple(shard_vectors(cache_dir / name, count, dim) for name, count in state["shards"])
        except ValueError as e:  # a shard shorter than listed: treat as gone, rebuild
            raise FileNotFoundError(str(e)) from e
        offsets = np.cumsum([0] + [c for _, c in state["shards"]]).astype(np.int64)
        key = (gen, rows, state["index"])
        if self._aligned is None or self._aligned[0] != key:
            have, at = self._read_index(state)
            ids = self.ws.sentences["sentence_id"].to_numpy()
            self._aligned = (key, _positions(have, at, ids))
        return MatrixView(shards=shards, offsets=offsets, positions=self._aligned[1], generation=gen, dim=dim)


def _positions(have: np.ndarray, at: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each sentence's row in the shards, from the index (``have`` ids at rows ``at``); -1 for a
    sentence it does not hold (not embedded: outside a tagging sample, see workbench.corpus.sample)."""
    if len(have) == len(ids) and np.array_equal(have, ids):
        return at
    if len(have) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    order = np.argsort(have, kind="stable")
    index_rows = order[np.clip(np.searchsorted(have, ids, sorter=order), 0, len(have) - 1)]
    return np.where(have[index_rows] == ids, at[index_rows], -1)


def _atomic_json(path: Path, value: dict) -> None:
    atomic_write_text(path, json.dumps(value))
