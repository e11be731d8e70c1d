"""Publishing: unpublished changes, ``t.diff()`` before ``t.publish()``.

Once a tracker is live, training more rounds or editing its filters changes nothing that
stakeholders see: the stored results keep coming from the *published* version (the MLflow alias
``published``) with the scope it was published with. ``t.unpublished_changes()`` lists what
differs; ``t.diff()`` scores the tracker's history with the candidate (the latest version and the
current definition) and compares it with the live results: detections gained and lost, per team
and per month, with examples; ``t.publish()`` moves the alias and re-applies the version to the
history. Every published version stays reproducible: its MLflow run holds the tags, settings and
model, and the definition it was published with is written on the registered version as the tag
``workbench.published_definition``.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from workbench.core.settings import PUBLISHED_ALIAS
from workbench.activation.backfill import (
    MAX_BACKFILL_MONTHS,
    apply_version,
    as_of_time,
    months_before,
    record_definition,
    set_published,
)
from workbench.activation.context import LiveContext
from workbench.activation.frames import no_results
from workbench.activation.scoring import score_frame, scope_rows
from workbench.activation.scorer import load_scorer
from workbench.core.errors import ValidationError
from workbench.storage.store import loads
from workbench.trackers.definition import TrackerDefinition
from workbench.trackers.records import TrackerRecord, definition_from_snapshot

_SCOPE_FIELDS = ("mentioned_by", "filters", "call_part", "channels")


def _latest_version(ctx: LiveContext, record: TrackerRecord) -> int | None:
    versions = ctx.registry.versions(record.name)
    return versions[-1].version if versions else None


def _published(ctx: LiveContext, record: TrackerRecord) -> tuple[int | None, dict | None]:
    """The published version and the definition it is live with (None before any activation)."""
    version = ctx.registry.get_alias(record.name, PUBLISHED_ALIAS)
    row = ctx.activations.get(record.id)
    return version, (loads(row["definition"]) if row is not None else None)


@dataclass(frozen=True)
class LiveState:
    """What a tracker's stored results are of: the published version (None for a keyword
    tracker, which has none) and the definition it is live with."""

    version: int | None
    definition: TrackerDefinition

    def describe(self) -> str:
        version = f"published version {self.version} · " if self.version is not None else ""
        return version + self.definition.describe_scope()


def live_state(ctx: LiveContext, record: TrackerRecord) -> LiveState | None:
    """The published version and scope the stored results come from; None before activation.
    Dashboards label results with it, not with the latest version or the edited definition."""
    version, snapshot = _published(ctx, record)
    if snapshot is None:
        return None
    return LiveState(version=version, definition=definition_from_snapshot(snapshot))


def unpublished_changes(ctx: LiveContext, record: TrackerRecord) -> list[str]:
    """What the live results do not reflect yet, one line each; [] when nothing is pending."""
    published, snapshot = _published(ctx, record)
    if published is None:
        return []
    out = []
    latest = _latest_version(ctx, record)
    if latest is not None and latest != published:
        out.append(f"version {latest} was trained after the published version {published}")
    if snapshot is not None:
        current = record.snapshot()
        for key in _SCOPE_FIELDS:
            if _norm(current[key]) != _norm(snapshot[key]):
                out.append(f"{key} changed: {json.dumps(snapshot[key], default=str)} -> "
                           f"{json.dumps(current[key], default=str)}")
    tagged, trained = ctx.catalog.last_tagged_at(record.id), ctx.catalog.last_trained_at(record.id)
    if tagged and trained and tagged > trained:
        out.append("tags changed since the latest training: train (t.train()) to make them a version")
    return out


def _norm(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class TrackerDiff:
    """What publishing a candidate would change on the tracker's history."""

    tracker: str
    published_version: int | None
    candidate_version: int
    definition_changes: list[str]
    calls_before: int  # calls in the published scope (looked in)
    calls_after: int
    mentions_before: int
    mentions_after: int
    calls_with_mention_before: int
    calls_with_mention_after: int
    gained: pl.DataFrame  # sentences detected only by the candidate (with call, team, month, score)
    lost: pl.DataFrame  # sentences detected only by the published version
    by_team: pl.DataFrame  # team, mentions_before, mentions_after, gained, lost, calls_with_mention_before/after
    by_month: pl.DataFrame
    examples: int = 5
    window_start: dt.datetime | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.gained.height or self.lost.height or self.calls_before != self.calls_after)

    def __str__(self) -> str:
        before = f"version {self.published_version}" if self.published_version is not None else "nothing published"
        lines = [
            f"Diff of '{self.tracker}': {before} -> version {self.candidate_version}"
            + (f" on calls since {self.window_start:%Y-%m-%d}" if self.window_start else ""),
        ]
        lines += [f"  {c}" for c in self.definition_changes]
        lines += [
            f"  calls looked in      {self.calls_before:>8,} -> {self.calls_after:,}",
            f"  calls with a mention {self.calls_with_mention_before:>8,} -> {self.calls_with_mention_after:,}",
            f"  mentions             {self.mentions_before:>8,} -> {self.mentions_after:,}"
            f"   (+{self.gained.height:,} gained, -{self.lost.height:,} lost)",
        ]
        for title, frame in (("per team", self.by_team), ("per month", self.by_month)):
            key = frame.columns[0]
            changed = frame.filter((pl.col("gained") > 0) | (pl.col("lost") > 0))
            if changed.height:
                lines.append(f"  {title}:")
                for r in changed.iter_rows(named=True):
                    lines.append(f"    {str(r[key]):<12} {r['mentions_before']:>6,} -> {r['mentions_after']:<6,}"
                                 f" (+{r['gained']:,} -{r['lost']:,})")
        for title, frame in (("gained", self.gained), ("lost", self.lost)):
            if frame.height:
                lines.append(f"  examples {title}:")
                for r in frame.head(self.examples).iter_rows(named=True):
                    lines.append(f"    [{r['call_id']}] {r['text']}  ({r['score']:.2f})")
        if not self.changed:
            lines.append("  no change on the history")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def diff(ctx: LiveContext, record: TrackerRecord, version: int | None = None, *, examples: int = 5,
         as_of: Any = None, progress: bool = False) -> TrackerDiff:
    """Compare the live results with what ``version`` (default: the latest trained) and the current
    definition would give on the same history. Nothing is stored.

    The history is the activation's window and the calls scored since; before any activation,
    the last 12 months (``as_of`` moves "now").
    """
    t0 = time.perf_counter()
    candidate = version if version is not None else _latest_version(ctx, record)
    if candidate is None:
        raise ValidationError("version", f"'{record.name}' has no trained version", "Train it first (t.train()).")
    published, snapshot = _published(ctx, record)
    row = ctx.activations.get(record.id)
    current = record.snapshot()
    if row is not None:
        base_det, base_calls = ctx.detections.read(record.id, row["run_dir"], ctx.calls["call_id"])
        months = int(row["backfill_months"])
        window_start = dt.datetime.fromisoformat(row["window_start"])
        earlier = base_calls["call_id"]
    else:
        months = MAX_BACKFILL_MONTHS
        window_start = months_before(as_of_time(as_of), months)
        earlier = []
        if published is not None:
            scope = scope_rows(ctx, current, window_start=window_start)
            base_det, base_calls = score_frame(ctx, load_scorer(ctx.registry, record.name, published), scope,
                                               embed=True)
        else:
            base_det, base_calls = no_results()
        snapshot = current
    scope = scope_rows(ctx, current, call_ids=earlier, window_start=window_start if months else None)
    # embed=True: publishing applies the version to every call in scope, not only a tagging sample's.
    cand_det, cand_calls = score_frame(ctx, load_scorer(ctx.registry, record.name, candidate), scope, progress=progress,
                                       desc=f"Diff of '{record.name}'", embed=True)
    changes = [f"{k} changed: {_norm(snapshot[k])} -> {_norm(current[k])}"
               for k in _SCOPE_FIELDS if _norm(snapshot[k]) != _norm(current[k])]

    info = ctx.calls.select("call_id", "team", pl.col("started_at").dt.strftime("%Y-%m").alias("month"))
    cols = ["call_id", "sentence_id", "text", "speaker", "side", "start_s", "score"]
    gained = (cand_det.join(base_det.select("sentence_id"), on="sentence_id", how="anti").select(cols)
              .join(info, on="call_id", how="left").sort("score", descending=True))
    lost = (base_det.join(cand_det.select("sentence_id"), on="sentence_id", how="anti").select(cols)
            .join(info, on="call_id", how="left").sort("score", descending=True))

    def per(key: str) -> pl.DataFrame:
        def counts(frame: pl.DataFrame, name: str) -> pl.DataFrame:
            return frame.join(info, on="call_id", how="left").group_by(key).agg(pl.len().alias(name))

        def with_mention(calls: pl.DataFrame, name: str) -> pl.DataFrame:
            return (calls.filter(pl.col("mentions") > 0).join(info, on="call_id", how="left")
                    .group_by(key).agg(pl.len().alias(name)))

        keys = info.select(key).unique()
        out = keys
        for frame, name in ((base_det, "mentions_before"), (cand_det, "mentions_after")):
            out = out.join(counts(frame, name), on=key, how="left")
        out = out.join(gained.group_by(key).agg(pl.len().alias("gained")), on=key, how="left")
        out = out.join(lost.group_by(key).agg(pl.len().alias("lost")), on=key, how="left")
        out = out.join(with_mention(base_calls, "calls_with_mention_before"), on=key, how="left")
        out = out.join(with_mention(cand_calls, "calls_with_mention_after"), on=key, how="left")
        value_cols = [c for c in out.columns if c != key]
        return out.with_columns(pl.col(value_cols).fill_null(0).cast(pl.Int64)).sort(key, nulls_last=True)

    return TrackerDiff(
        tracker=record.name, published_version=published, candidate_version=candidate, definition_changes=changes,
        calls_before=base_calls.height, calls_after=cand_calls.height,
        mentions_before=base_det.height, mentions_after=cand_det.height,
        calls_with_mention_before=int((base_calls["mentions"] > 0).sum()) if base_calls.height else 0,
        calls_with_mention_after=int((cand_calls["mentions"] > 0).sum()) if cand_calls.height else 0,
        gained=gained, lost=lost, by_team=per("team"), by_month=per("month"), examples=examples,
        window_start=window_start, seconds=time.perf_counter() - t0,
    )


