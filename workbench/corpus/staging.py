"""An import's first step: the new generation of the workspace's tables, staged but not live.

``stage_import`` reads and checks the user's files (``prepare_import``), merges the new calls
into the current tables (skipping or replacing calls already there) and writes the result as a
staged generation. The workspace then embeds its new sentences, journals its calls for the
active trackers and publishes it (workbench.workspace, docs/workspace.md): a kill before that
leaves the workspace as it was.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.corpus.info import ImportResult
from workbench.corpus.prepare import prepare_import
from workbench.storage.tables import CorpusTables, StagedGeneration


@dataclass
class StagedImport:
    """An import between its steps: the staged tables (None when nothing is new), the sentences
    they hold, the result so far and the import log's row."""

    generation: StagedGeneration | None
    sentences: pl.DataFrame
    result: ImportResult
    log: dict[str, Any]


def stage_import(tables: CorpusTables, current: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], calls: Any,
                 utterances: Any, *, replace: bool) -> StagedImport:
    """Stage ``calls`` and ``utterances`` merged into ``current`` (calls, utterances, sentences)."""
    old_calls, old_utts, old_sents = current
    existing = set(old_calls["call_id"].to_list())
    prepared = prepare_import(calls, utterances, existing_call_ids=existing, replace=replace)
    drop = prepared.replaced_call_ids
    if drop:
        old_calls = old_calls.filter(~pl.col("call_id").is_in(drop))
        old_utts = old_utts.filter(~pl.col("call_id").is_in(drop))
        old_sents = old_sents.filter(~pl.col("call_id").is_in(drop))
    staged = None
    sentences = _append(old_sents, prepared.sentences)
    if prepared.calls.height or drop:  # else nothing new: no need for another copy of the tables
        staged = tables.stage_generation(_concat_calls(old_calls, prepared.calls),
                                         _append(old_utts, prepared.utterances), sentences)
    log = dict(calls_source=_source_name(calls), utterances_source=_source_name(utterances),
               n_calls=prepared.calls.height, n_utterances=prepared.utterances.height,
               n_sentences=prepared.sentences.height, skipped_calls=len(prepared.skipped_call_ids),
               replaced_calls=len(drop))
    result = ImportResult(
        imported_calls=prepared.calls.height, imported_utterances=prepared.utterances.height,
        imported_sentences=prepared.sentences.height, skipped_call_ids=list(prepared.skipped_call_ids),
        replaced_call_ids=list(drop), warnings=list(prepared.warnings),
        new_call_ids=prepared.calls["call_id"].to_list())
    return StagedImport(staged, sentences, result, log)


def _concat_calls(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    if old.height == 0:
        return new
    # Extra columns may differ between imports: keep the union, nulls where a batch lacked one.
    return pl.concat([old, new], how="diagonal_relaxed")


def _append(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([old, new.select(old.columns)], how="vertical") if old.height else new


def _source_name(source: Any) -> str:
    if isinstance(source, pl.DataFrame):
        return f"DataFrame ({source.height} rows)"
    return str(source)
