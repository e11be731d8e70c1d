"""Which runtime a workspace embeds with: recorded per workspace, ONNX Runtime for new ones.

The backend (torch, or ONNX Runtime on the same weights: workbench.embedding.onnx_encoder) is
part of the embedder's model id (``all-MiniLM-L6-v2-fp32-<fp>`` against ``...-onnx-<fp>``), which
keys the embedding cache, the scoring index and the embedding model each version records. So a
workspace keeps one backend, recorded in ``<workspace>/data/embeddings/embedding_backend.json``
beside ``text_normalisation.json``, and everything that embeds for it uses that one.

Which backend, when a workspace is opened (:func:`workspace_backend`):

* **recorded**: that one. A different explicit choice (an ``Embedder`` passed as ``model=``, or
  ``$WORKBENCH_EMBEDDING_BACKEND``) is refused with :class:`BackendMismatch`, which names the
  record and how to switch (``ws.set_embedding_backend(...)``, ``workbench embedding-backend``):
  vectors of two backends are never mixed in one workspace, and nothing switches silently.
* **not recorded, embeddings present** (made before the record existed): the backend those
  embeddings were made with (torch, the old default, unless only ONNX caches are there); an
  explicit choice of a backend whose embeddings are not there is refused as above.
* **not recorded, nothing embedded yet** (a new workspace): the explicit choice, else ONNX
  Runtime where ``onnxruntime`` and ``onnx`` are installed (:data:`DEFAULT_BACKEND`; measured
  2.04x torch's ``encode`` and 2.58x through the workbench's batches, cosine 1.000000 to torch:
  benchmarks/results/onnx_embedding.md), else torch, with a warning that says how to get ONNX.

Either way the result is recorded at once, so the workspace keeps it whatever the defaults
become later. Versions trained on torch fp32 vectors score ONNX Runtime fp32 vectors of the same
weights and normalisation and the other way round (:func:`same_vectors`): the two agree to
cosine 1.000000 on every sentence measured, so a shipped bundle (trained on torch) imports into
a new workspace, and a workspace that switches keeps its trackers.
"""
from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

from typing import TYPE_CHECKING, Any

from workbench.core.errors import ValidationError
from workbench.core.settings import ENV_EMBEDDING_BACKEND

if TYPE_CHECKING:
    import polars as pl

    from workbench.embedding.embedder import Embedder

__all__ = ["DEFAULT_BACKEND", "SETTING_FILE", "BackendMismatch", "embedded_backends", "new_workspace_backend",
           "recorded_backend", "same_vectors", "set_workspace_backend", "switch_backend", "workspace_backend"]

SETTING_FILE = "embedding_backend.json"  # in the workspace's embeddings folder
DEFAULT_BACKEND = "onnx"  # for new workspaces, where ONNX Runtime is installed
_BACKENDS = ("torch", "onnx")
# The backend's token in a model id: "<name>-<fp32|onnx|int8>-<8 hex fingerprint>[+normalisation]".
_ID = re.compile(r"^(?P<name>.+)-(?P<backend>fp32|onnx)-(?P<fp>[0-9a-f]{8})(?P<rest>\+.*)?$")
_ID_IN_FOLDER = re.compile(r"-(fp32|onnx)-[0-9a-f]{8}(?:-|$)")  # a cache folder's name (the "+" becomes "-")


class BackendMismatch(ValidationError):
    """An explicit choice of backend that differs from the one the workspace embeds with."""


def same_vectors(model_id: str, other: str) -> bool:
    """Whether vectors of embedding model ``model_id`` may stand for those of ``other``: the same
    id, or the same weights and text normalisation on torch fp32 and ONNX Runtime fp32 (cosine
    1.000000 to each other on every sentence measured; int8 is not interchangeable)."""
    if model_id == other:
        return True
    a, b = _ID.match(model_id or ""), _ID.match(other or "")
    return bool(a and b) and (a["name"], a["fp"], a["rest"]) == (b["name"], b["fp"], b["rest"])


def embedded_backends(embeddings_dir: str | Path) -> set[str]:
    """The backends whose embedding caches are in the folder (from the caches' folder names)."""
    folder = Path(embeddings_dir)
    if not folder.is_dir():
        return set()
    found = {m.group(1) for p in folder.iterdir() if p.is_dir() and (m := _ID_IN_FOLDER.search(p.name))}
    return {"torch" if b == "fp32" else b for b in found}


def _has_embeddings(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())


def new_workspace_backend() -> str:
    """What a new workspace embeds with when nothing is chosen: ONNX Runtime where it is
    installed, else torch with a warning saying how to install it."""
    from workbench.embedding.onnx_encoder import onnx_missing

    missing = onnx_missing()
    if missing is None:
        return DEFAULT_BACKEND
    warnings.warn(f"This new workspace embeds with torch: ONNX Runtime, the default (about 2x faster, the same "
                  f"vectors), is not available ({missing}). The choice is recorded for the workspace; "
                  "ws.set_embedding_backend('onnx') switches it later.", UserWarning, stacklevel=5)
    return "torch"


