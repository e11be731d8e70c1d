"""A training's figures, drawn and logged to its MLflow run after the training returned.

Drawing and encoding a figure takes a good part of a round (issue 16: about 30% of a 1.45 s round),
and nothing in the round needs it: the round's results are the model, the version and the
estimate. So a training may hand ``log_training`` a function that draws its figures instead of the
figures; the run is created tagged ``TAG_FIGURES = "pending"`` and this queue draws them on one
worker thread, logs them where they would have been (``figures/<name>.png``) and tags the run
"logged". Nothing is lost:

The same worker completes a training's MLflow record when the training asked for it later
(workbench.registry.deferred), in the order things were queued: a run's record before its figures.

- a process that ends normally first logs what is queued (an exit hook waits for the worker,
  which is not a daemon thread either);
- reading versions or runs back through the registry waits for the queue, so that what a reader
  finds is what an immediate logging would have left;
- a process killed first leaves its runs tagged "pending" under an owner that is gone: opening the
  workspace redraws them from the version's stored estimate (workbench.trackers.recovery).
"""
from __future__ import annotations

import concurrent.futures.thread  # noqa: F401 - its exit hook registered before ours (_finish_before_exit)
import logging
import tempfile
import threading
from collections import deque
from functools import partial
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
    """Figures to log to finished runs (and records to complete, ``submit_job``), one at a time,
    in order, on a worker started when work arrives."""

    def __init__(self, client: "MlflowClient") -> None:
        self.client = client
        self._jobs: deque[tuple[str, Callable[[], None]]] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._exit_hook = False

    def submit(self, run_id: str, draw: DrawFigures) -> None:
        """Queue ``draw()``'s figures for run ``run_id`` (tagged "pending" by its creator)."""
        self.submit_job(f"the figures of MLflow run {run_id}", partial(self.log_now, run_id, draw))

    def submit_job(self, what: str, job: Callable[[], None]) -> None:
        """Queue ``job()`` after what is queued; ``what`` names it in the warning if it fails
        (whoever queues it leaves what the next open of the workspace redoes)."""
        with self._lock:
            self._jobs.append((what, job))
            self._finish_before_exit()
            if not self._busy:
                self._busy = True
                # Not a daemon: an interpreter that exits waits for the figures queued.
                threading.Thread(target=self._work, name="workbench-figures", daemon=False).start()

    def _finish_before_exit(self) -> None:
        """Have an exiting interpreter wait for the queue while it still runs everything: a
        worker left to finish on its own after the main thread ended (a non-daemon thread is
        joined then) found thread pools shut, and MLflow's artifact logging uses them ("cannot
        schedule new futures after interpreter shutdown"). ``threading._register_atexit`` is
        what concurrent.futures itself registers with; the hooks run last-registered first, so
        this one, registered after concurrent.futures' own, runs before it."""
        if self._exit_hook:
            return
        register = getattr(threading, "_register_atexit", None)
        if register is None:  # another Python: the worker, not a daemon, still runs the queue
            self._exit_hook = True
            return
        try:
            register(self.wait)
            self._exit_hook = True
        except RuntimeError:  # already exiting: the worker runs the queue as it can
            pass

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
                what, job = self._jobs.popleft()
            try:
                job()
            except Exception as e:  # noqa: BLE001 - left "pending": the next open does it again
                log.warning("Could not log %s (%s: %s); the next open of the workspace does it again.",
                            what, type(e).__name__, e)

    def log_now(self, run_id: str, draw: DrawFigures) -> None:
        """Draw, log under ``figures/`` and tag the run "logged" (in this thread)."""
        with tempfile.TemporaryDirectory(prefix="workbench-figures-") as tmp:
            write_figures(Path(tmp), draw())
            self.client.log_artifacts(run_id, tmp)
        self.client.set_tag(run_id, TAG_FIGURES, FIGURES_LOGGED)
