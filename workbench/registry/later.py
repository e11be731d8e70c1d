"""A training's figures, drawn and logged to its MLflow run after the training returned.

Drawing and encoding a figure takes a good part of a round (issue 16: about 30% of a 1.45 s round),
and nothing in the round needs it: the round's results are the model, the version and the
estimate. So a training may hand ``log_training`` a function that draws its figures instead of the
figures; the run is created tagged ``TAG_FIGURES = "pending"`` and this queue draws them on one
worker thread, logs them where they would have been (``figures/<name>.png``) and tags the run
"logged". Nothing is lost:

- the worker is not a daemon thread: a process that ends normally first logs what is queued;
- reading versions or runs back through the registry waits for the queue, so that what a reader
  finds is what an immediate logging would have left;
- a process killed first leaves its runs tagged "pending" under an owner that is gone: opening the
  workspace redraws them from the version's stored estimate (workbench.trackers.recovery).
"""
from __future__ import annotations

import logging
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from workbench.registry.model_files import write_figures
from workbench.registry.names import FIGURES_LOGGED, TAG_FIGURES

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

DrawFigures = Callable[[], "Mapping[str, Figure]"]


class LaterFigures:
    """Figures to log to finished runs, one at a time, on a worker started when work arrives."""

    def __init__(self, client: "MlflowClient") -> None:
        self.client = client
        self._jobs: deque[tuple[str, DrawFigures]] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = False

    def submit(self, run_id: str, draw: DrawFigures) -> None:
        """Queue ``draw()``'s figures for run ``run_id`` (tagged "pending" by its creator)."""
        with self._lock:
            self._jobs.append((run_id, draw))
            if not self._busy:
                self._busy = True
                # Not a daemon: an interpreter that exits waits for the figures queued.
                threading.Thread(target=self._work, name="workbench-figures", daemon=False).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued figure is logged; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    @property
    def busy(self) -> bool:
        """Figures are still being drawn or queued."""
        with self._lock:
            return self._busy

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._busy = False
                    self._idle.notify_all()
                    return
                run_id, draw = self._jobs.popleft()
            try:
                self.log_now(run_id, draw)
            except Exception as e:  # noqa: BLE001 - the run stays "pending": the next open redraws it
                log.warning("Could not log the figures of MLflow run %s (%s: %s); the next open of the "
                            "workspace draws them again.", run_id, type(e).__name__, e)

    def log_now(self, run_id: str, draw: DrawFigures) -> None:
        """Draw, log under ``figures/`` and tag the run "logged" (in this thread)."""
        with tempfile.TemporaryDirectory(prefix="workbench-figures-") as tmp:
            write_figures(Path(tmp), draw())
            self.client.log_artifacts(run_id, tmp)
        self.client.set_tag(run_id, TAG_FIGURES, FIGURES_LOGGED)
