"""A new workspace's MLflow database, copied from an empty one made once per MLflow version.

MLflow builds its SQLite schema by running its Alembic migrations one by one: about 1.7 s on two
cores, paid by the first training of every new workspace (and by every test that trains). An
empty store's schema depends only on the MLflow version, so it is built once in the user's cache
folder and copied. The copy holds no experiment: MLflow's start-up on it still verifies the
schema and makes the "Default" experiment with this workspace's own artifact root, exactly as on
a database it built itself.

The cache is only an accelerator. Where it cannot be written, or its file is not an empty MLflow
store of this version, MLflow builds the database as it always does.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import mlflow
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from workbench.core.settings import user_cache_dir

# MLflow's built-in experiment, made with the artifact root of whoever builds the store.
_DEFAULT_EXPERIMENT_ID = 0


def cache_dir() -> Path:
    """Where derived files shared by all workspaces of this user live ($XDG_CACHE_HOME/workbench)."""
    return user_cache_dir()


def template_path() -> Path:
    return cache_dir() / f"mlflow-{mlflow.__version__}-empty.db"


def seed_database(db_path: Path) -> bool:
    """Put an empty MLflow store at ``db_path`` if there is no database there yet; True when it did.

    A link, not a rename, puts the copy in place: it fails where another process got there
    first, so a database someone already writes to is never replaced."""
    if db_path.exists():
        return False
    template = _template()
    if template is None:
        return False
    fd, staged = tempfile.mkstemp(prefix=".mlflow-", suffix=".db", dir=db_path.parent)
    os.close(fd)
    try:
        shutil.copyfile(template, staged)
        os.link(staged, db_path)
        return True
    except OSError:  # another process made it meanwhile, or the folder refuses links
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(staged)


def _template() -> Path | None:
    """The cached empty store, built on first use; None where the cache cannot hold it."""
    path = template_path()
    if _is_empty_store(path):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="workbench-mlflow-", dir=path.parent) as tmp:
            built = Path(tmp) / "empty.db"
            store = SqlAlchemyStore(f"sqlite:///{built}", Path(tmp, "artifacts").as_uri())
            store.engine.dispose()
            _drop_default_experiment(built)
            os.replace(built, path)  # whole or absent, for any process that reads it
    except (OSError, sqlite3.Error):
        return None
    return path if _is_empty_store(path) else None


def _drop_default_experiment(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        con.execute("DELETE FROM experiment_tags WHERE experiment_id = ?", (_DEFAULT_EXPERIMENT_ID,))
        con.execute("DELETE FROM experiments WHERE experiment_id = ?", (_DEFAULT_EXPERIMENT_ID,))


def _is_empty_store(path: Path) -> bool:
    """A readable SQLite file with MLflow's tables, its migration recorded, and nothing in them."""
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            migrated = con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
            held = sum(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                       for table in ("experiments", "runs", "registered_models", "model_versions"))
    except sqlite3.Error:
        return False
    return migrated and held == 0
