"""Upcoming calls: every active tracker scores the calls an import brought in.

Calls whose sentences are not embedded yet (``import --no-embed``) are remembered and scored by
the next run (e.g. ``ws.score_pending()`` after ``ws.embed()``). An import never fails because
scoring did: the problem is reported as a warning.

The memory is a journal: an import records its new calls as pending for every active tracker
*before* they go live (``journal_new_calls``), and scoring removes exactly the calls it scored.
So an import killed after its calls went live but before they were scored leaves them pending,
and the next import, ``workbench embed`` or ``ws.score_pending()`` scores them.
"""
from __future__ import annotations

import datetime as dt
import warnings

import polars as pl

from workbench.activation.context import LiveContext
from workbench.activation.frames import CALLS_SCORED_SCHEMA
from workbench.activation.scoring import score_scope, scope_rows
from workbench.core.errors import WorkbenchError
from workbench.storage.store import loads


def score_new_calls(ctx: LiveContext, call_ids: list[str] | None = None, *, progress: bool = False) -> dict[str, int]:
    """Apply every active tracker's published version to ``call_ids`` and to the calls it kept
    pending; returns the mentions found per tracker."""
    rows = ctx.activations.activated(active_only=True)
    out: dict[str, int] = {}
    if not rows:
        return out
    call_ids = list(call_ids or [])
    with ctx.detections.lock():
        for row in rows:
            todo = sorted(set(call_ids) | set(ctx.activations.pending(row["tracker_id"])))
            if not todo:
                continue
            scope = scope_rows(ctx, loads(row["definition"]), call_ids=todo)
            try:
                dets, calls = score_scope(ctx, ctx.record(row["tracker_id"]), row["version"], scope, progress=progress)
            except WorkbenchError as exc:
                ctx.activations.keep_pending(row["tracker_id"], todo)
                warnings.warn(f"'{row['name']}' could not score {len(todo):,} new calls yet: {exc} They are kept and "
                              "scored by ws.score_pending() (or the next import).", stacklevel=2)
                continue
            # Calls in the import that are out of scope are recorded too (0 sentences), so a call
            # re-imported out of scope no longer shows its old mentions.
            out_of_scope = sorted(set(todo) - set(calls["call_id"].to_list()))
            if out_of_scope:
                calls = pl.concat([calls, _unscored(out_of_scope, row["version"])])
            ctx.detections.write_part(row["tracker_id"], row["run_dir"], dets, calls)
            ctx.activations.clear_pending(row["tracker_id"], todo)
            out[row["name"]] = dets.height
    return out


def journal_new_calls(ctx: LiveContext, call_ids: list[str]) -> None:
    """Record ``call_ids`` as pending for every active tracker; call before they go live."""
    ctx.activations.keep_pending_for_active(list(call_ids))


def pending_calls(ctx: LiveContext) -> list[str]:
    """The calls any active tracker keeps pending: what ``ws.embed()`` embeds besides a tagging sample."""
    return sorted({c for row in ctx.activations.activated(active_only=True)
                   for c in ctx.activations.pending(row["tracker_id"])})


def _unscored(call_ids: list[str], version: int) -> pl.DataFrame:
    n = len(call_ids)
    return pl.DataFrame({"call_id": call_ids, "sentences": [0] * n, "mentions": [0] * n, "version": [version] * n,
                         "scored_at": [dt.datetime.now(dt.timezone.utc)] * n}, schema=CALLS_SCORED_SCHEMA)
