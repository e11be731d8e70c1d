"""The on-disk embedding cache that makes re-embedding free.

:class:`EmbeddingCache` stores vectors as float16, keyed by a hash of the exact text, in one
folder per model id, as append-only shard files. Every shard is written to a temporary file
and renamed into place, so a killed run never leaves a partial shard and a reader in another
process only ever sees whole shards. The model that fills it is in ``embedder.py``.

Shard file layout (little-endian), ``<cache>/<model_id>/<time_ns>-<pid>-<random>.shard``::

    magic    8 bytes  b"WBEMB\\x00\\x01\\n"
    dim      uint32
    flags    uint32   (0; reserved)
    count    uint64
    model    8 bytes  blake2b-8 of the model id, so a shard copied into the wrong folder is refused
    keys     count * 16 bytes   blake2b-16 of the UTF-8 text
    vectors  count * dim float16
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.core.errors import ValidationError

__all__ = ["EmbeddingCache", "model_folder", "shard_vectors", "text_key", "text_keys"]

log = logging.getLogger(__name__)

_MAGIC = b"WBEMB\x00\x01\n"
_HEADER = struct.Struct("<8sIIQ8s")
_KEY_BYTES = 16
_SHARD_SUFFIX = ".shard"
_TMP_PREFIX = ".tmp-"
# A temporary file from a live process on another host cannot be told from an abandoned
# one; after this long nobody is still writing a 2,048-row shard.
_STALE_TMP_SECONDS = 24 * 3600


def text_key(text: str) -> bytes:
    """The cache key of a text: blake2b-16 of its exact UTF-8 bytes (no normalisation,
    since a changed space can change the embedding)."""
    # surrogatepass: a lone surrogate from a badly decoded transcript must not crash hashing.
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_KEY_BYTES).digest()


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """The cache keys of many texts as one (n, 16) uint8 array."""
    return np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(-1, _KEY_BYTES)


def _split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 16) uint8 -> two uint64 halves; numpy searches and sorts integers, not bytes."""
    halves = np.ascontiguousarray(keys).view("<u8").reshape(-1, 2)
    return halves[:, 0].copy(), halves[:, 1].copy()


@dataclass
class _Shard:
    name: str
    count: int
    dim: int

    def vectors_offset(self) -> int:
        return _HEADER.size + self.count * _KEY_BYTES


def model_folder(directory: str | Path, model_id: str) -> Path:
    """The folder under ``directory`` that holds ``model_id``'s shards (a name safe on any disk)."""
    if not model_id or not isinstance(model_id, str):
        raise ValidationError("model_id", "must be a non-empty string")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.")
    if not safe:
        raise ValidationError("model_id", f"{model_id!r} has no characters usable in a folder name")
    return Path(directory) / safe


def shard_vectors(path: str | Path, count: int, dim: int) -> np.ndarray:
    """The ``(count, dim)`` float16 vectors of one shard file, memory-mapped read-only.

    For readers that located rows through :meth:`EmbeddingCache.locate_keys` (the scoring index,
    workbench.embedding.matrix) and read them without loading the cache's key index. Raises
    FileNotFoundError once the shard is compacted away, ValueError if the file is shorter.
    """
    return np.memmap(path, dtype="<f2", mode="r", offset=_HEADER.size + count * _KEY_BYTES, shape=(count, dim))


