"""Each malformed input gives one InputError naming the file, rows, column and fix."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from workbench.corpus import prepare_import
from workbench.core.errors import InputError

from .conftest import base_calls, base_utterances, typed, write_rows


def edit(rows: list[dict], index: int, **changes) -> list[dict]:
    rows = [dict(r) for r in rows]
    rows[index].update(changes)
    return rows


def without(rows: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in columns} for r in rows]


@dataclass
class Case:
    name: str
    fmt: str  # file format of both tables
    calls: list[dict] | bytes | None = None  # None: the valid base table
    utterances: list[dict] | bytes | None = None
    blame: str = "utterances"  # which file the error must name
    rows: list[int] = field(default_factory=list)
    column: str | None = None
    says: str = ""  # must appear in the message
    existing: frozenset = frozenset()
    calls_ext: str | None = None


def build(tmp_path: Path, case: Case) -> tuple[Path, Path]:
    paths = []
    for table, content, base in (("calls", case.calls, base_calls),
                                 ("utterances", case.utterances, base_utterances)):
        ext = case.calls_ext if table == "calls" and case.calls_ext else case.fmt
        path = tmp_path / f"{table}.{ext}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            rows = base() if content is None else content
            write_rows(path, rows if case.fmt == "csv" else typed(rows, table))
        paths.append(path)
    return paths[0], paths[1]


CASES = [
    Case("empty file", "csv", calls=b"", blame="calls", says="the file is empty"),
    Case("header only", "csv", utterances=b"call_id,utterance_id,speaker,side,text\n",
         says="no rows"),
    Case("unreadable parquet", "parquet", calls=b"PAR1 this is not parquet", blame="calls",
         says="cannot read the file as Parquet"),
    Case("unknown extension", "csv", blame="calls", calls_ext="xlsx", says="unknown file type"),
    Case("missing columns", "csv", calls=without(base_calls(), "team", "rep"), blame="calls",
         column="team", says="'team', 'rep'"),
    Case("duration not a number", "csv", calls=edit(base_calls(), 1, duration_s="abc"),
         blame="calls", rows=[2], column="duration_s", says="'abc' is not a number"),
    Case("boolean maybe", "csv", calls=edit(base_calls(), 0, is_external="maybe"), blame="calls",
         rows=[1], column="is_external", says="true/false"),
    Case("bad timestamp", "jsonl", calls=edit(base_calls(), 1, started_at="yesterday"),
         blame="calls", rows=[2], column="started_at", says="ISO-8601"),
    Case("duplicate call_id", "csv", calls=edit(base_calls(), 1, call_id="c1"), blame="calls",
         rows=[1, 2], column="call_id", says="duplicate call_id"),
    Case("duplicate utterance", "jsonl", utterances=edit(base_utterances(), 1, utterance_id="0"),
         rows=[1, 2], column="utterance_id", says="duplicate utterance"),
    Case("unknown call", "csv", utterances=edit(base_utterances(), 4, call_id="c9"), rows=[5],
         column="call_id", says="'c9' is not in"),
    Case("call only in workspace", "csv", utterances=edit(base_utterances(), 4, call_id="old"),
         rows=[5], column="call_id", says="already in the workspace", existing=frozenset({"old"})),
    Case("blank text", "csv", utterances=edit(base_utterances(), 2, text="   "), rows=[3],
         column="text", says="has no value"),
    Case("invalid utf-8 csv", "csv",
         utterances=b"call_id,utterance_id,speaker,side,text\nc1,0,ana,company,hi\n"
                    b"c1,1,kim,customer,caf\xe9 ok\n",
         rows=[2], says="not UTF-8 text"),
    Case("invalid utf-8 jsonl", "jsonl",
         utterances=b'{"call_id": "c1", "utterance_id": 0, "speaker": "a", "side": "company", '
                    b'"text": "hi"}\n{"call_id": "c1", "utterance_id": 1, "speaker": "a", '
                    b'"side": "company", "text": "caf\xe9"}\n',
         rows=[2], says="line 2"),
    Case("invalid json", "jsonl", utterances=b'{"call_id": "c1"}\n{"call_id": "c1"}\n{"call_id": \n',
         rows=[3], says="line 3 is not valid JSON"),
    Case("negative start", "parquet", utterances=edit(base_utterances(), 3, start_s="-1.0"),
         rows=[4], column="start_s", says="negative value -1.0"),
    Case("end before start", "csv", utterances=edit(base_utterances(), 1, end_s="3.0"), rows=[2],
         column="end_s", says="end_s is before start_s"),
    Case("unknown side", "csv", utterances=edit(base_utterances(), 0, side="buyer"), rows=[1],
         column="side", says="company, customer, unknown"),
    Case("unknown channel", "jsonl", calls=edit(base_calls(), 0, channel="fax"), blame="calls",
         rows=[1], column="channel", says="call, email"),
    Case("null speaker", "csv", utterances=edit(base_utterances(), 3, speaker=""), rows=[4],
         column="speaker", says="has no value"),
    Case("null team in parquet", "parquet", calls=edit(base_calls(), 1, team=None), blame="calls",
         rows=[2], column="team", says="has no value"),
    Case("fractional utterance_id", "csv", utterances=edit(base_utterances(), 2, utterance_id="1.5"),
         rows=[3], column="utterance_id", says="not a whole number"),
    Case("text utterance_id in jsonl", "jsonl", utterances=edit(base_utterances(), 0, utterance_id="first"),
         rows=[1], column="utterance_id", says="'first'"),
    Case("negative duration", "csv", calls=edit(base_calls(), 0, duration_s="-3"), blame="calls",
         rows=[1], column="duration_s", says="negative value -3.0"),
    Case("infinite time", "csv", utterances=edit(base_utterances(), 0, end_s="inf"), rows=[1],
         column="end_s", says="infinite"),
    Case("boolean maybe among booleans", "jsonl", calls=edit(base_calls(), 1, is_external="maybe"),
         blame="calls", rows=[2], column="is_external", says="'maybe' is not true/false"),
    Case("number as text among numbers", "jsonl", utterances=edit(base_utterances(), 4, end_s="soon"),
         rows=[5], column="end_s", says="'soon' is not a number"),
    Case("null started_at in parquet", "parquet", calls=edit(base_calls(), 0, started_at=None),
         blame="calls", rows=[1], column="started_at", says="has no value"),
    Case("epoch seconds as started_at", "parquet",
         calls=edit(edit(base_calls(), 0, started_at=1767605400), 1, started_at=1767693600),
         blame="calls", rows=[1, 2], column="started_at", says="expected an ISO-8601 timestamp"),
    Case("year 0001", "csv", calls=edit(base_calls(), 1, started_at="0001-01-01T00:00:00Z"),
         blame="calls", rows=[2], column="started_at", says="'0001-01-01T00:00:00+00:00' is outside"),
    Case("year 9999 in parquet", "parquet", calls=edit(base_calls(), 0, started_at="9999-12-31"),
         blame="calls", rows=[1], column="started_at", says="is outside 1990-01-01"),
    Case("before 1990", "jsonl", calls=edit(base_calls(), 0, started_at="1989-12-31T23:59:59Z"),
         blame="calls", rows=[1], column="started_at", says="outside"),
    Case("zero-width text", "csv", utterances=edit(base_utterances(), 1, text="\u200b\u200d \ufeff"),
         rows=[2], column="text", says="no visible text"),
    Case("NUL-only text", "jsonl", utterances=edit(base_utterances(), 3, text="\x00\x00"),
         rows=[4], column="text", says="no visible text"),
    Case("JSON object as text", "jsonl", utterances=edit(base_utterances(), 2, text={"say": "hi"}),
         rows=[3], column="text", says="holds a JSON object, not text"),
    Case("JSON array as speaker", "jsonl", utterances=edit(base_utterances(), 0, speaker=["a", "b"]),
         rows=[1], column="speaker", says="holds a JSON array"),
    Case("negative utterance_id", "csv", utterances=edit(base_utterances(), 4, utterance_id="-1"),
         rows=[5], column="utterance_id", says="negative value -1"),
    Case("semicolon csv", "csv", calls=b"call_id;started_at;duration_s\nc1;2026-01-01;3\n",
         blame="calls", column="call_id", says="another separator"),
    Case("unclosed quote", "csv", calls=b'call_id,title\nc1,"broken\n', blame="calls",
         says="cannot parse the file as CSV"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_names_file_row_and_column(tmp_path, case):
    calls, utterances = build(tmp_path, case)
    with pytest.raises(InputError) as caught:
        prepare_import(calls, utterances, existing_call_ids=case.existing)
    err = caught.value
    blamed = calls if case.blame == "calls" else utterances
    message = str(err)
    assert err.source == str(blamed), message
    assert message.startswith(str(blamed)), message
    assert err.rows[:len(case.rows)] == case.rows and (bool(err.rows) == bool(case.rows)), message
    if case.rows:
        assert f"row{'s' if len(err.rows) > 1 else ''} {case.rows[0]}" in message
    assert err.column == case.column, message
    if case.column:
        assert f"column '{case.column}'" in message
    assert case.says in message
    assert err.fix, "every error tells the user what to do"


def test_rows_beyond_five_are_counted(tmp_path):
    utterances = [dict(base_utterances()[0], utterance_id=str(i), side="buyer") for i in range(8)]
    calls, utts = write_rows(tmp_path / "c.csv", base_calls()), write_rows(tmp_path / "u.csv", utterances)
    with pytest.raises(InputError) as caught:
        prepare_import(calls, utts)
    assert caught.value.rows == list(range(1, 9))
    assert "rows 1, 2, 3, 4, 5 and 3 more" in str(caught.value)


def test_dataframe_source_is_named(tmp_path):
    calls = pl.DataFrame(typed(base_calls(), "calls")).drop("channel")
    with pytest.raises(InputError) as caught:
        prepare_import(calls, pl.DataFrame(typed(base_utterances(), "utterances")))
    assert caught.value.source == "calls DataFrame"
    assert caught.value.column == "channel"


def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        prepare_import(tmp_path / "nope.csv", tmp_path / "nope2.csv")


def test_symlink_loop_is_named_as_such(tmp_path):
    loop = tmp_path / "calls.csv"
    loop.symlink_to(tmp_path / "other.csv")
    (tmp_path / "other.csv").symlink_to(loop)
    utts = write_rows(tmp_path / "u.csv", base_utterances())
    with pytest.raises(InputError, match="symlink loop") as caught:
        prepare_import(loop, utts)
    assert caught.value.source == str(loop)


def test_started_at_up_to_a_day_ahead_is_accepted(tmp_path):
    # A clock a little ahead (or a zone east of UTC written as UTC) is not a broken date.
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=20)).isoformat()
    calls = write_rows(tmp_path / "c.csv", edit(base_calls(), 0, started_at=soon))
    prepared = prepare_import(calls, write_rows(tmp_path / "u.csv", base_utterances()))
    assert prepared.calls.height == 2


def test_text_with_zero_width_characters_around_words_is_kept(tmp_path):
    calls = write_rows(tmp_path / "c.csv", base_calls())
    utts = write_rows(tmp_path / "u.csv", edit(base_utterances(), 0, text="\u200bhello\ufeff"))
    assert prepare_import(calls, utts).utterances["text"][0] == "\u200bhello\ufeff"


def test_not_a_table():
    with pytest.raises(InputError, match="polars DataFrame"):
        prepare_import({"call_id": ["c1"]}, "u.csv")


def test_byte_order_mark_and_case_of_side_are_accepted(tmp_path):
    calls = write_rows(tmp_path / "calls.csv", base_calls())
    calls.write_bytes(b"\xef\xbb\xbf" + calls.read_bytes())
    utts = write_rows(tmp_path / "u.csv", edit(base_utterances(), 0, side=" Company "))
    prepared = prepare_import(calls, utts)
    assert prepared.utterances["side"][0] == "company"


def test_calls_without_utterances_is_a_warning(make_files):
    calls, utts = make_files("csv", utterances=[u for u in base_utterances() if u["call_id"] == "c1"])
    prepared = prepare_import(calls, utts)
    assert prepared.calls["call_id"].to_list() == ["c1", "c2"]
    assert any("no utterances" in w and "c2" in w and "rows 2" in w for w in prepared.warnings)


def test_start_going_backwards_is_a_warning_and_order_is_kept(make_files):
    calls, utts = make_files("csv", utterances=edit(base_utterances(), 2, start_s="1.0", end_s="2.0"))
    prepared = prepare_import(calls, utts)
    assert any("goes back in time" in w and "c1" in w for w in prepared.warnings)
    c1 = prepared.utterances.filter(pl.col("call_id") == "c1")
    assert c1["utterance_id"].to_list() == [0, 1, 2]
    assert c1["start_s"].to_list() == [0.0, 4.5, 1.0]


def test_extra_utterance_columns_are_dropped_with_a_warning(make_files):
    calls, utts = make_files("csv", utterances=[dict(u, confidence="0.9") for u in base_utterances()])
    prepared = prepare_import(calls, utts)
    assert "confidence" not in prepared.utterances.columns
    assert any("confidence" in w for w in prepared.warnings)