def workspace_backend(embeddings_dir: str | Path, embedder: "Embedder | None" = None) -> str:
    """The backend the workspace embeds with (rules in the module's docstring), recorded now if it
    was not. The explicit choice is the backend of ``embedder`` (what the workspace was opened
    with, ``model=``), else ``$WORKBENCH_EMBEDDING_BACKEND`` where it is set."""
    if embedder is not None:
        return recorded_backend(embeddings_dir, getattr(embedder, "backend", None),
                                source=f"the embedder passed as model= ({embedder.model_id})")
    return recorded_backend(embeddings_dir, os.environ.get(ENV_EMBEDDING_BACKEND) or None,
                            source=f"${ENV_EMBEDDING_BACKEND}")


def recorded_backend(embeddings_dir: str | Path, requested: str | None = None, *, source: str = "") -> str:
    """:func:`workspace_backend` with the explicit choice given: ``requested``, named by ``source``
    in the error that refuses it."""
    if requested is not None and requested.strip().lower() not in _BACKENDS:
        raise ValidationError(source or "backend", f"unknown embedding backend {requested!r}",
                              f"Use one of {', '.join(_BACKENDS)}")
    requested = requested.strip().lower() if requested is not None else None
    folder = Path(embeddings_dir)
    path = folder / SETTING_FILE
    if path.exists():
        backend = json.loads(path.read_text(encoding="utf-8"))["embedding_backend"]
        _refuse_other(requested, backend, source, f"recorded in {path}", folder)
        return backend
    if _has_embeddings(folder):
        present = embedded_backends(folder)
        backend = "onnx" if present == {"onnx"} else "torch"
        if requested is not None and requested not in present:
            _refuse_other(requested, backend, source, f"its embeddings in {folder} were made with {backend}", folder)
        backend = requested or backend
    else:
        backend = requested or new_workspace_backend()
    set_workspace_backend(folder, backend)
    return backend


def _refuse_other(requested: str | None, backend: str, source: str, why: str, folder: Path) -> None:
    if requested is None or requested == backend:
        return
    workspace = folder.parent.parent  # <workspace>/data/embeddings
    raise BackendMismatch(
        source or "backend",
        f"asks for the {requested} embedding backend, but the workspace embeds with {backend} ({why}); "
        "one workspace never mixes the vectors of two backends",
        f"Open it without that choice (unset ${ENV_EMBEDDING_BACKEND}, or pass Embedder(backend={backend!r})), "
        f"or switch the workspace and embed its sentences again: `workbench --workspace {workspace} "
        f"embedding-backend {requested}` (ws.set_embedding_backend({requested!r})).")


def set_workspace_backend(embeddings_dir: str | Path, backend: str) -> None:
    """Record that the workspace embeds with ``backend``; written whole, then renamed."""
    if backend not in _BACKENDS:
        raise ValidationError("embedding_backend", f"unknown embedding backend {backend!r}",
                              f"Use one of {', '.join(_BACKENDS)}")
    folder = Path(embeddings_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{SETTING_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"embedding_backend": backend}), encoding="utf-8")
    tmp.replace(folder / SETTING_FILE)


class EmbeddingBackendMixin:
    """The Workspace's ``set_embedding_backend`` (workbench.workspace): it needs its
    ``embeddings_dir``, ``sentences``, ``embedder`` and ``_embed_missing``."""

    embeddings_dir: Path
    embedding_backend: str
    sentences: Any
    embedder: Any
    _embedder: Any
    _embed_missing: Any

    def set_embedding_backend(self, backend: str, *, embed: bool = True, progress: bool = True) -> int:
        """Switch the workspace to embedding ``backend`` ("torch" or "onnx") and record it; with
        ``embed`` (the default), embed again under it every text that had a vector under the old
        one, so imports, scoring and activation carry on; returns how many texts were computed.
        The old backend's cache stays on disk until removed. Trackers keep their versions: torch
        and ONNX Runtime fp32 vectors of the same weights stand for each other (:func:`same_vectors`).
        Switch while nothing else writes to the workspace; other open Workspace objects keep the
        old backend until opened again."""
        texts = self.sentences["text"].unique(maintain_order=True) if embed else None
        switched = switch_backend(self.embeddings_dir, self.embedder, backend, texts)
        if switched is None:
            return 0
        self._embedder, texts = switched
        self.embedding_backend = self._embedder.backend
        if texts is None or not len(texts):
            return 0
        return self._embed_missing(texts, progress=progress)


def switch_backend(embeddings_dir: str | Path, embedder: "Embedder", backend: str,
                   texts: "pl.Series | None") -> "tuple[Embedder, pl.Series | None] | None":
    """Record ``backend`` for the workspace and return (its new embedder, those of ``texts`` the
    old embedder had embedded, to embed again); None when ``embedder`` already embeds so."""
    import polars as pl

    from workbench.embedding.cache import EmbeddingCache, text_keys
    from workbench.embedding.embedder import Embedder
    from workbench.embedding.onnx_encoder import onnx_missing

    new = Embedder(embedder.model_path, batch_size=embedder.batch_size,
                   text_normalisation=embedder.text_normalisation, backend=backend)
    if new.model_id == embedder.model_id:
        return None
    if new.backend == "onnx" and (missing := onnx_missing()) is not None:
        raise ValidationError("embedding_backend", f"ONNX Runtime is not available: {missing}",
                              "Install it, then switch again")
    if texts is not None and len(texts):  # what the old backend had embedded, and only that
        _, where = EmbeddingCache(embeddings_dir, embedder.model_id).locate_keys(text_keys(texts.to_list()))
        texts = texts.filter(pl.Series(where >= 0))
    set_workspace_backend(embeddings_dir, new.backend)
    return new, texts
