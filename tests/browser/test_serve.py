"""The servers behind `workbench dashboards`, `workbench lab` and `workbench mlflow`, seen
through a real Chromium: widgets render and talk to their kernel, nothing the notebook
prints can run as script, code stays hidden, and stopping leaves no process behind."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest

from tests.browser.conftest import wait_for_widgets
from workbench.serve.servers import ServerError, start_lab, start_mlflow_ui, start_voila

SCRIPT = "<script>alert(1)</script>"

# Distinctive words that occur only in the cell's source, never in its output: if they
# reach the page, Voila leaked the code.
DASHBOARD_SOURCE = f"""\
import html, os
import ipywidgets as widgets

workspace = os.environ["WORKBENCH_WORKSPACE"]
status = widgets.HTML(value="<b>workspace:</b> " + html.escape(workspace + " {SCRIPT}"))
clicks = widgets.HTML(value="not clicked yet")
button = widgets.Button(description="Count clicks")

def on_click_secret_handler(_):
    on_click_secret_handler.n = getattr(on_click_secret_handler, "n", 0) + 1
    clicks.value = f"clicked {{on_click_secret_handler.n}} times"

button.on_click(on_click_secret_handler)
widgets.VBox([status, button, clicks])
"""


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def alive(pids) -> list[int]:
    """Pids still running (zombies count as gone: they have exited)."""
    left = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.append(pid)
    return left


def http_get(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.mark.browser
def test_voila_dashboard_renders_widgets_and_round_trips(tmp_path, page, screenshot_dir):
    started = time.monotonic()
    notebooks = tmp_path / "notebooks"
    dashboard = write_notebook(notebooks / "04_dash board.ipynb", DASHBOARD_SOURCE)
    broken = write_notebook(notebooks / "05_broken.ipynb", "import ipywidgets\nraise ValueError('no data')")
    # Not in the list handed to start_voila, so the dashboard server must not serve it.
    write_notebook(notebooks / "01_private.ipynb", "print('private')")
    workspace = tmp_path / "my workspace"
    workspace.mkdir()

    with start_voila([dashboard, broken], workspace) as server:
        token = f"?token={server.token}"
        assert server.urls == [f"{server.base_url}/voila/render/{quote('04_dash board.ipynb')}{token}",
                               f"{server.base_url}/voila/render/05_broken.ipynb{token}"]
        assert server.url.startswith("http://127.0.0.1:")
        page.goto(server.urls[0])
        wait_for_widgets(page, timeout=60, min_count=3)

        status = page.locator(".widget-html").first
        assert str(workspace.resolve()) in status.inner_text()
        # The escaped tag shows as text and never becomes an element (the `page`
        # fixture fails the test if an alert fired anyway).
        assert SCRIPT in status.inner_text()
        assert page.locator(".widget-html script").count() == 0

        # strip_sources: neither an input area nor a word of the code reaches the browser.
        assert page.locator(".jp-InputArea, .jp-Editor, .cm-editor, .CodeMirror").count() == 0
        assert "on_click_secret_handler" not in page.content()

        clicks = page.locator(".widget-html", has_text="clicked")
        page.get_by_role("button", name="Count clicks").click()
        clicks.filter(has_text="clicked 1 times").wait_for()
        page.get_by_role("button", name="Count clicks").click()
        clicks.filter(has_text="clicked 2 times").wait_for()
        page.screenshot(path=str(screenshot_dir / "voila-dashboard.png"), full_page=True)

        code, _ = http_get(f"{server.base_url}/voila/render/01_private.ipynb{token}")
        assert code == 404

        # wait_for_widgets gives up at once on a failed cell instead of waiting out its timeout.
        page.goto(server.urls[1])
        before = time.monotonic()
        with pytest.raises(pytest.fail.Exception, match="raised an error"):
            wait_for_widgets(page, timeout=60)
        assert time.monotonic() - before < 30
        assert "no data" not in page.content()  # tracebacks stay on the server by default
        owned = server.members()
        # The kernel runs in a session of its own, so this checks stop() finds it anyway.
        assert len(owned) >= 2, f"expected the server and its kernel, got {owned}"
    assert alive(owned) == []
    assert not Path(server.root).exists(), "the folder of links to the notebooks was left behind"
    print(f"voila dashboard test: {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_voila_folder_serves_every_notebook_with_the_workspace(tmp_path):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "05_summary.ipynb", "import os; print('WS=' + os.environ['WORKBENCH_WORKSPACE'])")
    write_notebook(notebooks / "sub" / "06_more.ipynb", "print('more')")
    write_notebook(notebooks / ".ipynb_checkpoints" / "05_summary-checkpoint.ipynb", "print('old')")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with start_voila(notebooks, workspace) as server:
        assert server.urls == [f"{server.base_url}/voila/render/05_summary.ipynb?token={server.token}",
                               f"{server.base_url}/voila/render/sub/06_more.ipynb?token={server.token}"]
        code, body = http_get(server.urls[0])
        assert code == 200
        assert f"WS={workspace.resolve()}" in body
        # Without the token no page renders, and the token never shows in the process list.
        code, body = http_get(f"{server.base_url}/voila/render/05_summary.ipynb")
        assert "WS=" not in body and (code in (401, 403) or "token" in body.lower()), (code, body[:300])
        assert server.token not in Path(f"/proc/{server.pid}/cmdline").read_text()
        assert "os.environ" not in body  # the source stays hidden in the HTML too


def test_voila_refuses_missing_inputs(tmp_path):
    with pytest.raises(ServerError, match="not found"):
        start_voila([tmp_path / "nope.ipynb"], tmp_path)
    with pytest.raises(ServerError, match="workspace"):
        start_voila(tmp_path, tmp_path / "missing")
    a = write_notebook(tmp_path / "a" / "x.ipynb", "1")
    b = write_notebook(tmp_path / "b" / "x.ipynb", "2")
    with pytest.raises(ServerError, match="x.ipynb"):
        start_voila([a, b], tmp_path)


def log_tracker_runs(mlruns: Path) -> None:
    """Write to mlruns/ as the workbench does: straight into the SQLite store, artifacts in
    mlruns/artifacts; one run and a registered model with two versions."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{mlruns / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("tracker: Demo", artifact_location=(mlruns / "artifacts" / "1").as_uri())
    run = client.create_run(experiment, run_name="round 1")
    client.log_param(run.info.run_id, "rounds", 1)
    client.log_metric(run.info.run_id, "precision", 0.82)
    client.log_text(run.info.run_id, "weights", "model/README.txt")
    client.set_terminated(run.info.run_id)
    client.create_registered_model("tracker-demo")
    for _ in range(2):
        client.create_model_version("tracker-demo", source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)


