"""A reviewer's path: `workbench mlflow` on a trained workspace, read in headless Chromium."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.demo_workspace import DEMO_TRACKER, ROUNDS, demo_workspace
from workbench.registry.versions import experiment_name, registered_model_name
from workbench.serve.processes import process_group_members

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mlflow_command(tmp_path_factory, embedder, request):
    """`workbench mlflow` as a user starts it, in its own process group; yields its address."""
    ws = demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli.app", "--workspace", str(ws), "mlflow"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            start_new_session=True)
    url, seen, deadline = None, [], time.monotonic() + 150
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"http://127\.0\.0\.1:\d+/?", line)
        url = found.group(0).rstrip("/") if found else None
    try:
        assert url, "`workbench mlflow` printed no address:\n" + "".join(seen[-20:])
        yield url, ws
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the command stops its server
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        left = process_group_members(proc.pid)
        assert left == [], f"`workbench mlflow` left processes behind: {left}"


def test_reviewer_finds_the_tracker_runs_and_model_versions(mlflow_command, page, screenshot_dir):
    from workbench.registry.versions import TrackerRegistry

    url, ws = mlflow_command
    page.goto(url + "/#/experiments")
    page.get_by_text(experiment_name(DEMO_TRACKER)).first.wait_for(timeout=90_000)
    # MLflow 3 opens an experiment on its GenAI pages; a reviewer wants the training runs:
    # one run per training, named by round.
    experiment = TrackerRegistry(ws / "mlruns").client.get_experiment_by_name(experiment_name(DEMO_TRACKER))
    page.goto(f"{url}/#/experiments/{experiment.experiment_id}/runs")
    for r in range(1, ROUNDS + 1):
        page.get_by_text(f"round {r}", exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=str(screenshot_dir / "mlflow-tracker-runs.png"))

    page.goto(f"{url}/#/models/{registered_model_name(DEMO_TRACKER)}")
    page.get_by_text(f"Version {ROUNDS}").first.wait_for(timeout=60_000)
    for v in range(1, ROUNDS + 1):
        assert page.get_by_text(f"Version {v}").count() >= 1
    page.screenshot(path=str(screenshot_dir / "mlflow-tracker-versions.png"))
