"""Models written before versions were plain data keep loading, and never run code to do so.

The fixture is a bundle shipped by the previous release (workbench/pretrained/
asking-for-a-discount.tracker.zip at commit 33fb494): its model is a joblib pickle of
_ProbabilityModel(TrackerModel). Its scores for fixed vectors were computed then, with that
release's own code (joblib.load and predict_proba), and stored beside it.
"""
from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import LoggedModelStatus

from workbench.registry.legacy import UnsafeModelError, read_legacy_model
from workbench.registry.model_files import is_plain, read_model
from workbench.registry.versions import TrackerRegistry, registered_model_name

FIXTURES = Path(__file__).parent / "fixtures"
LEGACY_BUNDLE = FIXTURES / "legacy-asking-for-a-discount.tracker.zip"


def legacy_expectation() -> tuple[np.ndarray, np.ndarray]:
    """The fixture's vectors and the scores the previous release gave them."""
    vectors = np.load(FIXTURES / "legacy-asking-for-a-discount.vectors.npy", allow_pickle=False)
    scores = np.asarray(json.loads((FIXTURES / "legacy-asking-for-a-discount.scores.json").read_text())["scores"])
    return vectors, scores


@pytest.fixture
def legacy_model_dir(tmp_path) -> Path:
    with zipfile.ZipFile(LEGACY_BUNDLE) as zf:
        zf.extractall(tmp_path / "bundle")
    return tmp_path / "bundle" / "version" / "model"


def register_as_the_previous_release_did(registry: TrackerRegistry, tracker_name: str, model_dir: Path) -> int:
    """A version whose model folder is the legacy one, byte for byte, as an mlruns store written
    by the previous release holds it."""
    model_name = registered_model_name(tracker_name)
    experiment_id = registry.store.ensure_experiment(tracker_name, model_name)
    run_id = registry.client.create_run(experiment_id).info.run_id
    logged = registry.client.create_logged_model(experiment_id, name=model_name, source_run_id=run_id)
    registry.client.log_model_artifacts(logged.model_id, str(model_dir))
    registry.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    registry.store.ensure_registered_model(tracker_name, model_name)
    mv = registry.client.create_model_version(model_name, source=logged.artifact_location, run_id=run_id,
                                              model_id=logged.model_id)
    registry.client.set_terminated(run_id, "FINISHED")
    opened_after_an_upgrade(registry)
    return int(mv.version)


def opened_after_an_upgrade(registry: TrackerRegistry) -> None:
    """As when a store written by an earlier release is opened by this one: the workspace begins
    recording model hashes now, after its versions were registered (they get theirs on first load)."""
    with registry.artefacts.hashes.store.transaction() as con:
        con.execute("UPDATE meta SET value=? WHERE key='artefact_hashes_since'", (str(int(time.time() * 1000)),))


def test_the_previous_releases_model_reads_as_the_same_scores(legacy_model_dir):
    vectors, expected = legacy_expectation()
    model = read_model(legacy_model_dir)
    assert not is_plain(legacy_model_dir)
    assert model.embedding_model == "all-MiniLM-L6-v2-fp32-618819fe" and model.embedding_dim == 384
    np.testing.assert_array_equal(model.score(vectors), expected)
    assert 0 < (model.score(vectors) >= 0.5).sum() < len(vectors)


