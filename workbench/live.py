"""The activation, results and publishing API as methods of Tracker and Workspace.

Mixed into the classes by their definitions::

    class Tracker(TrackerActivation, BaseTracker): ...
    class Workspace(WorkspaceResults): ...

and ``Workspace._score_new_calls`` returns ``on_import(self, call_ids)``. Each method is a thin
wrapper over the module that does the work, where its documentation lives.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def on_import(ws, call_ids: list[str]) -> dict[str, int]:
    """After an import: score the new calls with every active tracker, then tell the streams."""
    from workbench.activation import service as activation
    from workbench.results import streams

    scored = activation.score_new_calls(ws, call_ids)
    if scored or call_ids:
        streams.notify_streams(ws)
    return scored


class LiveTracker:
    """Activation and results: what smart and keyword trackers share once they run over calls."""

    # -- activation (workbench.activation.service) ------------------------------------------------------
    def backfill_plan(self, backfill_months: int = 12, *, as_of: Any = None):
        """How many calls and sentences a backfill covers and how long it should take."""
        from workbench.activation.service import backfill_plan

        return backfill_plan(self, backfill_months, as_of=as_of)

    def activate(self, backfill_months: int = 12, *, as_of: Any = None, progress: bool = True,
                 engine: str = "local", spark: Any = None, verbose: bool = True):
        """Apply the published version (a keyword tracker: its phrases) to the last N months (0-12)
        and to every new call."""
        from workbench.activation.service import activate

        return activate(self, backfill_months, as_of=as_of, progress=progress, engine=engine, spark=spark,
                        verbose=verbose)

    def deactivate(self) -> None:
        """Stop scoring new calls; the results so far are kept."""
        from workbench.activation.service import deactivate

        deactivate(self)

    def delete(self, *, confirm: bool = False) -> None:
        """Delete the tracker, its results, tags and versions (needs confirm=True)."""
        from workbench.activation.service import delete

        delete(self, confirm=confirm)

    @property
    def is_active(self) -> bool:
        from workbench.activation.service import is_active

        return is_active(self)

    def results(self):
        """The stored detections and scored calls of the published version (LiveResults)."""
        from workbench.activation.service import live_results

        return live_results(self.ws, self)

    def team_stats(self, **selection: Any):
        from workbench.results.search import team_stats

        return team_stats(self.ws, self, **selection)


class TrackerActivation(LiveTracker):
    """Activation and results, plus publishing versions and bundles: a smart tracker's."""

    # -- publishing (workbench.activation.publishing) ------------------------------------------------------
    def unpublished_changes(self) -> list[str]:
        from workbench.activation.publishing import unpublished_changes

        return unpublished_changes(self)

    @property
    def has_unpublished_changes(self) -> bool:
        return bool(self.unpublished_changes())

    def diff(self, version: int | None = None, **kw: Any):
        """What publishing ``version`` (default: the latest) would change: gained and lost detections."""
        from workbench.activation.publishing import diff

        return diff(self, version, **kw)

    def publish(self, version: int | None = None, **kw: Any):
        """Make ``version`` (default: the latest) live and re-apply it to the history."""
        from workbench.activation.publishing import publish

        return publish(self, version, **kw)

    # -- bundles (workbench.activation.bundles) -------------------------------------------------------------
    def export_bundle(self, path: str | Path, *, version: int | None = None) -> Path:
        """Write the tracker as a self-contained bundle (definition, examples, tags, model, metrics)."""
        from workbench.activation.bundles import export_bundle

        return export_bundle(self, path, version=version)


class WorkspaceResults:
    """Search, stats, streams, exports and bundles of a workspace's live trackers."""

    def search(self, trackers: Any = None, **kw: Any):
        from workbench.results.search import search

        return search(self, trackers, **kw)

    def team_stats(self, tracker: Any, **kw: Any):
        from workbench.results.search import team_stats

        return team_stats(self, tracker, **kw)

    def detections_table(self, trackers: Any = None, **kw: Any):
        from workbench.results.search import detections_table

        return detections_table(self, trackers, **kw)

    def export_detections(self, path: str | Path, trackers: Any = None, **kw: Any) -> Path:
        from workbench.results.search import export_detections

        return export_detections(self, path, trackers, **kw)

    def calls_api(self, call_ids: Any = None, trackers: Any = None, **kw: Any) -> dict:
        from workbench.results.search import calls_api

        return calls_api(self, call_ids, trackers, **kw)

    def create_stream(self, name: str, **kw: Any):
        from workbench.results.streams import create_stream

        return create_stream(self, name, **kw)

    def stream(self, name: str):
        from workbench.results.streams import get_stream

        return get_stream(self, name)

    def streams(self) -> list:
        from workbench.results.streams import list_streams

        return list_streams(self)

    def active_trackers(self) -> list:
        from workbench.activation.service import active_trackers

        return active_trackers(self)

    def score_pending(self, *, progress: bool = True) -> dict[str, int]:
        """Score calls imported while they had no embeddings (after ``ws.embed()``), then tell the streams."""
        from workbench.results import streams
        from workbench.activation.service import score_new_calls

        scored = score_new_calls(self, [], progress=progress)
        if scored:
            streams.notify_streams(self)
        return scored

    def import_bundle(self, path: str | Path, **kw: Any):
        from workbench.activation.bundles import import_bundle

        return import_bundle(self, path, **kw)

    def import_pretrained(self, names: Any = None, **kw: Any) -> list:
        from workbench.activation.bundles import import_pretrained

        return import_pretrained(self, names, **kw)
