"""Builders for import files in every supported format."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

def base_calls() -> list[dict]:
    return [
        {"call_id": "c1", "started_at": "2026-01-05T09:30:00Z", "duration_s": "30.0",
         "title": "Intro call", "is_external": "true", "team": "EMEA", "rep": "ana",
         "deal_stage": "Discovery", "channel": "call"},
        {"call_id": "c2", "started_at": "2026-01-06 10:00:00", "duration_s": "12.5",
         "title": "Follow-up", "is_external": "no", "team": "EMEA", "rep": "bo",
         "deal_stage": "", "channel": "email"},
    ]


def base_utterances() -> list[dict]:
    return [
        {"call_id": "c1", "utterance_id": "0", "speaker": "ana", "side": "company",
         "start_s": "0.0", "end_s": "4.0", "text": "Hi, thanks for joining. How are you?"},
        {"call_id": "c1", "utterance_id": "1", "speaker": "kim", "side": "customer",
         "start_s": "4.5", "end_s": "9.0", "text": "Good. Can we get a better price?"},
        {"call_id": "c1", "utterance_id": "2", "speaker": "ana", "side": "company",
         "start_s": "9.5", "end_s": "12.0", "text": "Let me check with Dr. Smith."},
        {"call_id": "c2", "utterance_id": "0", "speaker": "bo", "side": "company",
         "start_s": "0.0", "end_s": "5.0", "text": "Here is the quote"},
        {"call_id": "c2", "utterance_id": "1", "speaker": "lee", "side": "customer",
         "start_s": "6.0", "end_s": "12.0", "text": "thanks. we'll review it"},
    ]


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Write rows as CSV, JSONL or Parquet by the file's extension, values as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix in (".jsonl", ".ndjson"):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        pl.DataFrame(rows).write_parquet(path)
    return path


def _convert(value, kind):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return value  # a deliberately wrong value stays as it is


def typed(rows: list[dict], table: str) -> list[dict]:
    """The rows with JSON/Parquet-native values instead of CSV text.

    Values that do not convert stay text, so a bad value reaches the file as written;
    a column with one such value is then a text column in Parquet.
    """
    out = []
    for row in rows:
        row = dict(row)
        for key in ("duration_s", "start_s", "end_s"):
            if key in row and row[key] not in ("", None):
                row[key] = _convert(row[key], float)
        if "utterance_id" in row:
            row["utterance_id"] = _convert(row["utterance_id"], int)
        if table == "calls" and "is_external" in row:
            flag = row["is_external"]
            row["is_external"] = {"true": True, "yes": True, "false": False, "no": False}.get(flag, flag)
        if "deal_stage" in row:
            row["deal_stage"] = row["deal_stage"] or None
        out.append(row)
    return out


@pytest.fixture
def make_files(tmp_path):
    """make_files(fmt, calls=None, utterances=None) -> (calls path, utterances path)."""
    def make(fmt: str, calls: list[dict] | None = None, utterances: list[dict] | None = None):
        calls = base_calls() if calls is None else calls
        utterances = base_utterances() if utterances is None else utterances
        if fmt != "csv":
            calls, utterances = typed(calls, "calls"), typed(utterances, "utterances")
        return (write_rows(tmp_path / f"calls.{fmt}", calls),
                write_rows(tmp_path / f"utterances.{fmt}", utterances))
    return make
