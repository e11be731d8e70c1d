"""The import format and the derived tables, in one place.

Row numbers in error messages are 1-based data rows (the header of a CSV is not counted),
so they match what a user sees in a spreadsheet or `head -n`.
"""
from __future__ import annotations

import polars as pl

SIDES = ("company", "customer", "unknown")
CHANNELS = ("call", "email")
MENTIONED_BY = ("company", "customer", "any")

# Required columns of the calls table and the dtype each is cast to on import.
CALLS_REQUIRED: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "duration_s": pl.Float64(),
    "title": pl.String(),
    "is_external": pl.Boolean(),
    "team": pl.String(),
    "rep": pl.String(),
    "deal_stage": pl.String(),  # nullable
    "channel": pl.String(),
}
CALLS_OPTIONAL: dict[str, tuple[pl.DataType, object]] = {
    "language": (pl.String(), "en"),
}
CALLS_NULLABLE = {"deal_stage", "title", "language"}

UTTERANCES_REQUIRED: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "utterance_id": pl.Int64(),
    "speaker": pl.String(),
    "side": pl.String(),
    "start_s": pl.Float64(),  # nullable: estimated from word count when missing
    "end_s": pl.Float64(),  # nullable
    "text": pl.String(),
}
UTTERANCES_NULLABLE = {"start_s", "end_s"}

# Stored utterances carry one more column: whether their times were estimated.
UTTERANCES_STORED: dict[str, pl.DataType] = {
    **UTTERANCES_REQUIRED,
    "timing_estimated": pl.Boolean(),
}

SENTENCES: dict[str, pl.DataType] = {
    "sentence_id": pl.Int64(),  # stable hash of call, utterance, index and text
    "call_id": pl.String(),
    "utterance_id": pl.Int64(),
    "sentence_index": pl.Int32(),  # order within the utterance
    "speaker": pl.String(),
    "side": pl.String(),
    "start_s": pl.Float64(),  # interpolated within the utterance by character position
    "timing_estimated": pl.Boolean(),
    "text": pl.String(),
}

# Speaking rate used to estimate missing times (same as the shared datasets' converter).
WORDS_PER_SECOND = 2.5
