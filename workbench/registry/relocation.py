"""Opening an MLflow store that was copied or moved with its workspace folder.

MLflow records absolute ``file://`` locations: the experiments' artifact locations, the runs'
artifact URIs, the logged models' artifact locations, the model versions' sources and storage
locations, and each model's ``MLmodel`` file (its ``artifact_path``). A workspace is shared by
copying its folder, so a copy would read its models from the original folder, or fail with
"No such artifact" once the original is gone.

``relocate`` notices that the store's artifact root (the parent of the built-in "Default"
experiment's location, which MLflow creates under the root it is given) is not this folder's
``artifacts/`` and rewrites every location under the old root to the same place under the new
one: the database in one transaction, taken before any other writer may start, then the
``MLmodel`` files. A second process that opens the copy meanwhile waits for the transaction and
then finds nothing to do. Locations outside the old root (none that the workbench writes) are
left as they are.
"""
from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_ID = 0
_MODEL_FILE = "MLmodel"


@dataclass(frozen=True)
class Relocation:
    """What one relocation changed: the old and new artifact roots (file URIs) and the count of
    rewritten database values and MLmodel files."""

    old_root: str
    new_root: str
    values: int
    model_files: int

    @property
    def note(self) -> str:
        return (f"This workspace's MLflow store was moved or copied from {self.old_root}; "
                f"{self.values} recorded locations and {self.model_files} MLmodel files now "
                f"point at {self.new_root}.")


def relocate(mlruns_dir: Path | str) -> Relocation | None:
    """Rewrite the locations of a moved or copied store to its own folder; None when the store
    already points here (or has no database yet)."""
    root = Path(mlruns_dir).expanduser().resolve()
    db = root / "mlflow.db"
    if not db.is_file():
        return None
    new_root = (root / "artifacts").as_uri()
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        # Every open of a store that is at home stops at this read, without a write lock.
        if _recorded_root(con) in (None, new_root):
            return None
        # Overwrite the old text in the file, not only in the live rows, so no page of the copy
        # still names the folder it came from.
        con.execute("PRAGMA secure_delete = ON")
        con.execute("BEGIN IMMEDIATE")
        try:
            old_root = _recorded_root(con)  # again: another opener may have relocated it meanwhile
            if old_root is None or old_root == new_root:
                con.execute("ROLLBACK")
                return None
            values = sum(_rewrite_column(con, table, column, old_root, new_root)
                         for table, column in _text_columns(con))
            # The files are rewritten while the database is still locked, so no other opener
            # sees new locations before the MLmodel files agree with them.
            model_files = sum(_rewrite_model_file(path, old_root, new_root)
                              for path in _model_files(root))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    moved = Relocation(old_root, new_root, values, model_files)
    log.warning(moved.note)
    return moved


def _recorded_root(con: sqlite3.Connection) -> str | None:
    """The artifact root the store was created with: the parent of the Default experiment's
    location, or failing that (the experiment removed by hand) of the workbench's experiments."""
    rows = con.execute(
        "SELECT experiment_id, artifact_location FROM experiments WHERE artifact_location LIKE 'file:%' "
        "ORDER BY experiment_id != ?, experiment_id", (DEFAULT_EXPERIMENT_ID,)).fetchall()
    for _, location in rows:
        parent = location.rstrip("/").rsplit("/", 1)[0]
        if parent.startswith("file:") and parent.count("/") > 2:
            return parent
    return None


def _text_columns(con: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    """Every text column of MLflow's tables: the locations live in five of them today, and a
    newer MLflow may add more (a trace's artifact location, a dataset's source)."""
    tables = [name for (name,) in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    for table in tables:
        for _, column, kind, *_ in con.execute(f'PRAGMA table_info("{table}")'):
            kind = (kind or "").upper()
            if any(word in kind for word in ("CHAR", "TEXT", "CLOB")) or kind == "":
                yield table, column


def _rewrite_column(con: sqlite3.Connection, table: str, column: str, old_root: str, new_root: str) -> int:
    """Rewrite ``old_root`` where a value is it or starts with it and a slash; a longer folder
    name that merely begins the same (``artifacts-2``) is not the old root."""
    cursor = con.execute(
        f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
        f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
        (new_root, len(old_root) + 1, old_root, len(old_root) + 1, old_root + "/"))
    return cursor.rowcount


def _model_files(root: Path) -> Iterator[Path]:
    """The MLmodel files of the store: logged models under ``artifacts/`` and the plain copies of
    legacy versions under ``plain-models/``."""
    for folder in (root / "artifacts", root / "plain-models"):
        if folder.is_dir():
            yield from folder.rglob(_MODEL_FILE)


def _rewrite_model_file(path: Path, old_root: str, new_root: str) -> int:
    """Point an MLmodel's ``artifact_path`` (and any other mention) at the new root; replaced
    through a temporary file so a reader never sees half a file."""
    text = path.read_text(encoding="utf-8")
    if old_root + "/" not in text:
        return 0
    partial = path.with_name(f".{path.name}.relocating")
    partial.write_text(text.replace(old_root + "/", new_root + "/"), encoding="utf-8")
    os.replace(partial, path)
    return 1
