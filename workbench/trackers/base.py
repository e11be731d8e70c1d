"""What smart and keyword trackers share: the definition, its scope, and going live.

Activation, publishing and results are services of the workspace (``ws.services``); a tracker
hands them its ``record``. Smart trackers (workbench.trackers.tracker) add examples, rounds,
tags and model versions; keyword trackers (workbench.trackers.keyword_tracker) their phrases.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.core.errors import NotFoundError, ValidationError
from workbench.storage.store import loads
from workbench.trackers.definition import TrackerDefinition
from workbench.trackers.records import TrackerRecord, definition_from_row, definition_snapshot
from workbench.trackers.scope_check import check_scope, scope_advice

if TYPE_CHECKING:
    from workbench.workspace import Workspace


class BaseTracker:
    """What smart and keyword trackers share: definition, scope, storage, and going live.

    Activation and results are services of the workspace (``ws.services``, wired by the
    Workspace): the methods below hand them this tracker's ``record`` and refresh it afterwards.
    """

    kind = ""

    def __init__(self, workspace: "Workspace", row: Any) -> None:
        self.ws = workspace
        self.id: int = row["id"]
        self._load(row)

    def _load(self, row: Any) -> None:
        self.name: str = row["name"]
        self.definition = definition_from_row(row)
        self.settings: dict = loads(row["settings"]) or {}
        self.status: str = row["status"]
        self.published_version: int | None = row["published_version"]

    def refresh(self) -> None:
        row = self.ws.catalog.get(self.id)
        if row is None:
            raise NotFoundError(f"Tracker '{self.name}' was deleted.")
        self._load(row)

    @property
    def record(self) -> TrackerRecord:
        """This tracker as the services below the workspace take it."""
        return TrackerRecord(id=self.id, name=self.name, kind=self.kind, definition=self.definition,
                             settings=dict(self.settings), status=self.status,
                             published_version=self.published_version)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.definition.describe_scope()})"

    description = property(lambda self: self.definition.description)
    mentioned_by = property(lambda self: self.definition.mentioned_by)
    filters = property(lambda self: self.definition.filters)
    call_part = property(lambda self: self.definition.call_part)
    channels = property(lambda self: self.definition.channels)

    def scope(self, *, training: bool = False) -> pl.DataFrame:
        """The sentences this tracker applies to (or is trained on, with ``training=True``)."""
        return self.definition.scope(self.ws.calls, self.ws.sentences, training=training)

    def activation_concerns(self, estimate=None) -> list[str]:
        """Why activating now may be premature; a keyword tracker has no rounds to judge."""
        return []

    def scope_advice(self) -> str | None:
        """What the number of calls in scope means for this tracker (under 500: a keyword or
        pre-trained tracker; under 1,500: a common concept), or None from 1,500 calls on."""
        return scope_advice(self.scope()["call_id"].n_unique(), self.name)

    def update(self, **changes: Any) -> None:
        """Change the description, mentioned_by, filters, call_part or channels."""
        allowed = {"description", "mentioned_by", "filters", "call_part", "channels"}
        unknown = set(changes) - allowed
        if "name" in changes:
            raise ValidationError("name", "is changed with t.rename(new_name)",
                                  "Rename it: its tags, versions, results and streams follow the new name.")
        if unknown:
            raise ValidationError(", ".join(sorted(unknown)), "cannot be changed here",
                                  f"Change one of: {', '.join(sorted(allowed))}.")
        d = self.definition
        new = TrackerDefinition(
            name=d.name,
            description=changes.get("description", d.description),
            mentioned_by=changes.get("mentioned_by", d.mentioned_by),
            filters=changes.get("filters", d.filters),
            call_part=changes.get("call_part", d.call_part),
            channels=changes.get("channels", d.channels),
        )
        check_scope(self.ws, new)
        self.ws.catalog.update_definition(self.id, definition_snapshot(new))
        self.definition = new

    # -- going live (workbench.activation, through ws.services.activation) -------------------------------------
    def backfill_plan(self, backfill_months: int = 12, *, as_of: Any = None, engine: str = "local",
                      from_texts: bool = False):
        """How many calls and sentences a backfill covers and how long it should take with ``engine``
        (on Spark, what its executors embed is stated apart: see ``activate``)."""
        return self.ws.services.activation.backfill_plan(self.record, backfill_months, as_of=as_of, engine=engine,
                                                         from_texts=from_texts)

    def activate(self, backfill_months: int = 12, *, as_of: Any = None, progress: bool = True,
                 engine: str = "local", spark: Any = None, from_texts: bool = False, verbose: bool = True):
        """Apply the published version (a keyword tracker: its phrases) to the last N months (0-12)
        and to every new call. ``engine="spark"`` scores through Spark; ``from_texts=True`` has its
        executors embed every sentence too (workbench.activation.spark)."""
        result = self.ws.services.activation.activate(self.record, backfill_months, as_of=as_of, progress=progress,
                                                      engine=engine, spark=spark, from_texts=from_texts,
                                                      verbose=verbose)
        self.refresh()
        return result

    def deactivate(self) -> None:
        """Stop scoring new calls; the results so far are kept."""
        self.ws.services.activation.deactivate(self.record)
        self.refresh()

    def rename(self, new_name: str):
        """Give the tracker a new name (``ws.rename_tracker``); returns it under that name.
        Examples, tags, versions, results and streams are kept."""
        renamed = self.ws.rename_tracker(self.name, new_name)
        self.refresh()
        return renamed

    def delete(self, *, confirm: bool = False) -> None:
        """Delete the tracker, its results, tags and versions (needs confirm=True)."""
        self.ws.delete_tracker(self.name, confirm=confirm)

    @property
    def is_active(self) -> bool:
        return self.ws.services.activation.is_active(self.record)

    def live_state(self):
        """What the stored results are of (LiveState: the published version and the scope it
        is live with), or None before activation. It may differ from ``definition`` and the
        latest version while changes are unpublished (``unpublished_changes``)."""
        return self.ws.services.publishing.live_state(self.record)

    def results(self):
        """The stored detections and scored calls of the published version (LiveResults)."""
        return self.ws.services.activation.results(self.record)

    def team_stats(self, **selection: Any):
        """Mention rate per team, rep and month of the stored results (TeamStats)."""
        return self.ws.services.results.team_stats(self.record, **selection)

    def report(self, detections: pl.DataFrame | None = None):
        """The results dashboard's numbers (TrackerReport): of the stored results once active,
        else of ``detections`` (default: ``self.detections()``, the current model's)."""
        if detections is None and not self.is_active:
            detections = self.detections()
        return self.ws.services.results.report(self.record, detections)
