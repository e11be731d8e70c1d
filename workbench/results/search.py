"""Results of live trackers: search, team stats with plots, exports and the calls API document.

Everything here reads the detections that activation stored (workbench.activation.service), never a
model: results are what the *published* versions found, the same numbers every stakeholder sees.
"""
from __future__ import annotations

from workbench.core.files import atomic_path
from workbench.core.dates import utc_datetime

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import polars as pl

from workbench.activation import service as act
from workbench.core.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from workbench.workspace import Workspace

CALL_COLUMNS = ("call_id", "title", "started_at", "duration_s", "team", "rep", "deal_stage", "channel", "is_external")
FORMATS = ("csv", "parquet", "json")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def _names(ws: "Workspace", trackers: Any, *, default_all: bool) -> list[str]:
    """Tracker names from None / a name / a tracker / a list of either; only activated ones."""
    act.ensure_schema(ws.store)
    if trackers is None:
        if not default_all:
            return []
        rows = ws.store.query("SELECT t.name FROM activations a JOIN trackers t ON t.id=a.tracker_id ORDER BY t.id")
        return [r["name"] for r in rows]
    if isinstance(trackers, str) or hasattr(trackers, "name"):
        trackers = [trackers]
    out = []
    for t in trackers:
        tracker = ws.tracker(t) if isinstance(t, str) else t  # NotFoundError lists the names
        if act.activation_row(ws, tracker.id) is None:
            raise ValidationError(f"trackers.{tracker.name}", "has never been activated, so it has no results",
                                  f"Activate it first: ws.tracker({tracker.name!r}).activate().")
        out.append(tracker.name)
    return out


def _date(value: Any, field: str, *, end: bool) -> dt.datetime | None:
    return utc_datetime(value, field, end=end)


def select_calls(ws: "Workspace", *, filters: dict | None = None, date_from: Any = None, date_to: Any = None,
                 call_ids: Iterable[str] | None = None) -> pl.DataFrame:
    """The workspace's calls restricted by call filters (as in a tracker), a date range and ids."""
    from workbench.trackers.filters import filter_expression

    calls = ws.calls
    if filters:
        if not isinstance(filters, dict):
            raise ValidationError("filters", f"expected a mapping of column to value, got {type(filters).__name__}",
                                  "Use e.g. {'team': ['EMEA'], 'deal_stage': 'Negotiation'}.")
        calls = calls.filter(filter_expression(filters, dict(calls.schema)))
    lo, hi = _date(date_from, "date_from", end=False), _date(date_to, "date_to", end=True)
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


def _live(ws: "Workspace", name: str) -> act.LiveResults:
    return act.live_results(ws, ws.tracker(name))


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

    def __len__(self) -> int:
        return self.calls.height

    def __str__(self) -> str:
        what = " and ".join([*(f"'{t}'" for t in self.trackers), *([f'"{self.text}"'] if self.text else [])])
        lines = [f"{self.calls.height:,} calls" + (f" mention {what}" if what else "")]
        for r in self.calls.head(20).iter_rows(named=True):
            counts = ", ".join(f"{t} {r[t]}" for t in self.trackers)
            if self.text:
                counts = ", ".join(x for x in (counts, f'"{self.text}" {r["text_matches"]}') if x)
            lines.append(f"  {r['started_at']:%Y-%m-%d} {r['call_id']:<14} {str(r['team']):<14} {str(r['rep']):<10} "
                         f"{counts}")
        if self.calls.height > 20:
            lines.append(f"  … and {self.calls.height - 20:,} more")
        return "\n".join(lines)