def test_a_legacy_version_in_an_mlruns_store_keeps_loading(legacy_model_dir, tmp_path):
    registry = TrackerRegistry(tmp_path / "mlruns")
    version = register_as_the_previous_release_did(registry, "Old tracker", legacy_model_dir)
    vectors, expected = legacy_expectation()
    np.testing.assert_array_equal(registry.linear_model("Old tracker", version=version).score(vectors), expected)

    # As an MLflow pyfunc (Spark, serving): served from a plain copy. The stored folder's own
    # model code would joblib-load a class that no longer exists, so loading at all shows it
    # was not used.
    uri = registry.model_path("Old tracker", version=version)
    assert "/plain-models/" in uri and is_plain(Path(uri.removeprefix("file://")))
    out = registry.load_model("Old tracker", version=version).predict(pd.DataFrame({"embedding": list(vectors)}))
    np.testing.assert_array_equal(out["score"].to_numpy(), expected)
    np.testing.assert_array_equal(out["detected"].to_numpy(), expected >= 0.5)
    assert registry.model_path("Old tracker", version=version) == uri  # made once
    stored = Path(registry.client.get_model_version_download_uri(registered_model_name("Old tracker"), version)
                  .removeprefix("file://"))
    assert (stored / "artifacts" / "classifier.joblib").is_file() and not is_plain(stored)  # left as written

    exported = registry.export_version("Old tracker", version, tmp_path / "export")
    assert is_plain(exported / "model")
    np.testing.assert_array_equal(read_model(exported / "model").score(vectors), expected)


class WritesAFile:
    """Unpickling this runs open(path, "w"): what a crafted bundle could do with any callable."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class RunsACommand:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("payload", [WritesAFile, RunsACommand])
def test_a_malicious_pickle_is_refused_and_never_runs(legacy_model_dir, tmp_path, payload):
    marker = tmp_path / "created-by-the-pickle"
    pickle_path = legacy_model_dir / "artifacts" / "classifier.joblib"
    joblib.dump(payload(marker), pickle_path)
    with pytest.raises(UnsafeModelError) as e:
        read_legacy_model(legacy_model_dir)
    assert str(pickle_path) in str(e.value) and "could run code" in str(e.value)
    assert not marker.exists()


def test_a_pickle_of_other_objects_is_refused(legacy_model_dir):
    pickle_path = legacy_model_dir / "artifacts" / "classifier.joblib"
    joblib.dump({"weights": np.array([object()], dtype=object)}, pickle_path)
    with pytest.raises(UnsafeModelError, match="numbers only"):
        read_legacy_model(legacy_model_dir)
    joblib.dump({"weights": np.ones(3)}, pickle_path)
    with pytest.raises(ValueError, match="not the workbench's"):
        read_legacy_model(legacy_model_dir)
    pickle_path.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="cannot be read as a legacy tracker model"):
        read_legacy_model(legacy_model_dir)


def test_a_moved_store_keeps_its_plain_copies_and_leaves_other_locations_alone(legacy_model_dir, tmp_path):
    """A moved store reads its legacy version's plain copy from mlruns/plain-models/ of the new
    folder (the same copy, not a new one), and only locations under the old artifact root move."""
    import shutil
    import sqlite3

    original = tmp_path / "original" / "mlruns"
    registry = TrackerRegistry(original)
    version = register_as_the_previous_release_did(registry, "Old tracker", legacy_model_dir)
    copy_uri = registry.model_path("Old tracker", version=version)
    # A hand-made experiment beside the store, whose folder name merely begins like the root's.
    beside = (original / "artifacts-2").as_uri()
    registry.client.create_experiment("made by hand", artifact_location=beside)
    moved = tmp_path / "moved" / "mlruns"
    shutil.copytree(original, moved)
    shutil.rmtree(original.parent)

    registry = TrackerRegistry(moved)
    assert registry.relocation is not None
    assert registry.model_path("Old tracker", version=version) == copy_uri.replace(
        original.resolve().as_uri(), moved.resolve().as_uri())
    assert sorted(p.name for p in (moved / "plain-models").iterdir()) == [Path(copy_uri).name]
    vectors, expected = legacy_expectation()
    np.testing.assert_array_equal(registry.linear_model("Old tracker", version=version).score(vectors), expected)
    out = registry.load_model("Old tracker", version=version).predict(pd.DataFrame({"embedding": list(vectors)}))
    np.testing.assert_array_equal(out["score"].to_numpy(), expected)
    assert registry.client.get_experiment_by_name("made by hand").artifact_location == beside
    with sqlite3.connect(moved / "mlflow.db") as con:
        default = con.execute("SELECT artifact_location FROM experiments WHERE experiment_id = 0").fetchone()[0]
    assert default == (moved / "artifacts" / "0").resolve().as_uri()
