"""A new workspace's MLflow database is copied from an empty store built once per MLflow version
(workbench.registry.empty_store). The copy must be what MLflow would have built, with this
workspace's own Default experiment, and a bad cache must never be used."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from workbench.registry import empty_store
from workbench.registry.versions import TrackerRegistry


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cache(cache_home, monkeypatch) -> Path:
    """One cache folder for the module, as a user's is: the damage tests leave it rebuilt."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return cache_home / "workbench"


def _experiments(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT experiment_id, name, artifact_location FROM experiments").fetchall()


def test_a_new_workspace_gets_a_copy_with_its_own_default_experiment(tmp_path, cache):
    first = TrackerRegistry(tmp_path / "one" / "mlruns")
    template = empty_store.template_path()
    assert template.parent == cache and template.is_file()
    assert _experiments(template) == []  # the builder's Default experiment is not in the copy

    second = TrackerRegistry(tmp_path / "two" / "mlruns")
    for registry in (first, second):
        [(exp_id, name, location)] = _experiments(registry.db_path)
        assert (exp_id, name) == (0, "Default")
        assert location == (registry.artifacts_dir / "0").as_uri()
    # MLflow reads the copy as its own store: runs and registered models work as usual.
    client = MlflowClient(tracking_uri=second.tracking_uri, registry_uri=second.tracking_uri)
    run = client.create_run("0")
    client.create_registered_model("copied-store-works")
    assert client.get_run(run.info.run_id).info.experiment_id == "0"
    assert _experiments(template) == []  # the template itself is never written to


def test_an_existing_database_is_never_replaced(tmp_path, cache):
    registry = TrackerRegistry(tmp_path / "ws" / "mlruns")
    MlflowClient(tracking_uri=registry.tracking_uri).create_experiment("kept")
    assert not empty_store.seed_database(registry.db_path)
    again = TrackerRegistry(tmp_path / "ws" / "mlruns")
    assert [e[1] for e in _experiments(again.db_path)] == ["Default", "kept"]


@pytest.mark.parametrize("damage", ["garbage", "holds an experiment"])
def test_a_bad_template_is_rebuilt_not_copied(tmp_path, cache, damage):
    TrackerRegistry(tmp_path / "first" / "mlruns")
    template = empty_store.template_path()
    if damage == "garbage":
        template.write_bytes(b"not a database at all")
    else:
        with sqlite3.connect(template) as con:
            con.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage)"
                        " VALUES (7, 'planted', 'file:///elsewhere', 'active')")
    registry = TrackerRegistry(tmp_path / "second" / "mlruns")
    assert [e[1] for e in _experiments(registry.db_path)] == ["Default"]
    assert _experiments(template) == []


def test_an_unwritable_cache_falls_back_to_mlflows_own_build(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be made under a file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    registry = TrackerRegistry(tmp_path / "ws" / "mlruns")
    assert [e[1] for e in _experiments(registry.db_path)] == ["Default"]
