"""A training's MLflow record completed after the training returned (workbench.registry.deferred):
the same run and version as an immediate logging, readers that wait for it, and a record a killed
process left pending completed by the next open of the store."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

from tests.test_registry import log, make_classifier, plain
from workbench.registry.deferred import PENDING_DIR
from workbench.registry.versions import TrackerRegistry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> TrackerRegistry:
    return TrackerRegistry(tmp_path_factory.mktemp("workspace") / "mlruns")


def _client(registry: TrackerRegistry) -> MlflowClient:
    return MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)


def _record_of(client: MlflowClient, record, tmp: Path) -> dict:
    """What the MLflow UI shows of a training: the run, its files and the version's model."""
    run = client.get_run(record.run_id)
    local = Path(client.download_artifacts(record.run_id, "", str(tmp)))
    files = sorted(str(p.relative_to(tmp)) for p in local.rglob("*") if p.is_file())
    logged = client.get_logged_model(record.model_id)
    tags = {k: v for k, v in run.data.tags.items() if k.startswith("workbench.")  # but those naming the tracker
            and k not in ("workbench.owner", "workbench.tracker", "workbench.registered_model")}
    return {"status": run.info.status, "params": {k: v for k, v in run.data.params.items() if k != "tracker"},
            "metrics": run.data.metrics, "tags": tags, "files": files, "logged_status": logged.status,
            "logged_metrics": {m.key: m.value for m in logged.metrics}, "version": record.version}


def test_a_record_completed_later_is_the_one_logged_at_once(registry, tmp_path):
    clf = make_classifier(3)[0]
    extra = {"extra_artifacts": {"estimate.json": {"precision": 0.5}}, "description": "a round"}
    now = log(registry, "Logged at once", 1, clf=clf, **extra)
    later = log(registry, "Logged later", 1, clf=clf, complete_later=True, **extra)
    assert later.version == 1 and later.run_id
    assert registry.wait_for_figures(timeout=120)
    client = _client(registry)
    a, b = _record_of(client, now, tmp_path / "a"), _record_of(client, later, tmp_path / "b")
    assert b == a
    assert a["status"] == "FINISHED" and a["logged_status"] == LoggedModelStatus.READY
    assert np.array_equal(registry.linear_model("Logged later", 1).coef, plain(clf).coef)
    assert not any((registry.root / PENDING_DIR).iterdir())  # nothing left to complete


def test_a_reader_waits_for_the_record_being_completed(registry):
    release = threading.Event()
    registry.figures_later.submit_job("a job that holds the worker", lambda: release.wait(60))
    clf = make_classifier(5)[0]
    record = log(registry, "Read while completing", 1, clf=clf, complete_later=True)
    assert _client(registry).get_logged_model(record.model_id).status == LoggedModelStatus.PENDING
    read: list = []
    reader = threading.Thread(target=lambda: read.append(registry.linear_model("Read while completing")))
    reader.start()
    reader.join(0.5)
    assert reader.is_alive() and not read  # waiting for the worker, not reading an empty folder
    release.set()
    reader.join(120)
    assert np.array_equal(read[0].coef, plain(clf).coef)


KILLED = textwrap.dedent("""
    import os, pathlib, sys, threading
    sys.path.insert(0, sys.argv[2])
    from tests.test_registry import log, make_classifier
    from workbench.registry.versions import TrackerRegistry
    registry = TrackerRegistry(sys.argv[1])
    registry.figures_later.submit_job("a job that never ends", threading.Event().wait)
    if sys.argv[3] == "draft":  # killed as the draft, its version made, was to be renamed
        rename = pathlib.Path.rename
        def die(self, target):
            if self.name.startswith(".draft-"):
                print(self.name, flush=True)
                os._exit(0)
            return rename(self, target)
        pathlib.Path.rename = die
    record = log(registry, "Killed", 1, clf=make_classifier(7)[0], complete_later=True)
    print(record.run_id, flush=True)
    os._exit(0)  # as a kill: the worker never completes the record
""")


@pytest.mark.parametrize("moment", ["queued", "draft"])
def test_a_record_a_killed_process_left_is_completed_on_open(tmp_path, moment):
    store = tmp_path / "mlruns"
    out = subprocess.run([sys.executable, "-c", KILLED, str(store), str(REPO), moment], capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr
    left = store / PENDING_DIR / out.stdout.split()[0]
    assert left.is_dir()
    run_id, version = json.loads((left / "registration.json").read_text())["run_id"], 1
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.get_run(run_id).info.status == "RUNNING"

    reopened = TrackerRegistry(store)
    assert len(reopened.completed_records) == 1 and f"Version {version}" in reopened.completed_records[0]
    assert not reopened.ended_runs  # completed, not ended as killed
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {"precision": 0.8, "recall": 0.6}
    assert run.data.params["round"] == "1"
    assert np.array_equal(reopened.linear_model("Killed", int(version)).coef, plain(make_classifier(7)[0]).coef)
    assert not left.exists()


COMPLETING = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, sys.argv[2])
    from tests.test_registry import log, make_classifier
    from workbench.registry.versions import TrackerRegistry
    registry = TrackerRegistry(sys.argv[1])
    go = threading.Event()
    registry.figures_later.submit_job("a job that holds the worker until told", lambda: go.wait(60))
    record = log(registry, "Trained elsewhere", 1, clf=make_classifier(9)[0], complete_later=True)
    print(record.run_id, flush=True)
    sys.stdin.readline()
    go.set()  # the worker completes the record; the interpreter waits for it before exiting
""")


def test_a_reader_in_another_process_waits_for_the_record_being_completed(tmp_path):
    """A dashboard reading the version a notebook's training just registered: before the
    notebook's worker has logged the model and its hashes, the folder must not be judged."""
    store = tmp_path / "mlruns"
    other = subprocess.Popen([sys.executable, "-c", COMPLETING, str(store), str(REPO)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        run_id = other.stdout.readline().strip()
        assert run_id, "the training process did not register its version"
        reader = TrackerRegistry(store)
        assert not reader.completed_records  # a live process's record is left to it
        read: list = []
        thread = threading.Thread(target=lambda: read.append(reader.linear_model("Trained elsewhere", 1)))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not read  # waiting, not refusing a half-written version
        other.stdin.write("\n")
        other.stdin.flush()
        thread.join(120)
        assert np.array_equal(read[0].coef, plain(make_classifier(9)[0]).coef)
    finally:
        other.stdin.close()
        assert other.wait(120) == 0
