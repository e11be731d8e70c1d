"""A version's model files are hashed when the workbench writes them and checked before it loads them.

``TrackerRegistry`` records the sha256 of every file of a version's model folder when it trains
or imports the version, in the workspace's own database (workbench.storage.artefacts), and
``VersionArtefacts.verify`` re-hashes the folder before any load: the classifier, the encoder, the
pyfunc, an export. A file that differs, or one added or removed, raises ArtefactChanged naming the
tracker, version and file, and nothing is loaded. The threat is concrete: ``workbench mlflow``
answers ``PUT /api/2.0/mlflow-artifacts/artifacts/...`` from any local process, and an MLflow
pyfunc runs the code its folder holds.

Versions written before hashes were recorded have none: the first load records what the folder
holds then, with a logged note (it cannot tell whether the folder was changed before that). A
version without hashes registered after the workspace began recording them (its database notes
when) is refused: MLflow's API lets any local client register a version and move an alias to it.

``MLmodel`` names the store's folder (``artifact_path``), which workbench.registry.relocation
rewrites when a workspace is copied or moved; it is hashed with that folder replaced by a
placeholder, so a moved workspace keeps verifying while any other edit of the file is caught.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from workbench.core.errors import ArtefactChanged
from workbench.storage.artefacts import ArtefactHashes, RecordedHashes
from workbench.storage.store import Store

log = logging.getLogger(__name__)

MODEL_FILE = "MLmodel"
# MLflow itself writes this into a local model folder whenever ``models:/name/version`` is loaded
# (the name and version, as YAML); it is bookkeeping, not part of the model.
MLFLOW_BOOKKEEPING = frozenset({"registered_model_meta"})
_STORE_PLACEHOLDER = "<store>/"
_FIX = ("Nothing was loaded. Train the tracker again or import its bundle again, then publish that version. "
        "`workbench mlflow` lets any local process write artifacts: run it only while you use it")


def file_sha256(path: Path, *, replace: tuple[str, str] | None = None) -> str:
    """The sha256 of a file's bytes, or of its text with ``replace`` = (old, new) applied."""
    if replace is not None:
        text = Path(path).read_text(encoding="utf-8").replace(*replace)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_hashes(folder: Path, store_uri: str) -> dict[str, str]:
    """sha256 of every file under ``folder`` by its path inside it; MLmodel files with the
    store's folder (``store_uri``, a file URI) written as a placeholder (see module doc)."""
    found = {}
    for path in _model_files(folder):
        moved = (store_uri.rstrip("/") + "/", _STORE_PLACEHOLDER) if path.name == MODEL_FILE else None
        found[path.relative_to(folder).as_posix()] = file_sha256(path, replace=moved)
    return found


def _stat_key(folder: Path) -> tuple:
    """What a rewrite of any file changes (a PUT through MLflow writes a new file)."""
    return tuple((p.relative_to(folder).as_posix(), s.st_size, s.st_mtime_ns, s.st_ino)
                 for p in _model_files(folder) for s in [p.stat()])


def _model_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    return [p for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() not in MLFLOW_BOOKKEEPING]


class VersionArtefacts:
    """Records and checks the model files of one store's versions."""

    def __init__(self, store: Store, store_uri: str) -> None:
        self.hashes = ArtefactHashes(store)
        self.store_uri = store_uri
        # (model name, version) -> the folder's file stats when it last verified: a load repeated
        # within a process re-hashes only when a file was rewritten (a deep version's encoder is ~90 MB).
        self._verified: dict[tuple[str, int], tuple] = {}

    def record(self, mv, folder: Path, how: str) -> None:
        """Record the folder of version ``mv`` as it is now; ``how``: trained, imported, first load."""
        self.hashes.record(mv.name, int(mv.version), _model_id(mv), folder_hashes(folder, self.store_uri), how)
        self._verified.pop((mv.name, int(mv.version)), None)

    def verify(self, tracker_name: str, mv, folder: Path) -> None:
        """Raise ArtefactChanged unless the folder holds exactly the files recorded for ``mv``."""
        key = (mv.name, int(mv.version))
        stats = _stat_key(folder)
        if self._verified.get(key) == stats:
            return
        recorded = self.hashes.get(mv.name, int(mv.version))
        if recorded is None:
            self._adopt(tracker_name, mv, folder)
        else:
            _compare(tracker_name, mv, folder, recorded, folder_hashes(folder, self.store_uri))
        self._verified[key] = stats

    def _adopt(self, tracker_name: str, mv, folder: Path) -> None:
        """Record a version that has no hashes, if it was registered before this workspace began
        recording them; one registered since did not come from the workbench's training or import
        (MLflow's API registers versions for any local client), or a kill cut its training short."""
        since = self.hashes.since_ms()
        if since is not None and int(mv.creation_timestamp or 0) > since:
            raise ArtefactChanged(tracker_name, int(mv.version), str(folder),
                                  "has no recorded hashes, yet the version was registered after this workspace began "
                                  "recording them: the workbench did not train or import it (or was killed doing so)",
                                  _FIX)
        self.record(mv, folder, "first load")
        log.warning("Tracker '%s' version %s was stored before the workbench recorded model hashes; "
                    "recorded its files as they are now (%s).", tracker_name, mv.version, folder)

    def rename(self, old_model_name: str, new_model_name: str) -> None:
        self.hashes.rename(old_model_name, new_model_name)
        self._verified = {k: v for k, v in self._verified.items() if k[0] != old_model_name}

    def forget(self, model_name: str) -> None:
        self.hashes.forget(model_name)
        self._verified = {k: v for k, v in self._verified.items() if k[0] != model_name}


def _compare(tracker_name: str, mv, folder: Path, recorded: RecordedHashes, now: dict[str, str]) -> None:
    version = int(mv.version)
    when = f"when the version was {recorded.recorded_how} ({recorded.recorded_at})"
    if recorded.model_id != _model_id(mv):
        raise ArtefactChanged(tracker_name, version, str(folder),
                              f"is MLflow model {_model_id(mv) or '(none)'}, not {recorded.model_id} recorded {when}", _FIX)
    for name in sorted(recorded.files.keys() | now.keys()):
        before, after = recorded.files.get(name), now.get(name)
        if before == after:
            continue
        if before is None:
            problem = f"was added after the files were recorded {when}"
        elif after is None:
            problem = f"is missing: it was recorded {when}"
        else:
            problem = f"has changed since it was recorded {when} (sha256 {before[:12]}…, now {after[:12]}…)"
        raise ArtefactChanged(tracker_name, version, str(folder / name), problem, _FIX)


def _model_id(mv) -> str:
    return getattr(mv, "model_id", None) or ""
