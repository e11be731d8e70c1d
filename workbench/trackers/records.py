"""TrackerRecord: what activation, publishing and results need to know of a tracker.

A frozen snapshot of one row of the trackers table. The services below the Workspace take
records, never a Tracker or a Workspace, so they cannot call back up; a Tracker hands over its
``record`` and the Workspace resolves names to records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import NotFoundError
from workbench.storage.catalog import TrackerCatalog
from workbench.storage.store import loads
from workbench.trackers.definition import TrackerDefinition


@dataclass(frozen=True)
class TrackerRecord:
    id: int
    name: str
    kind: str  # "smart" or "keyword"
    definition: TrackerDefinition
    settings: dict = field(default_factory=dict)
    status: str = "draft"
    published_version: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> "TrackerRecord":
        return cls(id=int(row["id"]), name=row["name"], kind=row["kind"], definition=definition_from_row(row),
                   settings=loads(row["settings"]) or {}, status=row["status"],
                   published_version=row["published_version"])

    def snapshot(self) -> dict:
        """The definition as plain JSON values: what an activation stores and a version is published with."""
        return definition_snapshot(self.definition)

    def matcher(self):
        """A keyword tracker's matcher, built from its settings."""
        from workbench.trackers.keywords import KeywordMatcher

        return KeywordMatcher(self.settings.get("phrases", []), related_forms=self.settings.get("related_forms", False),
                              question_only=self.settings.get("question_only", False))


def definition_from_row(row: Any) -> TrackerDefinition:
    return TrackerDefinition(name=row["name"], description=row["description"], mentioned_by=row["mentioned_by"],
                             filters=loads(row["filters"]), call_part=tuple(loads(row["call_part"])),
                             channels=loads(row["channels"]))


def definition_snapshot(d: TrackerDefinition) -> dict:
    return {"name": d.name, "description": d.description, "mentioned_by": d.mentioned_by, "filters": d.filters,
            "call_part": list(d.call_part), "channels": d.channels}


def definition_from_snapshot(snapshot: dict) -> TrackerDefinition:
    return TrackerDefinition(**{**snapshot, "call_part": tuple(snapshot["call_part"])})


def not_found(name: str, names: list[str], where: Path | str) -> NotFoundError:
    return NotFoundError(
        f"No tracker named '{name}' in {where}. "
        + (f"There are: {', '.join(names)}." if names else "There are none yet: create one with ws.create_tracker()."))


def find_record(catalog: TrackerCatalog, name: str, where: Path | str) -> TrackerRecord:
    """The record of the tracker called ``name``; NotFoundError lists the names there are."""
    row = catalog.find(name)
    if row is None:
        raise not_found(name, catalog.names(), where)
    return TrackerRecord.from_row(row)


def resolve_records(catalog: TrackerCatalog, trackers: Any, where: Path | str) -> list[TrackerRecord]:
    """Records from a name, a tracker (anything with a ``record``), a record, or a list of them."""
    if trackers is None:
        return []
    if isinstance(trackers, (str, TrackerRecord)) or hasattr(trackers, "record"):
        trackers = [trackers]
    return [_record(catalog, t, where) for t in trackers]


def _record(catalog: TrackerCatalog, tracker: Any, where: Path | str) -> TrackerRecord:
    if isinstance(tracker, TrackerRecord):
        return tracker
    if hasattr(tracker, "record"):
        return tracker.record
    return find_record(catalog, str(tracker), where)
