"""After activation: which trackers are active, deactivating one, and forgetting its results."""
from __future__ import annotations

from workbench.activation.context import LiveContext
from workbench.core.errors import ValidationError
from workbench.trackers.records import TrackerRecord


def is_active(ctx: LiveContext, record: TrackerRecord) -> bool:
    row = ctx.activations.get(record.id)
    return bool(row is not None and row["active"])


def active_records(ctx: LiveContext) -> list[TrackerRecord]:
    """The trackers that score new calls, oldest first."""
    return [ctx.record(r["tracker_id"]) for r in ctx.activations.activated(active_only=True)]


def deactivate(ctx: LiveContext, record: TrackerRecord) -> None:
    """Stop scoring new calls; the results so far stay readable (and exportable)."""
    if not is_active(ctx, record):
        raise ValidationError("tracker", f"'{record.name}' is not active", "Nothing to deactivate.")
    ctx.activations.deactivate(record.id)


def forget(ctx: LiveContext, tracker_id: int) -> None:
    """Remove a tracker's activation and stored detections (when the tracker is deleted)."""
    with ctx.detections.lock():
        ctx.activations.forget(tracker_id)
        ctx.detections.remove_tracker(tracker_id)
