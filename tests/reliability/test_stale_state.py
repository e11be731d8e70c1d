"""kill -9 during training and backfill, then open (issue 14, item 8): no MLflow run is left
RUNNING, every registered version is listed (versions stay contiguous), no orphan folder is
left, and training works again."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.demo_workspace import DEMO_TRACKER, END_DATE, demo_workspace
from tests.reliability.stale_state_cases import MOMENTS, REPO, kill_and_reopen, orphan_folders


@pytest.fixture
def template(tmp_path_factory, embedder, request):
    return demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))


def test_kills_during_training_and_backfill_are_healed_on_open(template, tmp_path):
    # Three moments, to stay well under a minute on 2 cores; a run killed before it registered
    # anything and a staging folder of a dead owner are the next test's; benchmarks/reliability.py
    # runs every moment of MOMENTS.
    moments = ("training: ending the run", "training: recording the version", "backfill: pointing at the new results")
    assert set(moments) <= set(MOMENTS)
    counts = kill_and_reopen(template, tmp_path, DEMO_TRACKER, END_DATE.isoformat(), moments=moments)
    report = counts.as_dict()
    assert counts.killed == counts.cases == 3 and counts.raw_errors == [], report
    assert counts.stuck_runs_left == 0, report
    assert counts.versions_missing == 0 and counts.versions_not_contiguous == 0, report
    assert counts.orphan_folders_left == 0, report
    assert counts.trained_again == 1, report  # versions 1, 2, 3 (adopted), then 4
    notes = "\n".join(counts.notes)
    assert "was left RUNNING" in notes and "marked FINISHED" in notes
    assert "now listed in t.versions()" in notes and "left by a killed backfill" in notes


def test_a_training_still_running_in_another_process_is_left_alone(template, tmp_path):
    # A live owner: its RUNNING run and its folders are its own, whatever the opener finds.
    from mlflow import MlflowClient

    from workbench import Workspace
    from workbench.registry.names import TAG_OWNER

    path = tmp_path / "ws"
    shutil.copytree(template, path, ignore=shutil.ignore_patterns("detections", "matrix", "*.lock"))
    ws = Workspace(path)
    exp = ws.registry.client.get_experiment_by_name(f"tracker: {DEMO_TRACKER}")
    # Another process, alive, that names itself as processes do when they start a training.
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "from workbench.core.processes import owner_token; print(owner_token(), flush=True);"
         " import time; time.sleep(60)"], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        token = sleeper.stdout.readline().strip()
        run = ws.registry.client.create_run(exp.experiment_id, tags={TAG_OWNER: token})
        stage = ws.data_dir / ".spark-staging" / "live"
        stage.mkdir(parents=True)
        (stage / "owner.json").write_text(token)
        reopened = Workspace(path)
        assert MlflowClient(reopened.registry.tracking_uri).get_run(run.info.run_id).info.status == "RUNNING"
        assert stage.is_dir() and reopened.recovered == []
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
    healed = Workspace(path)  # the owner is gone now
    assert MlflowClient(healed.registry.tracking_uri).get_run(run.info.run_id).info.status == "KILLED"
    assert orphan_folders(healed) == [] and len(healed.recovered) == 2


def test_opening_a_healthy_workspace_does_not_open_mlflow(template):
    # The checks on open read the two databases directly: MLflow (seconds to import and open)
    # is only loaded when there is something to heal.
    code = ("import sys; from workbench import Workspace; ws = Workspace(sys.argv[1]);"
            " print(ws.recovered, 'mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(template)], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.stdout.strip() == "[] False", out.stderr[-2000:]


def test_a_version_mlflow_lost_is_named_not_invented(template, tmp_path):
    # MLflow is the source of truth for which versions exist: a row the workspace keeps for a
    # version removed in the MLflow UI stays (its round and figures are history) and is named.
    from workbench import Workspace
    from workbench.registry.names import registered_model_name

    path = tmp_path / "ws"
    shutil.copytree(template, path, ignore=shutil.ignore_patterns("detections", "matrix", "*.lock"))
    Workspace(path).registry.client.delete_model_version(registered_model_name(DEMO_TRACKER), "1")
    reopened = Workspace(path)
    assert reopened.tracker(DEMO_TRACKER).versions()["version"].to_list() == [1, 2]
    assert len(reopened.recovered) == 1 and "Version 1 of tracker" in reopened.recovered[0]
    assert "MLflow has no such version" in reopened.recovered[0]
    assert reopened._registry is None  # named from a direct read: nothing to heal, MLflow stays shut