def _model_tag(model_id: str) -> bytes:
    return hashlib.blake2b(model_id.encode(), digest_size=8).digest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable across a power cut; not possible on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class EmbeddingCache:
    """Float16 vectors on disk keyed by model id and exact text.

    ``directory`` holds one sub-folder per model id, so vectors of different models (or
    of fp32 and int8 backends) never mix. Shards are append-only and each appears
    atomically, so any number of processes may read while others write; a reader picks
    up shards written since it opened on its next :meth:`lookup` (or :meth:`refresh`).
    A temporary file left by a killed writer is ignored and later removed; a damaged
    shard is ignored with a warning and dropped by the next :meth:`compact`.

    The folder is only created by the first :meth:`add`, so opening a cache to read it
    never leaves traces.
    """

    def __init__(self, directory: str | Path, model_id: str) -> None:
        self.path = model_folder(directory, model_id)
        self.model_id = model_id
        self.root = Path(directory)
        self._tag = _model_tag(model_id)
        self._lock = threading.RLock()
        self._host = socket.gethostname().replace("-", "_")
        self._reset()
        self.refresh()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.root)!r}, {self.model_id!r}: {len(self)} vectors in {len(self._shards)} shards)"

    # -- index ---------------------------------------------------------------------------

    def _reset(self) -> None:
        self._shards: list[_Shard] = []
        self._names: set[str] = set()
        self._bad: set[str] = set()
        self.dimension: int | None = None
        # Sorted by _hi; _loc packs (shard number << 32 | row). Unique keys only.
        self._hi = np.empty(0, dtype=np.uint64)
        self._lo = np.empty(0, dtype=np.uint64)
        self._loc = np.empty(0, dtype=np.int64)

    def _listing(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.path) if e.name.endswith(_SHARD_SUFFIX) and not e.name.startswith("."))
        except FileNotFoundError:
            return []

    def refresh(self) -> None:
        """Pick up shards other processes wrote since the last look.

        If a shard we indexed has gone (another process compacted the cache), the index
        is rebuilt from scratch; its rows now live in the compacted shard, which was
        renamed into place before the old shards were deleted, so a fresh listing has it.
        """
        with self._lock:
            for attempt in range(50):
                if attempt:
                    # A writer is compacting right now: give it a moment instead of racing it.
                    time.sleep(min(0.005 * attempt, 0.1))
                names = self._listing()
                if not self._names <= set(names):
                    self._reset()
                vanished = False
                keys, locs = [], []
                for name in names:
                    if name not in self._names and name not in self._bad:
                        try:
                            found = self._open_shard(name)
                        except FileNotFoundError:  # compacted away between listing and reading
                            vanished = True
                            continue
                        if found is not None:
                            keys.append(found)
                            locs.append((np.int64(len(self._shards) - 1) << 32) | np.arange(len(found), dtype=np.int64))
                # One merge for all new shards: opening a cache of a thousand shards
                # must not re-sort the whole index a thousand times.
                if keys:
                    self._merge(np.concatenate(keys), np.concatenate(locs))
                if not vanished:
                    return
            raise RuntimeError(f"embedding cache {self.path} keeps changing under the reader; try again")

    def _read_header(self, name: str) -> _Shard | None:
        file = self.path / name
        with open(file, "rb") as f:
            head = f.read(_HEADER.size)
            size = os.fstat(f.fileno()).st_size
        problem = None
        if len(head) < _HEADER.size:
            problem = "shorter than its header"
        else:
            magic, dim, _flags, count, tag = _HEADER.unpack(head)
            if magic != _MAGIC:
                problem = "not an embedding shard (bad magic number)"
            elif tag != self._tag:
                problem = f"written for another model than {self.model_id!r}"
            elif size != _HEADER.size + count * (_KEY_BYTES + 2 * dim):
                problem = f"truncated or damaged: {size} bytes, expected {_HEADER.size + count * (_KEY_BYTES + 2 * dim)}"
            elif self.dimension is not None and dim != self.dimension:
                problem = f"holds {dim}-dimensional vectors, the cache holds {self.dimension}"
        if problem:
            log.warning("Ignoring embedding cache shard %s: %s", file, problem)
            self._bad.add(name)
            return None
        return _Shard(name, count, dim)

    def _open_shard(self, name: str) -> np.ndarray | None:
        """Register a shard and return its keys; None if it is damaged (and so ignored)."""
        shard = self._read_header(name)
        if shard is None:
            return None
        with open(self.path / name, "rb") as f:
            f.seek(_HEADER.size)
            keys = np.frombuffer(f.read(shard.count * _KEY_BYTES), dtype=np.uint8).reshape(-1, _KEY_BYTES)
        self.dimension = shard.dim
        self._shards.append(shard)
        self._names.add(name)
        return keys

    def _merge(self, keys: np.ndarray, locs: np.ndarray) -> None:
        hi, lo = _split_keys(keys)
        # Keep only the first copy of each key, both among the new rows and against the
        # index: two processes may have embedded the same text at the same time.
        order = np.lexsort((lo, hi))
        hi, lo, locs = hi[order], lo[order], locs[order]
        if len(hi):
            first = np.ones(len(hi), dtype=bool)
            first[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
            hi, lo, locs = hi[first], lo[first], locs[first]
        new = self._find(hi, lo) < 0
        hi, lo, locs = hi[new], lo[new], locs[new]
        if not len(hi):
            return
        all_hi = np.concatenate([self._hi, hi])
        # Both runs are sorted, so the stable sort (timsort) is a linear merge.
        order = np.argsort(all_hi, kind="stable")
        self._hi = all_hi[order]
        self._lo = np.concatenate([self._lo, lo])[order]
        self._loc = np.concatenate([self._loc, locs])[order]

    def _find(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Location of each key in the index, -1 where absent."""
        loc = np.full(len(hi), -1, dtype=np.int64)
        if not len(self._hi) or not len(hi):
            return loc
        left = np.searchsorted(self._hi, hi, side="left")
        right = np.searchsorted(self._hi, hi, side="right")
        span = right - left
        one = np.nonzero(span == 1)[0]
        hit = self._lo[left[one]] == lo[one]
        loc[one[hit]] = self._loc[left[one[hit]]]
        # Two different texts sharing the first 64 bits: ~never, but correctness is cheap.
        for i in np.nonzero(span > 1)[0]:
            for j in range(left[i], right[i]):
                if self._lo[j] == lo[i]:
                    loc[i] = self._loc[j]
                    break
        return loc

    # -- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._hi)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        hi, lo = _split_keys(text_keys([text]))
        with self._lock:
            self.refresh()
            return bool(self._find(hi, lo)[0] >= 0)

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cached vectors of ``texts``: ``(matrix, missing)``.

        ``matrix`` is float32 ``(len(texts), dimension)`` with zero rows where the text is
        not cached; ``missing`` is a boolean mask of those rows. While the cache is empty
        and its dimension unknown, ``matrix`` has zero columns.
        """
        return self.lookup_keys(text_keys(texts))

    def lookup_keys(self, keys: np.ndarray, *, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`lookup` for precomputed :func:`text_key` rows (``(n, 16)`` uint8)."""
        for attempt in range(50):
            if attempt:
                # A writer is compacting between our refresh and our read: back off as
                # refresh() does (three quick retries lost that race on 2 cores, often).
                time.sleep(min(0.005 * attempt, 0.1))
            with self._lock:
                self.refresh()
                hi, lo = _split_keys(keys)
                loc = self._find(hi, lo)
                out = np.zeros((len(hi), self.dimension or 0), dtype=dtype)
                try:
                    self._gather(loc, out)
                except FileNotFoundError:
                    # Compacted by another process between refresh and read: look again.
                    self._reset()
                    continue
                return out, loc < 0
        raise RuntimeError(f"embedding cache {self.path} keeps changing under the reader; try again")

    def locate_keys(self, keys: np.ndarray) -> tuple[list[tuple[str, int]], np.ndarray]:
        """Where the vectors of precomputed :func:`text_key` rows lie, without reading them:
        ``(shards, loc)``, the shards as ``(file name, rows)`` in index order and, per key,
        ``shard number << 32 | row`` or -1 where the text is not cached. Read the rows with
        :func:`shard_vectors` (``self.path / name``)."""
        with self._lock:
            self.refresh()
            hi, lo = _split_keys(keys)
            return [(s.name, s.count) for s in self._shards], self._find(hi, lo)

    def _gather(self, loc: np.ndarray, out: np.ndarray) -> None:
        found = np.nonzero(loc >= 0)[0]
        if not len(found):
            return
        shard_of = loc[found] >> 32
        row_of = loc[found] & 0xFFFFFFFF
        for number in np.unique(shard_of):
            shard = self._shards[number]
            sel = shard_of == number
            # Opened per lookup rather than kept mapped: a long run makes hundreds of
            # shards and a kept mmap holds a file descriptor each.
            mm = np.memmap(self.path / shard.name, dtype="<f2", mode="r",
                           offset=shard.vectors_offset(), shape=(shard.count, shard.dim))
            try:
                out[found[sel]] = mm[row_of[sel]]
            finally:
                del mm

    # -- writing -------------------------------------------------------------------------

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Store ``vectors[i]`` for ``texts[i]`` as one new shard; returns how many were new.

        Texts already cached are skipped. Vectors are stored as float16 (embeddings of
        unit length lose nothing that matters: cosine to the float32 original > 0.99999).
        """
        return self.add_keys(text_keys(texts), vectors)

    def add_keys(self, keys: np.ndarray, vectors: np.ndarray) -> int:
        """:meth:`add` for precomputed :func:`text_key` rows."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValidationError(
                "vectors", f"expected a ({len(keys)}, dim) matrix, one row per text, got shape {vectors.shape}"
            )
        half = vectors.astype("<f2")
        if not np.isfinite(half).all():
            raise ValidationError("vectors", "contain NaN or values too large for float16; nothing was cached")
        with self._lock:
            self.refresh()
            if self.dimension is not None and half.shape[1] != self.dimension:
                raise ValidationError(
                    "vectors", f"have {half.shape[1]} dimensions but the cache for {self.model_id!r} holds {self.dimension}"
                )
            hi, lo = _split_keys(keys)
            new = self._find(hi, lo) < 0
            # Drop repeats inside this batch too, so a shard never stores a key twice.
            _, first = np.unique(np.stack([hi, lo], axis=1), axis=0, return_index=True)
            keep = np.zeros(len(hi), dtype=bool)
            keep[first] = True
            keep &= new
            if not keep.any():
                return 0
            self._write_shard(np.ascontiguousarray(keys[keep]), half[keep])
            self.refresh()
            return int(keep.sum())

    def _write_shard(self, keys: np.ndarray, half: np.ndarray, chunks=None) -> str:
        """Write a shard atomically; returns its name. ``chunks`` streams the vectors."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._clean_temp_files()
        count, dim = len(keys), (half.shape[1] if half is not None else self.dimension)
        tmp = self.path / f"{_TMP_PREFIX}{self._host}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SHARD_SUFFIX}"
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SHARD_SUFFIX}"
        try:
            with open(tmp, "wb") as f:
                f.write(_HEADER.pack(_MAGIC, dim, 0, count, self._tag))
                f.write(keys.tobytes())
                if half is not None:
                    f.write(np.ascontiguousarray(half, dtype="<f2").tobytes())
                else:
                    for block in chunks:
                        f.write(np.ascontiguousarray(block, dtype="<f2").tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path)
        return name

    def _clean_temp_files(self) -> None:
        """Remove temporary shards whose writer is dead (or that are a day old)."""
        try:
            entries = [e for e in os.scandir(self.path) if e.name.startswith(_TMP_PREFIX)]
        except FileNotFoundError:
            return
        now = time.time()
        for entry in entries:
            # Never touch a live writer's file: it is about to be renamed into place.
            parts = entry.name[len(_TMP_PREFIX):].split("-")
            stale = False
            if len(parts) >= 3 and parts[0] == self._host and parts[1].isdigit():
                pid = int(parts[1])
                stale = pid != os.getpid() and not _pid_alive(pid)
            try:
                stale = stale or now - entry.stat().st_mtime > _STALE_TMP_SECONDS
                if stale:
                    os.unlink(entry.path)
                    log.info("Removed an unfinished embedding cache file %s", entry.path)
            except FileNotFoundError:
                pass

    def compact(self, *, min_shards: int = 2) -> bool:
        """Merge all shards into one when there are at least ``min_shards``; True if it did.

        The merged shard is streamed to disk shard by shard (memory stays at one shard's
        vectors), renamed into place, and only then are the old shards deleted. Readers
        see either the old shards, or both (duplicates are ignored), or the new one.
        Damaged shards are deleted too. Another process compacting at the same moment is
        harmless: it just repeats the work.
        """
        with self._lock:
            self.refresh()
            if len(self._shards) < max(min_shards, 2) and not self._bad:
                return False
            if not self._shards:
                for name in self._bad:
                    (self.path / name).unlink(missing_ok=True)
                self._bad.clear()
                return True
            order = np.argsort(self._loc, kind="stable")  # shard by shard, row by row
            loc = self._loc[order]
            keys = np.stack([self._hi[order], self._lo[order]], axis=1).astype("<u8").view(np.uint8)
            shard_of = loc >> 32
            row_of = loc & 0xFFFFFFFF

            def blocks():
                for number, shard in enumerate(self._shards):
                    rows = row_of[shard_of == number]
                    if not len(rows):
                        continue
                    mm = np.memmap(self.path / shard.name, dtype="<f2", mode="r",
                                   offset=shard.vectors_offset(), shape=(shard.count, shard.dim))
                    try:
                        yield np.asarray(mm[rows])
                    finally:
                        del mm

            try:
                self._write_shard(keys, None, chunks=blocks())
            except FileNotFoundError:
                # Someone else compacted first; their shard already holds everything.
                self._reset()
                self.refresh()
                return False
            for name in [s.name for s in self._shards] + list(self._bad):
                try:
                    (self.path / name).unlink(missing_ok=True)
                except PermissionError:  # Windows: still mapped by a reader; next time
                    pass
            self._reset()
            self.refresh()
            return True
