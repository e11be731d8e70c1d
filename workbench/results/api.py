"""The results service of one workspace: what ``ws.search``, ``ws.team_stats``, the exports and
``t.report()`` delegate to. Each method turns the trackers it is given (names, trackers,
records; None for all activated ones where that makes sense) into records and calls the module
that does the work (search, stats, exports, reports)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from workbench.activation.context import LiveContext
from workbench.results import exports, initiative, reports, search, stats
from workbench.trackers.records import TrackerRecord


class Results:
    def __init__(self, ctx: LiveContext) -> None:
        self.ctx = ctx

    def _records(self, trackers: Any, *, default_all: bool) -> list[TrackerRecord]:
        return search.activated_records(self.ctx, trackers, default_all=default_all)

    def search(self, trackers: Any = None, **options: Any) -> search.SearchResult:
        return search.search(self.ctx, self._records(trackers, default_all=False), **options)

    def team_stats(self, tracker: Any, **selection: Any) -> stats.TeamStats:
        return stats.team_stats(self.ctx, self._records(tracker, default_all=False)[0], **selection)

    def detections_table(self, trackers: Any = None, **options: Any) -> pl.DataFrame:
        return exports.detections_table(self.ctx, self._records(trackers, default_all=True), **options)

    def export_detections(self, path: str | Path, trackers: Any = None, **options: Any) -> Path:
        return exports.export_detections(self.ctx, path, self._records(trackers, default_all=True), **options)

    def calls_api(self, call_ids: Any = None, trackers: Any = None, **selection: Any) -> dict:
        return exports.calls_api(self.ctx, self._records(trackers, default_all=True), call_ids, **selection)

    def report(self, record: TrackerRecord, detections: pl.DataFrame | None = None) -> reports.TrackerReport:
        """The dashboard's report: of the stored results, or of ``detections`` when given."""
        if detections is not None:
            return reports.detections_report(self.ctx, record.name, detections)
        return reports.live_report(self.ctx, self.ctx.live_results(record))

    def initiative_board(self, trackers: Any = None, **selection: Any) -> initiative.InitiativeBoard:
        return initiative.initiative_board(self.ctx, self._records(trackers, default_all=True), **selection)

    def deal_activity(self, deal_id: str, trackers: Any = None) -> initiative.DealActivity:
        return initiative.deal_activity(self.ctx, self._records(trackers, default_all=True), deal_id)

    def deal_ids(self) -> list[str]:
        return initiative.deal_ids(self.ctx)
