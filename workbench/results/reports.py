"""The numbers behind the dashboards, as polars frames: computed here, drawn by workbench.widgets.

Kept apart from the widgets so that a report can be built, tested and exported (to CSV, to a
BI tool) without a notebook, and so that a widget only ever draws what it is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.trackers.rounds import with_context

if TYPE_CHECKING:
    from workbench.workspace import Workspace

# Columns of a call that a stakeholder reads a mention by.
CALL_COLUMNS = ("call_id", "title", "started_at", "team", "rep", "deal_stage")


def sentences_per_call(ws: "Workspace") -> pl.DataFrame:
    """call_id, sentences: how long the imported calls are, in sentences."""
    return ws.sentences.group_by("call_id").agg(pl.len().alias("sentences")).sort("call_id")


def _breakdown(per_call: pl.DataFrame, key: pl.Expr, name: str) -> pl.DataFrame:
    return (
        per_call.group_by(key.alias(name))
        .agg(
            pl.len().alias("calls"),
            (pl.col("mentions") > 0).sum().alias("calls_with_mention"),
            pl.col("mentions").sum().alias("mentions"),
        )
        .with_columns((pl.col("calls_with_mention") / pl.col("calls")).alias("share"))
        .sort(name, nulls_last=True)
    )


@dataclass
class TrackerReport:
    """Where a tracker finds its concept: per call, team, rep and month, and the sentences.

    ``per_call`` holds every call in the tracker's scope (mentions may be 0), so a share is
    "calls that mention it / calls it was looked for in", never out of calls it cannot see.
    """

    tracker_name: str
    per_call: pl.DataFrame  # CALL_COLUMNS + sentences, mentions, best_score
    mentions: pl.DataFrame  # detected sentences: CALL_COLUMNS + sentence_id, text, speaker, side, start_s, score
    by_team: pl.DataFrame
    by_rep: pl.DataFrame
    by_month: pl.DataFrame

    @property
    def calls_in_scope(self) -> int:
        return self.per_call.height

    @property
    def calls_with_mention(self) -> pl.DataFrame:
        """The calls that mention the concept, most mentions first."""
        return self.per_call.filter(pl.col("mentions") > 0).sort(["mentions", "started_at"], descending=[True, True])

    @property
    def n_mentions(self) -> int:
        return self.mentions.height

    def in_context(self, ws: "Workspace", limit: int = 30, n: int = 2) -> list[dict[str, Any]]:
        """The first `limit` mentions (best-scored first) with `n` sentences either side."""
        top = self.mentions.sort("score", descending=True).head(limit)
        ctx = with_context(ws.sentences, top["sentence_id"].to_list(), n)
        out = []
        for row in top.iter_rows(named=True):
            before, after = ctx.get(row["sentence_id"], ([], []))
            out.append({**row, "context_before": before, "context_after": after})
        return out


def tracker_report(ws: "Workspace", tracker: Any, detections: pl.DataFrame | None = None) -> TrackerReport:
    """Build the results report of a tracker.

    An active tracker reports what it stored: its published version over the calls it scored.
    Before activation, the current model's detections over every sentence in scope stand in.
    """
    if detections is None and getattr(tracker, "is_active", False):
        return _live_report(ws, tracker)
    det = tracker.detections() if detections is None else detections
    missing = [c for c in ("speaker", "side") if c not in det.columns]
    if missing:  # the detections contract guarantees ids, text and scores; who spoke comes from the corpus
        det = det.join(ws.sentences.select("sentence_id", *missing), on="sentence_id", how="left")
    calls = ws.calls
    cols = [c for c in CALL_COLUMNS if c in calls.columns]
    call_info = calls.select(cols)
    per_call = (
        det.group_by("call_id")
        .agg(
            pl.len().alias("sentences"),
            pl.col("detected").cast(pl.Int64).sum().alias("mentions"),
            pl.col("score").filter(pl.col("detected")).max().alias("best_score"),
        )
        .join(call_info, on="call_id", how="left")
        .sort("started_at")
    )
    keep = [c for c in ("sentence_id", "utterance_id", "text", "speaker", "side", "start_s", "score") if c in det.columns]
    mentions = (
        det.filter(pl.col("detected"))
        .select("call_id", *keep)
        .join(call_info, on="call_id", how="left")
        .sort(["started_at", "start_s"])
    )
    return _report(tracker.name, per_call, mentions)


def _live_report(ws: "Workspace", tracker: Any) -> TrackerReport:
    live = tracker.results()
    call_info = ws.calls.select([c for c in CALL_COLUMNS if c in ws.calls.columns])
    best = live.detections.group_by("call_id").agg(pl.col("score").max().alias("best_score"))
    per_call = (
        live.calls.select("call_id", "sentences", "mentions")
        .join(best, on="call_id", how="left")
        .join(call_info, on="call_id", how="inner")  # calls deleted since scoring drop out
        .sort("started_at")
    )
    mentions = (
        live.detections.select("call_id", "sentence_id", "utterance_id", "text", "speaker", "side", "start_s", "score")
        .join(call_info, on="call_id", how="inner")
        .sort(["started_at", "start_s"])
    )
    return _report(tracker.name, per_call, mentions)


def _report(name: str, per_call: pl.DataFrame, mentions: pl.DataFrame) -> TrackerReport:
    return TrackerReport(
        tracker_name=name,
        per_call=per_call,
        mentions=mentions,
        by_team=_breakdown(per_call, pl.col("team"), "team"),
        by_rep=_breakdown(per_call, pl.col("rep"), "rep"),
        by_month=_breakdown(per_call, pl.col("started_at").dt.strftime("%Y-%m"), "month"),
    )
