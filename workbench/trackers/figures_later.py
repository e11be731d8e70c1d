"""A smart tracker's training figures, drawn from what the workspace stored of the version.

``Tracker.train`` logs its MLflow run without the performance figure and hands the registry this
module's drawing (workbench.registry.later): the figure is drawn on a worker thread from the
version's stored estimate and the learning curve of the versions before it, which is exactly what
the training had in hand, so the PNG is the one an immediate drawing makes. The same drawing heals
a run a killed process left "pending" (workbench.trackers.recovery).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.core.errors import NotFoundError
from workbench.storage.store import Store
from workbench.storage.trackers import TrainingStore
from workbench.trackers.learning_curve import learning_curve, versions_table
from workbench.training.performance import PerformanceEstimate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE = "performance.png"


def version_figures(store: Store, tracker_id: int, version: int) -> dict[str, "Figure"]:
    """The figures a training logs for ``version`` of tracker ``tracker_id``, from its stored row."""
    from workbench.trackers.deep_training import is_deep
    from workbench.trackers.plots import performance_figure

    stored = TrainingStore(store, tracker_id).versions()
    row = next((v for v in stored if v["version"] == version), None)
    if row is None:
        raise NotFoundError(f"Version {version} of tracker {tracker_id} is not recorded in {store.path}.")
    # The curve as the training drew it: the frozen versions recorded before this one.
    earlier = [v for v in stored if v["version"] < version and not is_deep(v)]
    return {FIGURE: performance_figure(PerformanceEstimate.from_dict(row["metrics"]),
                                       learning_curve(versions_table(earlier)))}