@pytest.mark.browser
@pytest.mark.slow
def test_mlflow_ui_shows_the_experiment_and_model_versions(tmp_path, page, screenshot_dir, monkeypatch):
    started = time.monotonic()
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mlruns = tmp_path / "ws" / "mlruns"  # not there yet: the UI must cope with a new workspace
    # The server creates the database; importing mlflow here meanwhile uses the other core.
    # Logging after it is up is also what happens in use: the UI stays open during training.
    with start_mlflow_ui(mlruns, wait=False) as server:
        import mlflow  # noqa: F401

        server.wait_ready()
        assert (mlruns / "artifacts").is_dir()
        log_tracker_runs(mlruns)
        assert server.url.startswith("http://127.0.0.1:")
        page.goto(server.url + "#/experiments")
        page.get_by_text("tracker: Demo").first.wait_for(timeout=60_000)
        page.screenshot(path=str(screenshot_dir / "mlflow-experiments.png"))

        page.goto(server.url + "#/models/tracker-demo")
        page.get_by_text("Version 2").first.wait_for(timeout=60_000)
        assert page.get_by_text("Version 1").count() >= 1
        page.screenshot(path=str(screenshot_dir / "mlflow-model-versions.png"))

        # DNS-rebinding guard: the API answers for its own address only.
        api = server.base_url + "/ajax-api/2.0/mlflow/experiments/search?max_results=1"
        assert http_get(api)[0] == 200
        code, _ = http_get(api, headers={"Host": "attacker.example"})
        assert code == 403
        owned = server.members()
        assert owned, "mlflow server has no processes while running"
    assert alive(owned) == []
    assert server.pgid is not None and alive([server.pgid]) == []
    print(f"mlflow ui test: {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_lab_serves_with_token_and_stops_cleanly(tmp_path):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "02_tagging.ipynb", "1 + 1")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with start_lab(notebooks, workspace) as server:
        assert server.url == f"{server.base_url}/lab?token={server.token}"
        code, body = http_get(server.url)
        assert code == 200 and "JupyterLab" in body
        code, body = http_get(f"{server.base_url}/api/contents?token={server.token}")
        assert code == 200 and "02_tagging.ipynb" in body
        # Without the token the API stays shut.
        code, _ = http_get(f"{server.base_url}/api/contents")
        assert code == 403
        # Kernels inherit the server's environment; this is where they find the workspace.
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        assert f"WORKBENCH_WORKSPACE={workspace.resolve()}".encode() in environ
        assert server.token not in Path(f"/proc/{server.pid}/cmdline").read_text()
        owned = server.members()
    assert alive(owned) == []
    assert not server.running()


def test_a_server_that_cannot_start_reports_its_log(tmp_path):
    import socket

    workspace = tmp_path / "ws"
    workspace.mkdir()
    notebook = write_notebook(tmp_path / "nb.ipynb", "1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # A port the caller chose is never swapped for another: Voila exits, we report why.
        with pytest.raises(ServerError) as caught:
            start_voila([notebook], workspace, port=port, timeout=60)
    message = str(caught.value)
    assert "exited with status" in message and "last lines of its log" in message
    assert "already in use" in message.lower()
    # The whole log is kept for the post-mortem and named in the error.
    log = caught.value.log_path
    assert log is not None and str(log) in message and log.is_file()
    log.unlink()