@dataclass
class PublishResult:
    tracker: str
    version: int
    previous_version: int | None
    reapplied: bool
    detections: int | None = None
    calls_scored: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        prev = f" (was {self.previous_version})" if self.previous_version is not None else ""
        out = f"Published version {self.version} of '{self.tracker}'{prev}."
        if self.reapplied:
            out += (f" Re-applied to its history: {self.calls_scored:,} calls, {self.detections:,} mentions"
                    f" in {self.seconds:.1f} s.")
        else:
            out += " It is applied when the tracker is activated (t.activate())."
        return " ".join([out, *self.notes])


def publish(ctx: LiveContext, record: TrackerRecord, version: int | None = None, *, progress: bool = True,
            verbose: bool = True) -> PublishResult:
    """Make ``version`` (default: the latest trained) with the current definition the live one:
    move the MLflow alias ``published``, record the definition on the version, and re-apply it
    to the tracker's history when it has been activated. Look at ``t.diff()`` first."""
    target = version if version is not None else _latest_version(ctx, record)
    if target is None:
        raise ValidationError("version", f"'{record.name}' has no trained version", "Train it first (t.train()).")
    previous, snapshot = _published(ctx, record)
    current = record.snapshot()
    row = ctx.activations.get(record.id)
    if previous == target and (snapshot is None or _norm(snapshot) == _norm(current)):
        result = PublishResult(tracker=record.name, version=target, previous_version=previous, reapplied=False,
                               notes=["Nothing changed: it was already published."])
        if verbose:
            print(result)
        return result
    ctx.registry.set_alias(record.name, PUBLISHED_ALIAS, target)  # NotFoundError for an unknown version
    record_definition(ctx, record.name, target, current)
    t0 = time.perf_counter()
    if row is None:
        set_published(ctx, record, target)
        result = PublishResult(tracker=record.name, version=target, previous_version=previous, reapplied=False)
    else:
        scope, dets, calls = apply_version(
            ctx, record, target, current, months=int(row["backfill_months"]),
            window_start=dt.datetime.fromisoformat(row["window_start"]), progress=progress)
        result = PublishResult(tracker=record.name, version=target, previous_version=previous, reapplied=True,
                               detections=dets.height, calls_scored=calls.height,
                               seconds=time.perf_counter() - t0)
    if verbose:
        print(result)
    return result
