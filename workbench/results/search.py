"""Search over live trackers' results: calls by mentions, call filters, dates and free text.

Everything in workbench.results reads the detections that activation stored
(workbench.activation.detections), never a model: results are what the *published* versions
found, the same numbers every stakeholder sees. Functions take tracker records (resolved by
``activated_records``) and the workspace's LiveContext.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import polars as pl

from workbench.activation.context import LiveContext
from workbench.core.dates import utc_datetime
from workbench.core.errors import ValidationError
from workbench.trackers.records import TrackerRecord

CALL_COLUMNS = ("call_id", "title", "started_at", "duration_s", "team", "rep", "deal_stage", "channel", "is_external")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def activated_records(ctx: LiveContext, trackers: Any, *, default_all: bool) -> list[TrackerRecord]:
    """Records from None / a name / a tracker / a list of either; only activated ones. None means
    every activated tracker with ``default_all``, else none."""
    if trackers is None:
        if not default_all:
            return []
        return [ctx.record(r["tracker_id"]) for r in ctx.activations.activated()]
    out = ctx.records(trackers)  # NotFoundError lists the names
    for record in out:
        if ctx.activations.get(record.id) is None:
            raise ValidationError(f"trackers.{record.name}", "has never been activated, so it has no results",
                                  f"Activate it first: ws.tracker({record.name!r}).activate().")
    return out


def select_calls(ctx: LiveContext, *, filters: dict | None = None, date_from: Any = None, date_to: Any = None,
                 call_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """The workspace's calls restricted by call filters (as in a tracker), a date range and ids."""
    from workbench.trackers.filters import filter_expression

    calls = ctx.calls
    if filters:
        if not isinstance(filters, dict):
            raise ValidationError("filters", f"expected a mapping of column to value, got {type(filters).__name__}",
                                  "Use e.g. {'team': ['EMEA'], 'deal_stage': 'Negotiation'}.")
        calls = calls.filter(filter_expression(filters, dict(calls.schema)))
    lo, hi = utc_datetime(date_from, "date_from", end=False), utc_datetime(date_to, "date_to", end=True)
    if lo and hi and lo >= hi:
        raise ValidationError("date_to", f"the range {date_from} to {date_to} is empty", "Give date_to after date_from.")
    if lo:
        calls = calls.filter(pl.col("started_at") >= lo)
    if hi:
        calls = calls.filter(pl.col("started_at") < hi)
    if call_ids is not None:
        ids = [call_ids] if isinstance(call_ids, str) else list(call_ids)
        calls = calls.filter(pl.col("call_id").is_in(pl.Series(ids, dtype=pl.String).implode()))
    return calls


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """Calls that match, with their mention counts, and the matching sentences in context."""

    calls: pl.DataFrame  # call columns + "mentions" (total) + one "<tracker>" count column each + "text_matches"
    sentences: pl.DataFrame  # call_id, sentence_id, start_s, speaker, side, text, matched_by, score, context
    trackers: list[str]
    text: str | None
    descriptions: dict[str, str] = field(default_factory=dict)  # tracker -> its description, where it has one

    def __len__(self) -> int:
        return self.calls.height

    def __str__(self) -> str:
        what = " and ".join([*(f"'{t}'" for t in self.trackers), *([f'"{self.text}"'] if self.text else [])])
        lines = [f"{self.calls.height:,} calls" + (f" mention {what}" if what else "")]
        lines += [f"  '{name}': {about}" for name, about in self.descriptions.items() if about]
        for r in self.calls.head(20).iter_rows(named=True):
            counts = ", ".join(f"{t} {r[t]}" for t in self.trackers)
            if self.text:
                counts = ", ".join(x for x in (counts, f'"{self.text}" {r["text_matches"]}') if x)
            lines.append(f"  {r['started_at']:%Y-%m-%d} {r['call_id']:<14} {str(r['team']):<14} {str(r['rep']):<10} "
                         f"{counts}")
        if self.calls.height > 20:
            lines.append(f"  … and {self.calls.height - 20:,} more")
        return "\n".join(lines)


