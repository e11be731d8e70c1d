"""prepare_import on valid input: formats, layouts, timings, ids, skip and replace."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from hashlib import blake2b

import polars as pl
import pytest

from workbench.core import schema
from workbench.corpus import prepare_import
from workbench.corpus.timing import PAUSE_S
from workbench.core.errors import InputError

from .conftest import base_calls, base_utterances, typed, write_rows


def comparable(prepared):
    return (prepared.calls.sort("call_id"), prepared.utterances.sort("call_id", "utterance_id"),
            prepared.sentences.sort("sentence_id"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "ndjson", "parquet"])
def test_every_format_gives_the_same_tables(make_files, fmt):
    reference = comparable(prepare_import(*make_files("csv")))
    prepared = prepare_import(*make_files(fmt))
    for got, want in zip(comparable(prepared), reference):
        assert got.equals(want), fmt


def test_layout_and_values(make_files):
    prepared = prepare_import(*make_files("csv"))
    calls = prepared.calls
    assert calls.schema == pl.Schema({**schema.CALLS_REQUIRED, "language": pl.String()})
    assert calls["started_at"].to_list() == [
        datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc),
        datetime(2026, 1, 6, 10, 0, tzinfo=timezone.utc),  # naive text is UTC
    ]
    assert calls["is_external"].to_list() == [True, False]
    assert calls["deal_stage"].to_list() == ["Discovery", None]
    assert calls["language"].to_list() == ["en", "en"]
    assert prepared.utterances.schema == pl.Schema(schema.UTTERANCES_STORED)
    assert prepared.sentences.schema == pl.Schema(schema.SENTENCES)
    assert not prepared.utterances["timing_estimated"].any()
    assert prepared.warnings == []
    assert prepared.sentences.filter(pl.col("call_id") == "c1")["text"].to_list() == [
        "Hi, thanks for joining.", "How are you?", "Good.", "Can we get a better price?",
        "Let me check with Dr. Smith."]


def test_dataframe_input_with_extra_columns_and_language(tmp_path):
    calls = pl.DataFrame(typed(base_calls(), "calls")).with_columns(
        pl.Series("region", ["north", None]), pl.Series("language", ["de", None]),
        pl.Series("started_at", ["2026-01-05T10:30:00+01:00", "2026-01-06"]))
    utts = pl.DataFrame(typed(base_utterances(), "utterances"))
    prepared = prepare_import(calls, utts)
    assert prepared.calls.columns == [*schema.CALLS_REQUIRED, "language", "region"]
    assert prepared.calls["region"].to_list() == ["north", None]
    assert prepared.calls["language"].to_list() == ["de", "en"]
    assert prepared.calls["started_at"].to_list() == [
        datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc), datetime(2026, 1, 6, tzinfo=timezone.utc)]


def test_extra_csv_columns_are_kept_as_text(make_files):
    calls = [dict(c, region="north", seats="12") for c in base_calls()]
    prepared = prepare_import(*make_files("csv", calls=calls))
    assert prepared.calls["seats"].dtype == pl.String
    assert prepared.calls["seats"].to_list() == ["12", "12"]


def test_boolean_words_in_csv(make_files):
    calls = base_calls() + [dict(base_calls()[0], call_id=f"b{i}", is_external=word)
                            for i, word in enumerate(["YES", "0", "1", " False "])]
    prepared = prepare_import(*make_files("csv", calls=calls))
    assert prepared.calls["is_external"].to_list() == [True, False, True, False, True, False]
    assert len(prepared.warnings) == 1 and "4 calls have no utterances" in prepared.warnings[0]


def test_missing_time_columns_are_estimated(make_files):
    utts = [{k: v for k, v in u.items() if k not in ("start_s", "end_s")} for u in base_utterances()]
    prepared = prepare_import(*make_files("csv", utterances=utts))
    u = prepared.utterances.filter(pl.col("call_id") == "c2")
    assert u["timing_estimated"].to_list() == [True, True]
    # "Here is the quote": 4 words at 2.5 words/s; the next turn follows after a pause.
    assert u["start_s"].to_list() == [0.0, 1.6 + PAUSE_S]
    assert u["end_s"].to_list() == pytest.approx([1.6, 1.6 + PAUSE_S + 1.6])
    assert prepared.sentences["timing_estimated"].all()


def test_partly_missing_times_continue_after_the_last_known_time(make_files):
    utts = base_utterances()
    utts[1].update(start_s="", end_s="")  # "Good. Can we get a better price?" = 7 words
    utts[2].update(start_s="")  # keeps its end at 12.0
    prepared = prepare_import(*make_files("csv", utterances=utts))
    c1 = prepared.utterances.filter(pl.col("call_id") == "c1")
    assert c1["timing_estimated"].to_list() == [False, True, True]
    assert c1["start_s"].to_list() == pytest.approx([0.0, 4.0 + PAUSE_S, 12.0 - 2.4])
    assert c1["end_s"].to_list() == pytest.approx([4.0, 4.0 + PAUSE_S + 2.8, 12.0])


def test_sentence_start_is_interpolated_by_character(make_files):
    prepared = prepare_import(*make_files("csv"))
    text = base_utterances()[0]["text"]  # 0.0 .. 4.0 s
    second = prepared.sentences.filter((pl.col("call_id") == "c1") & (pl.col("utterance_id") == 0)
                                       & (pl.col("sentence_index") == 1))
    assert second["start_s"][0] == pytest.approx(4.0 * text.index("How") / len(text))
    assert second["speaker"][0] == "ana" and second["side"][0] == "company"


def test_sentence_ids_are_stable_and_follow_the_documented_rule(make_files, tmp_path):
    first = prepare_import(*make_files("csv")).sentences
    again = prepare_import(*make_files("parquet")).sentences
    assert first["sentence_id"].to_list() == again["sentence_id"].to_list()
    assert first["sentence_id"].n_unique() == first.height
    assert (first["sentence_id"] >= 0).all()
    row = first.row(0, named=True)
    key = "\x1f".join([row["call_id"], str(row["utterance_id"]), str(row["sentence_index"]),
                       row["text"]]).encode()
    digest = int.from_bytes(blake2b(key, digest_size=8).digest(), "big")
    assert row["sentence_id"] == digest % 2**63


def test_changed_text_changes_only_its_sentence_ids(make_files):
    before = prepare_import(*make_files("csv")).sentences
    utts = base_utterances()
    utts[1]["text"] = "Good. Can we get a lower price?"
    after = prepare_import(*make_files("csv", utterances=utts)).sentences
    changed = set(before["sentence_id"]) ^ set(after["sentence_id"])
    moved = before.filter(pl.col("sentence_id").is_in(list(changed)))
    assert moved["text"].to_list() == ["Can we get a better price?"]
    assert len(changed) == 2


def test_existing_calls_are_skipped_by_default(make_files):
    prepared = prepare_import(*make_files("csv"), existing_call_ids={"c1", "elsewhere"})
    assert prepared.skipped_call_ids == ["c1"] and prepared.replaced_call_ids == []
    assert prepared.calls["call_id"].to_list() == ["c2"]
    assert set(prepared.utterances["call_id"]) == {"c2"}
    assert set(prepared.sentences["call_id"]) == {"c2"}
    assert any("replace=True" in w for w in prepared.warnings)


def test_existing_calls_are_returned_with_replace(make_files):
    prepared = prepare_import(*make_files("csv"), existing_call_ids={"c1"}, replace=True)
    assert prepared.replaced_call_ids == ["c1"] and prepared.skipped_call_ids == []
    assert prepared.calls["call_id"].to_list() == ["c1", "c2"]
    assert prepared.utterances.filter(pl.col("call_id") == "c1").height == 3


def test_utterances_follow_call_order_then_utterance_id(make_files):
    utts = list(reversed(base_utterances()))
    prepared = prepare_import(*make_files("jsonl", utterances=utts))
    assert prepared.utterances.select("call_id", "utterance_id").rows() == [
        ("c1", 0), ("c1", 1), ("c1", 2), ("c2", 0), ("c2", 1)]


def test_jsonl_blank_lines_keep_line_numbers(tmp_path):
    calls = write_rows(tmp_path / "calls.jsonl", typed(base_calls(), "calls"))
    utts = tmp_path / "u.jsonl"
    lines = [json.dumps(u) for u in typed(base_utterances(), "utterances")]
    lines[3] = lines[3].replace('"company"', '"vendor"')
    utts.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")
    with pytest.raises(InputError) as caught:
        prepare_import(calls, utts)
    assert caught.value.rows == [5]  # the fourth object, on line 5


def test_parquet_types_from_other_tools_are_cast(tmp_path):
    # pandas writes integer columns with gaps as floats, and ids are often numbers.
    calls = pl.DataFrame(typed(base_calls(), "calls")).with_columns(
        pl.Series("call_id", [1, 2]),
        pl.Series("started_at", [datetime(2026, 1, 5, 9, 30), datetime(2026, 1, 6, 10)]),
        pl.Series("is_external", [1, 0]),
    )
    utts = pl.DataFrame(typed(base_utterances(), "utterances")).with_columns(
        pl.col("call_id").str.replace("c", ""), pl.col("utterance_id").cast(pl.Float64))
    calls.write_parquet(tmp_path / "calls.parquet")
    utts.write_parquet(tmp_path / "utterances.parquet")
    prepared = prepare_import(tmp_path / "calls.parquet", tmp_path / "utterances.parquet")
    assert prepared.calls["call_id"].to_list() == ["1", "2"]
    assert prepared.calls["is_external"].to_list() == [True, False]
    assert prepared.calls["started_at"][0] == datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    assert prepared.utterances["utterance_id"].to_list() == [0, 1, 2, 0, 1]


def test_unsupported_language_is_split_with_english_rules(make_files):
    calls = [dict(c, language="tlh") for c in base_calls()]
    prepared = prepare_import(*make_files("csv", calls=calls))
    assert prepared.calls["language"].to_list() == ["tlh", "tlh"]
    assert any("tlh" in w and "English" in w for w in prepared.warnings)
    assert "How are you?" in prepared.sentences["text"].to_list()
