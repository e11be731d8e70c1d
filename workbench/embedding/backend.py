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

from workbench.core.errors import ValidationError
from workbench.core.settings import ENV_EMBEDDING_BACKEND

__all__ = ["DEFAULT_BACKEND", "SETTING_FILE", "BackendMismatch", "embedded_backends", "new_workspace_backend",
           "same_vectors", "set_workspace_backend", "workspace_backend"]

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
                  "ws.set_embedding_backend('onnx') switches it later.", UserWarning, stacklevel=3)
    return "torch"


def workspace_backend(embeddings_dir: str | Path, requested: str | None = None, *, source: str = "") -> str:
    """The backend the workspace embeds with (rules in the module's docstring), recorded now if it
    was not. ``requested``: an explicit choice, named by ``source`` in the error that refuses it."""
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