def search(ctx: LiveContext, records: list[TrackerRecord], *, filters: dict | None = None, date_from: Any = None,
           date_to: Any = None, text: str | None = None, match: str = "all", min_mentions: int = 1,
           context: int = 1, call_ids: Iterable[str] | None = None) -> SearchResult:
    """Find calls by tracker mentions, call filters, a date range and free text.

    ``records``: activated trackers (``activated_records``); with ``match="all"`` (default)
    a call must mention every one at least ``min_mentions`` times, with ``"any"`` one of them.
    ``text``: words that must appear in one sentence of the call (case-insensitive, literal).
    ``context``: sentences shown before and after each matching sentence.
    """
    if match not in ("all", "any"):
        raise ValidationError("match", f"{match!r} is not 'all' or 'any'", "Use match='all' (default) or 'any'.")
    if isinstance(min_mentions, bool) or not isinstance(min_mentions, int) or min_mentions < 1:
        raise ValidationError("min_mentions", f"{min_mentions!r} is not a positive whole number", "Use 1 or more.")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise ValidationError("text", "is empty", "Give words to look for, or leave text out.")
    names = [r.name for r in records]
    calls = select_calls(ctx, filters=filters, date_from=date_from, date_to=date_to, call_ids=call_ids)
    keep = calls.select("call_id")
    hits = []
    for record in records:
        name = record.name
        live = ctx.live_results(record)
        counts = (live.detections.group_by("call_id").agg(pl.len().cast(pl.Int64).alias(name)))
        keep = keep.join(counts, on="call_id", how="left").with_columns(pl.col(name).fill_null(0))
        hits.append(live.detections.select("call_id", "sentence_id", "start_s", "speaker", "side", "text", "score")
                    .with_columns(pl.lit(name).alias("matched_by")))
    if text:
        needle = " ".join(text.split()).lower()
        found = (ctx.sentences.join(keep.select("call_id"), on="call_id", how="semi")
                 .filter(pl.col("text").str.to_lowercase().str.contains(needle, literal=True)))
        keep = keep.join(found.group_by("call_id").agg(pl.len().cast(pl.Int64).alias("text_matches")),
                         on="call_id", how="left").with_columns(pl.col("text_matches").fill_null(0))
        hits.append(found.select("call_id", "sentence_id", "start_s", "speaker", "side", "text")
                    .with_columns(pl.lit(None, pl.Float64).alias("score"), pl.lit("text").alias("matched_by")))
    else:
        keep = keep.with_columns(pl.lit(0, pl.Int64).alias("text_matches"))
    conds = [pl.col(n) >= min_mentions for n in names]
    if conds:
        cond = pl.all_horizontal(conds) if match == "all" else pl.any_horizontal(conds)
        if text:
            cond = cond & (pl.col("text_matches") > 0)
        keep = keep.filter(cond)
    elif text:
        keep = keep.filter(pl.col("text_matches") > 0)
    total = pl.sum_horizontal([pl.col(n) for n in names]) if names else pl.lit(0, pl.Int64)
    cols = [c for c in CALL_COLUMNS if c in calls.columns]
    result_calls = (keep.with_columns(total.cast(pl.Int64).alias("mentions"))
                    .join(calls.select(cols), on="call_id", how="left")
                    .select(*cols, "mentions", *names, "text_matches")
                    .sort(["mentions", "text_matches", "started_at"], descending=True))
    schema = {"call_id": pl.String, "sentence_id": pl.Int64, "start_s": pl.Float64, "speaker": pl.String,
              "side": pl.String, "text": pl.String, "score": pl.Float64, "matched_by": pl.String}
    sentences = (pl.concat([h.select([pl.col(c).cast(t) for c, t in schema.items()]) for h in hits])
                 if hits else pl.DataFrame(schema=schema))
    sentences = sentences.join(result_calls.select("call_id"), on="call_id", how="semi")
    sentences = (sentences.group_by("sentence_id", maintain_order=True)
                 .agg(pl.exclude("matched_by", "score").first(), pl.col("score").max(),
                      pl.col("matched_by").unique(maintain_order=True).str.join(", "))
                 .select(list(schema)))
    sentences = _with_context(ctx, sentences, context).sort(["call_id", "start_s"])
    return SearchResult(calls=result_calls, sentences=sentences, trackers=names, text=text,
                        descriptions={r.name: r.definition.description for r in records})


def _with_context(ctx: LiveContext, sentences: pl.DataFrame, n: int) -> pl.DataFrame:
    from workbench.trackers.rounds import with_context

    if n <= 0 or sentences.height == 0:
        return sentences.with_columns(pl.lit([], pl.List(pl.String)).alias("context_before"),
                                      pl.lit([], pl.List(pl.String)).alias("context_after"))
    around = with_context(ctx.sentences, sentences["sentence_id"].to_list(), n)
    fmt = lambda rows: [f"{r['speaker']}: {r['text']}" for r in rows]  # noqa: E731
    ids = sentences["sentence_id"].to_list()
    return sentences.with_columns(
        pl.Series("context_before", [fmt(around[i][0]) for i in ids], dtype=pl.List(pl.String)),
        pl.Series("context_after", [fmt(around[i][1]) for i in ids], dtype=pl.List(pl.String)))
