"""Turn a user's calls and utterances tables into the rows a workspace stores.

``prepare_import`` is pure: it reads and checks its inputs and returns new tables, and the
workspace writes them in one step. Every problem with the data is an
:class:`~workbench.core.errors.InputError` naming the file, rows, column and fix; problems that
do not stop an import (a call without utterances, times going backwards) are warnings.

Calls already in the workspace are skipped with their utterances, or returned to replace
the stored ones with ``replace=True``. Utterances of a call that is only in the workspace
are refused: appending them would mix two versions of a stored call.

Times going backwards within a call (by utterance_id) are a warning, not an error:
overlapping speech and diarisation make start times out of order in real recordings, and
the utterance_id order is kept as given.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from workbench.core import schema
from workbench.corpus.readers import ROW, TableSource, read_table
from workbench.corpus.sentences import LONG_UTTERANCE_CHARS, WINDOW_CHARS, split_utterances, splitter_language
from workbench.corpus.timing import estimate_timings
from workbench.corpus.validate import validate_calls, validate_utterances
from workbench.core.errors import InputError

# Utterances may end a little after the call's recorded duration (rounding, trailing
# silence cut); only more than this is worth a warning.
DURATION_SLACK_S = 1.0


@dataclass
class PreparedImport:
    calls: pl.DataFrame
    utterances: pl.DataFrame
    sentences: pl.DataFrame
    skipped_call_ids: list[str] = field(default_factory=list)
    replaced_call_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _few(values: list[object], limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def prepare_import(
    calls: TableSource,
    utterances: TableSource,
    *,
    existing_call_ids: Iterable[str] = frozenset(),
    replace: bool = False,
) -> PreparedImport:
    """Read, check and convert one import.

    ``calls`` and ``utterances`` are paths to .parquet, .csv or .jsonl/.ndjson files, or
    polars DataFrames. Returns calls (required columns, ``language``, extra columns),
    utterances (schema.UTTERANCES_STORED) and sentences (schema.SENTENCES).
    """
    existing = set(existing_call_ids)
    calls_df, calls_src = read_table(calls, "calls")
    utts_df, utts_src = read_table(utterances, "utterances")
    calls_df, warnings = validate_calls(calls_df, calls_src)
    utts_df, more = validate_utterances(utts_df, utts_src)
    warnings += more

    known = calls_df["call_id"]
    orphan = ~utts_df["call_id"].is_in(known.implode())
    if orphan.any():
        raise _orphans(utts_df.filter(orphan), existing, utts_src, calls_src)

    in_workspace = calls_df.filter(pl.col("call_id").is_in(list(existing)))["call_id"].to_list()
    skipped: list[str] = []
    replaced: list[str] = []
    if in_workspace and replace:
        replaced = in_workspace
    elif in_workspace:
        skipped = in_workspace
        calls_df = calls_df.filter(~pl.col("call_id").is_in(skipped))
        utts_df = utts_df.filter(~pl.col("call_id").is_in(skipped))
        warnings.append(f"skipped {len(skipped)} call{'s' if len(skipped) > 1 else ''} already in "
                        f"the workspace ({_few(skipped)}); import with replace=True to overwrite them")

    silent = calls_df.filter(~pl.col("call_id").is_in(utts_df["call_id"].implode()))
    if silent.height:
        warnings.append(f"{calls_src}: {silent.height} call{'s have' if silent.height > 1 else ' has'} "
                        f"no utterances in {utts_src} (rows {_few(silent[ROW].to_list())}: "
                        f"{_few(silent['call_id'].to_list())}); they are imported without sentences")

    # Calls keep the input order; utterances follow their call, in utterance_id order.
    order = calls_df.select("call_id", pl.int_range(pl.len()).alias("_call_pos"))
    utts_df = (utts_df.join(order, on="call_id", how="left")
               .sort("_call_pos", "utterance_id").drop("_call_pos"))
    warnings += _timing_warnings(utts_df, calls_df, utts_src)
    utts_df = estimate_timings(utts_df)

    languages = dict(zip(calls_df["call_id"].to_list(), calls_df["language"].to_list()))
    unsupported = sorted({lang for lang in languages.values() if not splitter_language(lang)})
    if unsupported:
        warnings.append(f"{calls_src}: no sentence rules for language {', '.join(unsupported)}; "
                        f"those calls are split with the English rules")
    warnings += _long_utterance_warnings(utts_df, utts_src)
    sentences = split_utterances(utts_df, languages)

    return PreparedImport(
        calls=calls_df.drop(ROW),
        utterances=utts_df.select(list(schema.UTTERANCES_STORED)).cast(schema.UTTERANCES_STORED),
        sentences=sentences,
        skipped_call_ids=skipped,
        replaced_call_ids=replaced,
        warnings=warnings,
    )


def _orphans(rows: pl.DataFrame, existing: set[str], utts_src: str, calls_src: str) -> InputError:
    ids = rows["call_id"].unique(maintain_order=True).to_list()
    stored = [c for c in ids if c in existing]
    if stored:
        picked = rows.filter(pl.col("call_id").is_in(stored))
        return InputError(
            f"utterances of call{'s' if len(stored) > 1 else ''} {_few(stored)} that "
            f"{'are' if len(stored) > 1 else 'is'} already in the workspace but not in {calls_src}; "
            f"adding utterances to a stored call would mix two versions of it",
            source=utts_src, rows=picked[ROW].to_list(), column="call_id",
            fix=f"Put the whole call (its row in {calls_src} and all its utterances) in the import "
                f"with replace=True, or remove those rows",
        )
    return InputError(
        f"call_id {_few([repr(c) for c in ids])} {'is' if len(ids) == 1 else 'are'} not in {calls_src}",
        source=utts_src, rows=rows[ROW].to_list(), column="call_id",
        fix=f"Add the call{'s' if len(ids) > 1 else ''} to {calls_src} or remove those utterances "
            f"(check for stray spaces or changed case in the ids)",
    )


def _long_utterance_warnings(utts: pl.DataFrame, source: str) -> list[str]:
    """A note naming utterances long enough to be split a window at a time."""
    long = utts.filter(pl.col("text").str.len_chars() > LONG_UTTERANCE_CHARS)
    if long.height == 0:
        return []
    where = [f"{c} utterance {u} ({n:,} characters)" for c, u, n in
             long.select("call_id", "utterance_id", pl.col("text").str.len_chars()).iter_rows()]
    return [f"{source}: {long.height} utterance{'s are' if long.height > 1 else ' is'} longer than "
            f"{LONG_UTTERANCE_CHARS:,} characters (rows {_few(long[ROW].to_list())}: {_few(where)}); "
            f"{'they are' if long.height > 1 else 'it is'} split into sentences {WINDOW_CHARS:,} characters at "
            f"a time, and a sentence longer than that is cut at a space. Check that each row holds one "
            f"speaker turn"]


def _timing_warnings(utts: pl.DataFrame, calls: pl.DataFrame, source: str) -> list[str]:
    warnings = []
    back = utts.filter((pl.col("start_s") < pl.col("start_s").shift(1).over("call_id")).fill_null(False))
    if back.height:
        calls_back = back["call_id"].unique(maintain_order=True).to_list()
        warnings.append(
            f"{source}: start_s goes back in time from one utterance_id to the next in "
            f"{len(calls_back)} call{'s' if len(calls_back) > 1 else ''} ({_few(calls_back)}; rows "
            f"{_few(back[ROW].to_list())}); utterances are kept in utterance_id order")
    ends = utts.group_by("call_id").agg(pl.col("end_s").max()).join(
        calls.select("call_id", "duration_s"), on="call_id")
    late = ends.filter(pl.col("end_s") > pl.col("duration_s") + DURATION_SLACK_S)["call_id"].to_list()
    if late:
        warnings.append(f"{source}: utterances end after the call's duration_s in {len(late)} "
                        f"call{'s' if len(late) > 1 else ''} ({_few(late)})")
    return warnings
