"""A training's performance figure is drawn off the round's path and logged to its MLflow run,
also when the process that trained was killed first (issue 16, item 5)."""
from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import textwrap

import polars as pl
from mlflow.tracking import MlflowClient

from tests.conftest import REPO
from tests.trackers.test_tracker import DEMO_EXAMPLES, answer_round, make_tracker
from workbench import Workspace
from workbench.core.figures import save_png
from workbench.registry.names import TAG_FIGURES
from workbench.trackers.learning_curve import learning_curve
from workbench.trackers.plots import performance_figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def test_save_png_writes_the_bytes_savefig_writes_in_one_draw(tmp_path):
    from matplotlib.backend_bases import FigureCanvasBase

    from workbench.trackers.learning_curve import LearningCurve
    from workbench.training.performance import Figure, PerformanceEstimate

    est = PerformanceEstimate(**{**{f.name: None for f in dataclasses.fields(PerformanceEstimate)}, "confidence": 0.9,
                                 "honest_precision": Figure(0.4, 0.2, 0.7, 50, "m"),
                                 "honest_hit_rate": Figure(0.6, 0.3, 1.0, 50, "m")})
    curve = LearningCurve([1, 2, 3], [0.2, None, 0.4], [0.5, 0.5, 0.6], [0.3, None, 0.5], [None, 0.2, 0.1], True, "")
    for figure in (performance_figure(est, curve), performance_figure(est, None)):
        figure.dpi = 72  # savefig's dpi, not the figure's, sets the size
        save_png(figure, tmp_path / "once.png", dpi=100)
        assert type(figure.canvas) is FigureCanvasBase and figure.dpi == 72  # left as it came
        assert (tmp_path / "once.png").read_bytes() == _png(figure)


def _logged_figure(ws, run_id: str, tmp_path) -> tuple[str | None, bytes | None]:
    client = MlflowClient(tracking_uri=ws.registry.tracking_uri, registry_uri=ws.registry.tracking_uri)
    tag = client.get_run(run_id).data.tags.get(TAG_FIGURES)
    names = {a.path for a in client.list_artifacts(run_id, "figures")}
    if "figures/performance.png" not in names:
        return tag, None
    return tag, (tmp_path / "dl" / run_id).mkdir(parents=True) or open(
        client.download_artifacts(run_id, "figures/performance.png", str(tmp_path / "dl" / run_id)), "rb").read()


def test_the_figure_logged_later_is_the_one_the_training_had_in_hand(demo_ws, tmp_path):
    t = make_tracker(demo_ws, name="Figures later", examples=DEMO_EXAMPLES)
    for _ in range(2):
        answer_round(t, t.next_round())
        result = t.train()
    assert demo_ws.registry.wait_for_figures(timeout=120)
    tag, png = _logged_figure(demo_ws, result.run_id, tmp_path)
    assert tag == "logged" and png is not None
    # What train() drew before: the session's estimate and the curve of the versions before it.
    earlier = t.versions().filter((pl.col("version") < result.version) & (pl.col("training") == "frozen"))
    assert png == _png(performance_figure(t.performance(), learning_curve(earlier)))
    # The detection change train() logged, read from its own scores, is the registered model's.
    session = t._session_with_model()
    previous = demo_ws.registry.linear_model(t.name, version=result.version - 1).score(session.embeddings)
    assert t.versions()["detection_change"][-1] == session.detection_change(previous - 0.5)


KILLED_TRAINING = textwrap.dedent("""
    import os, signal, sys
    from workbench import Workspace
    from workbench.registry.later import LaterFigures

    def killed(self, run_id, draw):  # the process dies before its worker draws anything
        print("RUN", run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    LaterFigures.submit = killed
    Workspace(sys.argv[1]).tracker(sys.argv[2]).train()
""")


def test_figures_a_killed_training_left_are_drawn_when_the_workspace_opens(demo_ws, tmp_path):
    t = make_tracker(demo_ws, name="Killed before its figures", examples=DEMO_EXAMPLES)
    answer_round(t, t.next_round())
    proc = subprocess.run([sys.executable, "-c", KILLED_TRAINING, str(demo_ws.path), t.name], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run_id = proc.stdout.split("RUN ")[1].strip()

    reopened = Workspace(demo_ws.path)
    assert any("figures of version 1" in note for note in reopened.recovered)
    assert reopened.registry.wait_for_figures(timeout=120)
    tag, png = _logged_figure(reopened, run_id, tmp_path)
    assert tag == "logged" and png is not None
    assert not any("figures" in note for note in Workspace(demo_ws.path).recovered)  # healed once
