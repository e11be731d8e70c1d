"""Issue 14, item 2: an import is complete or absent whenever it is killed, and a reader never
meets a sentence without its embedding (harness: tests/reliability/import_kills.py).

One worker process loads the real embedding model once and forks a child per import, so that
twenty SIGKILLs and the readers stay within about a minute on two cores.
"""
from __future__ import annotations

import pytest

from tests.reliability.import_kills import (BASE_CALLS, NEW_CALLS, ImportWorker, inspect, run_import_kills,
                                            run_reads_during_imports, write_batch)

N_KILLS = 20


@pytest.fixture(scope="module")
def worker():
    w = ImportWorker()
    yield w
    w.close()


def test_an_import_killed_at_any_moment_is_absent_or_completed_by_one_rerun(tmp_path, worker):
    report = run_import_kills(tmp_path, N_KILLS, seed=14, worker=worker)
    assert report.kills == N_KILLS, f"imports finished before their kill: {report}"
    assert report.problems == [], "\n".join(report.problems)
    assert report.survived == report.cases
    assert report.absent_after_kill and report.live_after_kill  # killed before, and after, the tables went live
    assert (report.tags_lost, report.unembedded_after_heal, report.unscored_after_heal, report.failed_reads) == (0, 0, 0, 0)


def test_a_reader_refreshing_during_imports_never_fails(tmp_path, worker):
    """A new page or kernel opening the workspace while an import embeds must not be told to
    run `workbench embed`: the new calls are not live until their sentences are embedded."""
    outcome = run_reads_during_imports(tmp_path, 3, worker=worker)
    assert outcome["failed_imports"] == 0 and outcome["reads"] > 0
    assert outcome["failed_reads"] == 0, f"{outcome['failed_reads']} of {outcome['reads']} reads failed: " \
                                         f"{outcome['first_error']}"
    assert outcome["calls"] == BASE_CALLS + 3 * NEW_CALLS
    assert outcome["unembedded"] == outcome["unscored"] == outcome["pending"] == 0


def test_an_import_without_embedding_is_live_until_embedded(tmp_path, worker):
    """`import --no-embed` defers embedding on purpose: the calls are live at once, and a read
    that needs their vectors says to run `workbench embed`; embedding then completes them."""
    from workbench.cli.app import main as cli_main

    template = tmp_path / "template"
    worker.build(template)
    calls, utts = write_batch(tmp_path / "batch", 3, start=300)
    assert cli_main(["-w", str(template), "import", str(calls), str(utts), "--no-embed"]) == 0
    deferred = inspect(template)
    assert len(deferred.calls) == BASE_CALLS + 3 and deferred.unembedded > 0 and "workbench embed" in deferred.read_error
    assert worker.run({"op": "embed", "workspace": str(template)})["exit"] == 0
    healed = inspect(template)
    assert healed.unembedded == healed.unscored == healed.pending == 0 and not healed.read_error


def test_tables_staged_by_a_killed_import_are_discarded_by_the_next_one(tmp_path):
    """A kill between the two steps of publishing leaves a gen-* folder newer than CURRENT (and a
    kill while staging a .gen-tmp-* folder): never live, and no obstacle to the next import."""
    import shutil

    from tests.reliability.import_kills import corpus
    from workbench.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.import_calls(*corpus(2, start=0), embed=False, progress=False)
    live = ws.tables.tables_dir / f"gen-{ws.generation:06d}"
    shutil.copytree(live, ws.tables.tables_dir / f"gen-{ws.generation + 1:06d}")  # staged, never published
    (ws.tables.tables_dir / ".gen-tmp-killed").mkdir()
    assert Workspace(tmp_path / "ws").calls.height == 2
    result = ws.import_calls(*corpus(3, start=10), embed=False, progress=False)
    assert result.imported_calls == 3 and ws.refresh().calls.height == 5
    assert not list(ws.tables.tables_dir.glob(".gen-tmp-*"))