def search(ws: "Workspace", trackers: Any = None, *, filters: dict | None = None, date_from: Any = None,
           date_to: Any = None, text: str | None = None, match: str = "all", min_mentions: int = 1,
           context: int = 1, call_ids: Iterable[str] | None = None) -> SearchResult:
    """Find calls by tracker mentions, call filters, a date range and free text.

    ``trackers``: a name or a list of names of activated trackers; with ``match="all"`` (default)
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
    names = _names(ws, trackers, default_all=False)
    calls = select_calls(ws, filters=filters, date_from=date_from, date_to=date_to, call_ids=call_ids)
    keep = calls.select("call_id")
    hits = []
    for name in names:
        live = _live(ws, name)
        counts = (live.detections.group_by("call_id").agg(pl.len().cast(pl.Int64).alias(name)))
        keep = keep.join(counts, on="call_id", how="left").with_columns(pl.col(name).fill_null(0))
        hits.append(live.detections.select("call_id", "sentence_id", "start_s", "speaker", "side", "text", "score")
                    .with_columns(pl.lit(name).alias("matched_by")))
    if text:
        needle = " ".join(text.split()).lower()
        found = (ws.sentences.join(keep.select("call_id"), on="call_id", how="semi")
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
    sentences = _with_context(ws, sentences, context).sort(["call_id", "start_s"])
    return SearchResult(calls=result_calls, sentences=sentences, trackers=names, text=text)


def _with_context(ws: "Workspace", sentences: pl.DataFrame, n: int) -> pl.DataFrame:
    from workbench.trackers.rounds import with_context

    if n <= 0 or sentences.height == 0:
        return sentences.with_columns(pl.lit([], pl.List(pl.String)).alias("context_before"),
                                      pl.lit([], pl.List(pl.String)).alias("context_after"))
    ctx = with_context(ws.sentences, sentences["sentence_id"].to_list(), n)
    fmt = lambda rows: [f"{r['speaker']}: {r['text']}" for r in rows]  # noqa: E731
    ids = sentences["sentence_id"].to_list()
    return sentences.with_columns(
        pl.Series("context_before", [fmt(ctx[i][0]) for i in ids], dtype=pl.List(pl.String)),
        pl.Series("context_after", [fmt(ctx[i][1]) for i in ids], dtype=pl.List(pl.String)))


# ---------------------------------------------------------------------------------------------
# Team stats
# ---------------------------------------------------------------------------------------------
@dataclass
class TeamStats:
    """Mention rate of one tracker per team, rep and month.

    ``share`` is the share of calls looked in (in the tracker's scope) with at least one mention;
    ``mentions_per_call`` the mentions over those same calls.
    """

    tracker: str
    version: int | None
    by_team: pl.DataFrame
    by_rep: pl.DataFrame
    by_month: pl.DataFrame
    overall: dict

    def table(self, by: str) -> pl.DataFrame:
        tables = {"team": self.by_team, "rep": self.by_rep, "month": self.by_month}
        if by not in tables:
            raise ValidationError("by", f"{by!r} is not one of team, rep, month", "Use by='team', 'rep' or 'month'.")
        return tables[by]

    def plot(self, by: str = "team") -> "Figure":
        """Two panels: share of calls with a mention, and mentions per call."""
        from matplotlib.figure import Figure

        frame = self.table(by)
        labels = [str(x) for x in frame[by].to_list()]
        fig = Figure(figsize=(max(6, 0.45 * len(labels) + 3), 5.5), layout="constrained")
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        ax1.bar(labels, frame["share"].to_list(), color="#3b7dd8")
        ax1.set_ylabel("calls with a mention")
        ax1.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax1.axhline(self.overall["share"], color="#888", linestyle="--", linewidth=1, label="all calls")
        ax1.legend(loc="upper right", fontsize=8)
        ax2.bar(labels, frame["mentions_per_call"].to_list(), color="#e08a2c")
        ax2.set_ylabel("mentions per call")
        ax2.set_xlabel(by)
        if len(labels) > 6:
            for label in ax2.get_xticklabels():
                label.set_rotation(45)
                label.set_ha("right")
        version = f" (version {self.version})" if self.version is not None else ""
        fig.suptitle(f"{self.tracker}{version}: mentions per {by}")
        return fig

    def figures(self) -> dict[str, "Figure"]:
        return {by: self.plot(by) for by in ("team", "rep", "month")}

    def __str__(self) -> str:
        o = self.overall
        lines = [f"'{self.tracker}': {o['calls_with_mention']:,} of {o['calls']:,} calls ({o['share']:.0%}), "
                 f"{o['mentions_per_call']:.2f} mentions per call"]
        for r in self.by_team.iter_rows(named=True):
            lines.append(f"  {str(r['team']):<16} {r['calls_with_mention']:>6,} / {r['calls']:<6,} {r['share']:>5.0%}"
                         f"  {r['mentions_per_call']:.2f}/call")
        return "\n".join(lines)


def team_stats(ws: "Workspace", tracker: Any, *, filters: dict | None = None, date_from: Any = None,
               date_to: Any = None) -> TeamStats:
    """Mention rate of an activated tracker per team, rep and month (optionally for some calls only)."""
    name = _names(ws, tracker, default_all=False)[0]
    live = _live(ws, name)
    calls = select_calls(ws, filters=filters, date_from=date_from, date_to=date_to)
    per_call = (live.calls.select("call_id", "mentions")
                .join(calls.select("call_id", "team", "rep", pl.col("started_at").dt.strftime("%Y-%m").alias("month")),
                      on="call_id", how="inner"))

    def by(key: str) -> pl.DataFrame:
        return (per_call.group_by(key)
                .agg(pl.len().alias("calls"), (pl.col("mentions") > 0).sum().alias("calls_with_mention"),
                     pl.col("mentions").sum().alias("mentions"))
                .with_columns((pl.col("calls_with_mention") / pl.col("calls")).alias("share"),
                              (pl.col("mentions") / pl.col("calls")).alias("mentions_per_call"))
                .sort(key, nulls_last=True))

    n = per_call.height
    k = int((per_call["mentions"] > 0).sum()) if n else 0
    m = int(per_call["mentions"].sum()) if n else 0
    overall = {"calls": n, "calls_with_mention": k, "mentions": m, "share": k / n if n else 0.0,
               "mentions_per_call": m / n if n else 0.0}
    return TeamStats(tracker=name, version=live.version, by_team=by("team"), by_rep=by("rep"), by_month=by("month"),
                     overall=overall)


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------
def detections_table(ws: "Workspace", trackers: Any = None, *, per: str = "sentence", filters: dict | None = None,
                     date_from: Any = None, date_to: Any = None) -> pl.DataFrame:
    """Detections of activated trackers (all by default) with their calls' columns.

    ``per="sentence"``: one row per detected sentence; ``per="call"``: one row per call and
    tracker, with the sentences looked in and the mentions (0 included).
    """
    if per not in ("sentence", "call"):
        raise ValidationError("per", f"{per!r} is not 'sentence' or 'call'", "Use per='sentence' or per='call'.")
    calls = select_calls(ws, filters=filters, date_from=date_from, date_to=date_to)
    cols = [c for c in ("call_id", "title", "started_at", "team", "rep", "deal_stage") if c in calls.columns]
    frames = []
    for name in _names(ws, trackers, default_all=True):
        live = _live(ws, name)
        src = live.detections if per == "sentence" else live.calls
        frames.append(src.join(calls.select(cols), on="call_id", how="inner")
                      .with_columns(pl.lit(name).alias("tracker")))
    if per == "sentence":
        order = ["tracker", "version", *cols, "sentence_id", "utterance_id", "start_s", "speaker", "side", "text", "score"]
        schema = {**{c: calls.schema[c] for c in cols}, **act.DETECTION_SCHEMA, "tracker": pl.String}
    else:
        order = ["tracker", "version", *cols, "sentences", "mentions"]
        schema = {**{c: calls.schema[c] for c in cols}, **act.CALLS_SCORED_SCHEMA, "tracker": pl.String}
    if not frames:
        return pl.DataFrame(schema={c: schema[c] for c in order})
    out = pl.concat([f.select(order) for f in frames])
    return out.sort(["tracker", "started_at", *(["start_s"] if per == "sentence" else [])])


def export_detections(ws: "Workspace", path: str | Path, trackers: Any = None, *, format: str | None = None,
                      per: str = "sentence", **selection: Any) -> Path:
    """Write detections (``per="sentence"``) or per-call counts (``per="call"``) as CSV, Parquet or
    JSON (the calls API document; ``per`` is ignored). The format follows the file's suffix unless
    given. Written atomically. Returns the path."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValidationError("format", f"{fmt or path.name!r} is not one of {', '.join(FORMATS)}",
                              "Name the file .csv, .parquet or .json, or pass format=.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if fmt == "json":
            doc = calls_api(ws, trackers=trackers, **selection)
            tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        else:
            table = detections_table(ws, trackers, per=per, **selection)
            if fmt == "csv":
                table.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%z")).write_csv(tmp)
            else:
                table.write_parquet(tmp)
    return path


# ---------------------------------------------------------------------------------------------
# The calls API document
# ---------------------------------------------------------------------------------------------
def calls_api(ws: "Workspace", call_ids: Iterable[str] | None = None, trackers: Any = None, *,
              filters: dict | None = None, date_from: Any = None, date_to: Any = None) -> dict:
    """A JSON-ready document of calls and what the activated trackers found in them.

    For each call: its metadata and, for each tracker that looked at it, the count and the
    occurrences (time, speaker, side, sentence, score), in the spirit of a calls API's
    ``content.trackers``. A tracker that did not look at a call (out of its scope, or the call
    predates its backfill) is left out of that call rather than reported as 0.
    """
    calls = select_calls(ws, filters=filters, date_from=date_from, date_to=date_to, call_ids=call_ids).sort("started_at")
    names = _names(ws, trackers, default_all=True)
    per_tracker = {}
    for name in names:
        t = ws.tracker(name)
        live = _live(ws, name)
        scored = {r["call_id"]: r for r in live.calls.join(calls.select("call_id"), on="call_id", how="semi")
                  .iter_rows(named=True)}
        occ: dict[str, list] = {}
        for r in (live.detections.join(calls.select("call_id"), on="call_id", how="semi")
                  .sort(["call_id", "start_s"]).iter_rows(named=True)):
            occ.setdefault(r["call_id"], []).append({
                "startTime": r["start_s"], "speaker": r["speaker"], "side": r["side"], "sentence": r["text"],
                "sentenceId": r["sentence_id"], "score": round(float(r["score"]), 4)})
        per_tracker[name] = (t.id, live.version, scored, occ)
    out_calls = []
    for c in calls.iter_rows(named=True):
        found = []
        for name, (tid, version, scored, occ) in per_tracker.items():
            if c["call_id"] not in scored:
                continue
            found.append({"id": tid, "name": name, "type": "smart", "version": version,
                          "count": int(scored[c["call_id"]]["mentions"]), "occurrences": occ.get(c["call_id"], [])})
        out_calls.append({
            "metaData": {
                "id": c["call_id"], "title": c.get("title"), "started": _iso(c["started_at"]),
                "duration": c.get("duration_s"), "team": c.get("team"), "rep": c.get("rep"),
                "dealStage": c.get("deal_stage"), "channel": c.get("channel"), "isExternal": c.get("is_external"),
            },
            "content": {"trackers": found},
        })
    return {
        "workspace": str(ws.path),
        "generatedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "trackers": [{"id": tid, "name": n, "version": v} for n, (tid, v, _, _) in per_tracker.items()],
        "records": {"totalRecords": len(out_calls)},
        "calls": out_calls,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
