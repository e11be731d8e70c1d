"""Workspace: import (atomic, skip/replace), concurrent readers, embeddings, info, the command line."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest

from tests.conftest import REPO, shared_dataset, tiny_corpus
from workbench import Workspace
from workbench.cli.app import main as cli_main
from workbench.core.errors import InputError


def snapshot(ws: Workspace) -> dict[str, str]:
    """Hash of every file under data/ (tables, pointer, database), to prove nothing changed."""
    out = {}
    for f in sorted((ws.path / "data").rglob("*")):
        if f.is_file() and f.name != ".write.lock" and not f.name.endswith(("-wal", "-shm")):
            out[str(f.relative_to(ws.path))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def test_new_workspace_has_the_documented_layout(tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert (ws.path / "data" / "workbench.sqlite").exists()
    assert (ws.path / "data" / "tables").is_dir()
    assert (ws.path / "mlruns").is_dir()
    assert ws.calls.height == 0 and ws.sentences.height == 0
    assert "empty" in str(ws.info())


def test_a_file_is_not_a_workspace(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(Exception, match="is a file"):
        Workspace(f)


def test_import_from_files_and_frames(tmp_path, corpus_files):
    ws = Workspace(tmp_path / "ws")
    result = ws.import_calls(*corpus_files)
    assert result.imported_calls == 6 and result.imported_utterances == 36
    # Two utterances per call hold two sentences each.
    assert ws.sentences.height == 6 * 8
    calls, utts = tiny_corpus(3, start=100)
    ws.import_calls(calls, utts)
    assert ws.calls.height == 9
    assert ws.calls["call_id"].n_unique() == 9


def test_reimport_skips_by_default_and_replaces_on_request(tmp_path, corpus_files):
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(*corpus_files)
    ids_before = ws.sentences["sentence_id"].to_list()
    again = ws.import_calls(*corpus_files)
    assert again.imported_calls == 0 and len(again.skipped_call_ids) == 6
    assert ws.sentences.height == len(ids_before)

    calls, utts = tiny_corpus()
    utts = utts.with_columns(
        pl.when((pl.col("call_id") == "call-0000") & (pl.col("utterance_id") == 1))
        .then(pl.lit("Changed my mind."))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    replaced = ws.import_calls(calls, utts, replace=True)
    assert len(replaced.replaced_call_ids) == 6
    assert ws.calls.height == 6 and ws.utterances.height == 36  # replaced, never duplicated
    after = ws.sentences
    assert "Changed my mind." in after["text"].to_list()
    # Ids are stable for unchanged sentences and new for the changed one.
    assert len(set(ids_before) & set(after["sentence_id"].to_list())) == len(ids_before) - 1


BAD_UTTERANCES = [
    ("unknown side", lambda u: u.with_columns(pl.lit("agent").alias("side")), "side"),
    ("blank text", lambda u: u.with_columns(pl.when(pl.col("utterance_id") == 2).then(pl.lit("  ")).otherwise(pl.col("text")).alias("text")), "text"),
    ("reversed times", lambda u: u.with_columns((pl.col("start_s") - 10).alias("end_s")), "end_s"),
    ("unknown call", lambda u: u.with_columns(pl.col("call_id").str.replace("call-0050", "nope")), "call_id"),
]


@pytest.mark.parametrize("name,corrupt,column", BAD_UTTERANCES, ids=[b[0] for b in BAD_UTTERANCES])
def test_failed_import_changes_nothing(tmp_path, corpus_files, name, corrupt, column):
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(*corpus_files)
    before = snapshot(ws)
    calls, utts = tiny_corpus(2, start=50)
    bad = tmp_path / "bad_utterances.csv"
    corrupt(utts).write_csv(bad)
    with pytest.raises(InputError) as err:
        ws.import_calls(calls, bad)
    assert "bad_utterances.csv" in str(err.value) and err.value.column == column
    assert snapshot(ws) == before
    assert ws.calls.height == 6


def test_reader_in_another_process_sees_whole_generations_while_one_writes(tmp_path, corpus_files):
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(*corpus_files)
    reader = textwrap.dedent(f"""
        import sys, time
        from workbench import Workspace
        ws = Workspace({str(ws.path)!r})
        seen = set()
        deadline = time.time() + 20
        while time.time() < deadline:
            ws.refresh()                      # as a dashboard does on reload
            calls, sents = ws.calls, ws.sentences
            # Every call in a generation has its sentences: never half an import.
            assert set(sents["call_id"].unique()) == set(calls["call_id"]), "torn read"
            seen.add(calls.height)
            if calls.height >= 6 + 5 * 4:
                break
        print(sorted(seen))
    """)
    proc = subprocess.Popen([sys.executable, "-c", reader], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    for k in range(5):
        calls, utts = tiny_corpus(4, start=200 + 4 * k)
        ws.import_calls(calls, utts)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "26" in out


def test_embed_is_cached_and_aligned(tmp_path, corpus_files, embedder):
    ws = Workspace(tmp_path / "ws", model=embedder)
    ws.import_calls(*corpus_files)
    assert ws.embedded_count() == 0
    computed = ws.embed(progress=False)
    # Six calls say the same lines: only the distinct texts are embedded.
    assert computed == ws.sentences["text"].n_unique()
    assert ws.embedded_count() == ws.sentences.height
    assert ws.embed(progress=False) == 0
    m = ws.embeddings()
    assert m.shape == (ws.sentences.height, embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-2)
    some = ws.sentences["sentence_id"].to_numpy()[[5, 2]]
    np.testing.assert_array_equal(ws.embeddings(some), m[[5, 2]])
    # New calls are embedded on import once the workspace holds embeddings (upcoming calls).
    calls, utts = tiny_corpus(2, start=300)
    utts = utts.with_columns((pl.col("text") + " Indeed.").alias("text"))
    result = ws.import_calls(calls, utts, progress=False)
    assert result.embedded > 0
    assert ws.embedded_count() == ws.sentences.height


def test_info_reports_counts_months_sides_and_timings(tmp_path, corpus_files):
    ws = Workspace(tmp_path / "ws")
    calls, utts = tiny_corpus()
    utts = utts.with_columns(
        pl.when(pl.col("call_id") == "call-0001").then(None).otherwise(pl.col("start_s")).alias("start_s"),
        pl.when(pl.col("call_id") == "call-0001").then(None).otherwise(pl.col("end_s")).alias("end_s"),
    )
    ws.import_calls(calls, utts)
    info = ws.info()
    assert (info.calls, info.utterances, info.sentences) == (6, 36, 48)
    assert info.timings_estimated == 6 and info.timings_measured == 30
    assert info.calls_per_month["calls"].sum() == 6
    text = str(info)
    for word in ("calls", "utterances", "sentences", "embedded", "calls per month", "estimated", "customer"):
        assert word in text


def test_command_line_import_info_and_errors(tmp_path, corpus_files, capsys):
    ws_dir = tmp_path / "ws"
    assert cli_main(["-w", str(ws_dir), "import", *map(str, corpus_files), "--no-embed"]) == 0
    assert "Imported 6 calls" in capsys.readouterr().out
    assert cli_main(["-w", str(ws_dir), "info"]) == 0
    out = capsys.readouterr().out
    assert "sentences" in out and "tagged on    every call (no tagging sample)" in out
    assert cli_main(["-w", str(ws_dir), "sample", "3", "--seed", "1"]) == 0
    capsys.readouterr()
    assert cli_main(["-w", str(ws_dir), "info"]) == 0  # the tagging sample: N of M calls, how it was drawn
    assert "tagged on    3 of 6 calls (stratified by month and team, seed 1;" in capsys.readouterr().out
    assert Workspace(ws_dir).info().sample.call_ids == Workspace(ws_dir).tagging_sample().call_ids
    missing = tmp_path / "nope.csv"
    assert cli_main(["-w", str(ws_dir), "import", str(missing), str(corpus_files[1])]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_the_tagging_sample_is_read_once_per_stored_sample_and_generation(tmp_path):
    """ws.embeddings() asks for the sample on every call: it is kept until the stored sample (a
    redraw, here by another Workspace object as by another process) or the calls change."""
    calls, utts = tiny_corpus(8)
    ws = Workspace(tmp_path / "ws")
    ws.import_calls(calls.head(6), utts.filter(pl.col("call_id").is_in(calls["call_id"].head(6).implode())),
                    embed=False, progress=False)
    first = ws.set_tagging_sample(3)
    kept = ws.tagging_sample()
    assert kept.call_ids == first.call_ids and ws.tagging_sample() is kept  # not read again
    other = Workspace(tmp_path / "ws")
    redrawn = other.set_tagging_sample(4, seed=2)
    assert ws.tagging_sample().call_ids == redrawn.call_ids and ws.tagging_sample().seed == 2
    other.import_calls(calls, utts, embed=False, progress=False)  # two more calls: a new generation
    assert ws.tagging_sample().corpus_calls == 6  # this object reads its pinned generation...
    assert ws.refresh().tagging_sample().corpus_calls == 8  # ...until it refreshes
    other.set_tagging_sample(None)
    assert ws.tagging_sample() is None and ws.info().sample is None


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "workbench.cli.app", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    for cmd in ("import", "embed", "demo", "info"):
        assert cmd in out.stdout


@pytest.mark.shared
@pytest.mark.parametrize("name,calls,utterances", [("multiwoz-val", 999, 14730), ("multidogo-train", 11367, 97212)])
def test_shared_datasets_import_as_they_are(tmp_path, name, calls, utterances):
    folder = shared_dataset(name)
    ws = Workspace(tmp_path / "ws")
    result = ws.import_calls(folder / "calls.parquet", folder / "utterances.parquet", embed=False)
    assert (result.imported_calls, result.imported_utterances) == (calls, utterances)
    assert ws.sentences.height >= utterances
    assert ws.sentences["sentence_id"].n_unique() == ws.sentences.height


def test_a_workspace_object_reads_one_snapshot_until_refreshed(tmp_path, corpus_files):
    writer = Workspace(tmp_path / "ws")
    writer.import_calls(*corpus_files)
    reader = Workspace(tmp_path / "ws")
    assert reader.calls.height == 6
    writer.import_calls(*tiny_corpus(2, start=400))
    writer.import_calls(*tiny_corpus(2, start=500))  # the reader's generation is pruned now
    assert reader.calls.height == 6  # cached: still its own snapshot
    assert reader.sentences["call_id"].n_unique() == 10  # not cached: moves to the latest, whole
    assert reader.refresh().calls.height == 10


OLD_WORKSPACE = REPO / "tests" / "data" / "workspace-33fb494"  # written by the code at commit 33fb494


def test_a_workspace_written_before_schema_versions_opens_and_keeps_its_state(tmp_path):
    """tests/data/workspace-33fb494 was made by the code at commit 33fb494 (no schema version,
    activation and stream tables made on first use): a smart tracker with examples and two tags,
    an activated keyword tracker and a stream. It opens, migrates once, and keeps all of it."""
    import shutil
    import sqlite3

    shutil.copytree(OLD_WORKSPACE, tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    version = ws.store.query_one("PRAGMA user_version")[0]
    assert version >= 1
    smart = ws.tracker("Asking for a discount")
    assert len(smart.examples) == 5 and sorted(smart.tags()["answer"]) == ["no", "yes"]
    keyword = ws.tracker("Price talk")
    assert keyword.is_active and keyword.results().detections.height == 10
    assert [s.name for s in ws.streams()] == ["Price calls"]
    ws.store.close()
    again = Workspace(tmp_path / "ws")  # a second open finds nothing to migrate
    assert again.store.query_one("PRAGMA user_version")[0] == version
    again.store.close()
    with sqlite3.connect(tmp_path / "ws" / "data" / "workbench.sqlite") as con:
        con.execute(f"PRAGMA user_version={version + 1}")
    with pytest.raises(Exception, match="newer"):
        Workspace(tmp_path / "ws")
