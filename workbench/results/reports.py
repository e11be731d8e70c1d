"""The numbers behind the dashboards, as polars frames: computed here, drawn by workbench.widgets.

Kept apart from the widgets so that a report can be built, tested and exported (to CSV, to a
BI tool) without a notebook, and so that a widget only ever draws what it is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from workbench.activation.detections import LiveResults
from workbench.results.stats import breakdown
from workbench.trackers.rounds import with_context

# Columns of a call that a stakeholder reads a mention by.
CALL_COLUMNS = ("call_id", "title", "started_at", "team", "rep", "deal_stage")


class Tables(Protocol):
    """The corpus tables a report reads (a Workspace, its CorpusTables or a LiveContext)."""

    calls: pl.DataFrame
    sentences: pl.DataFrame


def sentences_per_call(tables: Tables) -> pl.DataFrame:
    """call_id, sentences: how long the imported calls are, in sentences."""
    return tables.sentences.group_by("call_id").agg(pl.len().alias("sentences")).sort("call_id")


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

    def in_context(self, tables: Tables, limit: int = 30, n: int = 2) -> list[dict[str, Any]]:
        """The first `limit` mentions (best-scored first) with `n` sentences either side."""
        top = self.mentions.sort("score", descending=True).head(limit)
        around = with_context(tables.sentences, top["sentence_id"].to_list(), n)
        out = []
        for row in top.iter_rows(named=True):
            before, after = around.get(row["sentence_id"], ([], []))
            out.append({**row, "context_before": before, "context_after": after})
        return out


def detections_report(tables: Tables, tracker_name: str, detections: pl.DataFrame) -> TrackerReport:
    """The report of a tracker's detections over every sentence in scope (its ``detections()``:
    the current model's, before activation)."""
    det = detections
    missing = [c for c in ("speaker", "side") if c not in det.columns]
    if missing:  # the detections contract guarantees ids, text and scores; who spoke comes from the corpus
        det = det.join(tables.sentences.select("sentence_id", *missing), on="sentence_id", how="left")
    calls = tables.calls
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
    return _report(tracker_name, per_call, mentions)


def live_report(tables: Tables, live: LiveResults) -> TrackerReport:
    """The report of an activated tracker: what it stored, its published version over the calls it scored."""
    call_info = tables.calls.select([c for c in CALL_COLUMNS if c in tables.calls.columns])
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
    return _report(live.tracker, per_call, mentions)


def _report(name: str, per_call: pl.DataFrame, mentions: pl.DataFrame) -> TrackerReport:
    return TrackerReport(
        tracker_name=name,
        per_call=per_call,
        mentions=mentions,
        by_team=breakdown(per_call, "team"),
        by_rep=breakdown(per_call, "rep"),
        by_month=breakdown(per_call, "month"),
    )
