"""Exports of live trackers' results: the detections table (CSV, Parquet) and the calls API
document (JSON), for BI tools and other systems."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from workbench.activation.context import LiveContext
from workbench.activation.frames import CALLS_SCORED_SCHEMA, DETECTION_SCHEMA
from workbench.core.csv_cells import write_spreadsheet_safe_csv
from workbench.core.errors import ValidationError
from workbench.core.files import atomic_path
from workbench.results.search import select_calls
from workbench.trackers.records import TrackerRecord

FORMATS = ("csv", "parquet", "json")


def detections_table(ctx: LiveContext, records: list[TrackerRecord], *, per: str = "sentence", filters: dict | None = None,
                     date_from: Any = None, date_to: Any = None) -> pl.DataFrame:
    """Detections of activated trackers (all by default) with their calls' columns.

    ``per="sentence"``: one row per detected sentence; ``per="call"``: one row per call and
    tracker, with the sentences looked in and the mentions (0 included).
    """
    if per not in ("sentence", "call"):
        raise ValidationError("per", f"{per!r} is not 'sentence' or 'call'", "Use per='sentence' or per='call'.")
    calls = select_calls(ctx, filters=filters, date_from=date_from, date_to=date_to)
    cols = [c for c in ("call_id", "title", "started_at", "team", "rep", "deal_stage") if c in calls.columns]
    frames = []
    for record in records:
        live = ctx.live_results(record)
        src = live.detections if per == "sentence" else live.calls
        frames.append(src.join(calls.select(cols), on="call_id", how="inner")
                      .with_columns(pl.lit(record.name).alias("tracker")))
    if per == "sentence":
        order = ["tracker", "version", *cols, "sentence_id", "utterance_id", "start_s", "speaker", "side", "text", "score"]
        schema = {**{c: calls.schema[c] for c in cols}, **DETECTION_SCHEMA, "tracker": pl.String}
    else:
        order = ["tracker", "version", *cols, "sentences", "mentions"]
        schema = {**{c: calls.schema[c] for c in cols}, **CALLS_SCORED_SCHEMA, "tracker": pl.String}
    if not frames:
        return pl.DataFrame(schema={c: schema[c] for c in order})
    out = pl.concat([f.select(order) for f in frames])
    return out.sort(["tracker", "started_at", *(["start_s"] if per == "sentence" else [])])


def export_detections(ctx: LiveContext, path: str | Path, records: list[TrackerRecord], *, format: str | None = None,
                      per: str = "sentence", **selection: Any) -> Path:
    """Write detections (``per="sentence"``) or per-call counts (``per="call"``) as CSV, Parquet or
    JSON (the calls API document; ``per`` is ignored). The format follows the file's suffix unless
    given. Written atomically. Returns the path.

    In CSV only, a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    is written with a leading ``'`` so that a spreadsheet cannot run it as a formula."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValidationError("format", f"{fmt or path.name!r} is not one of {', '.join(FORMATS)}",
                              "Name the file .csv, .parquet or .json, or pass format=.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if fmt == "json":
            doc = calls_api(ctx, records, **selection)
            tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        else:
            table = detections_table(ctx, records, per=per, **selection)
            if fmt == "csv":
                # Formula-like text cells get a leading ' so that a spreadsheet shows them as text.
                write_spreadsheet_safe_csv(
                    table.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%z")), tmp)
            else:
                table.write_parquet(tmp)
    return path


# ---------------------------------------------------------------------------------------------
# The calls API document
# ---------------------------------------------------------------------------------------------
def calls_api(ctx: LiveContext, records: list[TrackerRecord], call_ids: Iterable[str] | None = None, *,
              filters: dict | None = None, date_from: Any = None, date_to: Any = None) -> dict:
    """A JSON-ready document of calls and what the activated trackers found in them.

    For each call: its metadata and, for each tracker that looked at it, the count and the
    occurrences (time, speaker, side, sentence, score), in the spirit of a calls API's
    ``content.trackers``. A tracker that did not look at a call (out of its scope, or the call
    predates its backfill) is left out of that call rather than reported as 0.
    """
    calls = select_calls(ctx, filters=filters, date_from=date_from, date_to=date_to, call_ids=call_ids).sort("started_at")
    per_tracker = {}
    for record in records:
        live = ctx.live_results(record)
        scored = {r["call_id"]: r for r in live.calls.join(calls.select("call_id"), on="call_id", how="semi")
                  .iter_rows(named=True)}
        occ: dict[str, list] = {}
        for r in (live.detections.join(calls.select("call_id"), on="call_id", how="semi")
                  .sort(["call_id", "start_s"]).iter_rows(named=True)):
            occ.setdefault(r["call_id"], []).append({
                "startTime": r["start_s"], "speaker": r["speaker"], "side": r["side"], "sentence": r["text"],
                "sentenceId": r["sentence_id"], "score": round(float(r["score"]), 4)})
        per_tracker[record.name] = (record, live.version, scored, occ)
    out_calls = []
    for c in calls.iter_rows(named=True):
        found = []
        for name, (record, version, scored, occ) in per_tracker.items():
            if c["call_id"] not in scored:
                continue
            found.append({"id": record.id, "name": name, "type": record.kind, "version": version,
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
        "workspace": str(ctx.path),
        "generatedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "trackers": [{"id": r.id, "name": n, "description": r.definition.description, "version": v}
                     for n, (r, v, _, _) in per_tracker.items()],
        "records": {"totalRecords": len(out_calls)},
        "calls": out_calls,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
