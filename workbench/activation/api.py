"""The activation and publishing services of one workspace, as the Workspace hands them to its
trackers: each method takes a tracker's record and delegates to the module that does the work,
where its documentation lives (backfill, lifecycle, new_calls, publishing, bundles)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from workbench.activation import backfill, bundles, lifecycle, new_calls, publishing
from workbench.activation.context import LiveContext
from workbench.activation.detections import LiveResults
from workbench.trackers.records import TrackerRecord


class Activation:
    def __init__(self, ctx: LiveContext) -> None:
        self.ctx = ctx

    def backfill_plan(self, record: TrackerRecord, backfill_months: int = 12, *, as_of: Any = None,
                      engine: str = "local", from_texts: bool = False):
        return backfill.backfill_plan(self.ctx, record, backfill_months, as_of=as_of, engine=engine,
                                      from_texts=from_texts)

    def activate(self, record: TrackerRecord, backfill_months: int = 12, **options: Any):
        return backfill.activate(self.ctx, record, backfill_months, **options)

    def deactivate(self, record: TrackerRecord) -> None:
        lifecycle.deactivate(self.ctx, record)

    def is_active(self, record: TrackerRecord) -> bool:
        return lifecycle.is_active(self.ctx, record)

    def results(self, record: TrackerRecord) -> LiveResults:
        return self.ctx.live_results(record)

    def active(self) -> list[TrackerRecord]:
        return lifecycle.active_records(self.ctx)

    def forget(self, tracker_id: int) -> None:
        lifecycle.forget(self.ctx, tracker_id)

    def score_new_calls(self, call_ids: list[str], *, progress: bool = False) -> dict[str, int]:
        return new_calls.score_new_calls(self.ctx, call_ids, progress=progress)

    def journal_new_calls(self, call_ids: list[str]) -> None:
        new_calls.journal_new_calls(self.ctx, call_ids)

    def pending_calls(self) -> list[str]:
        """The calls some active tracker waits to score (imported while they had no embedding)."""
        return new_calls.pending_calls(self.ctx)


class Publishing:
    def __init__(self, ctx: LiveContext) -> None:
        self.ctx = ctx

    def unpublished_changes(self, record: TrackerRecord) -> list[str]:
        return publishing.unpublished_changes(self.ctx, record)

    def live_state(self, record: TrackerRecord) -> publishing.LiveState | None:
        return publishing.live_state(self.ctx, record)

    def diff(self, record: TrackerRecord, version: int | None = None, **options: Any):
        return publishing.diff(self.ctx, record, version, **options)

    def publish(self, record: TrackerRecord, version: int | None = None, **options: Any):
        return publishing.publish(self.ctx, record, version, **options)

    def export_bundle(self, record: TrackerRecord, path: str | Path, *, examples: list[str], tags: pl.DataFrame,
                      version: int | None = None) -> Path:
        return bundles.export_bundle(self.ctx, record, path, examples=examples, tags=tags, version=version)
