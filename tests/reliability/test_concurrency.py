"""Two or more processes writing the same tracker at once (issue 14, item 8): every caller
succeeds or gets a clear retryable error, never sqlite's own, and nothing is lost or doubled."""
from __future__ import annotations

import sqlite3
import warnings

import pytest

from tests.demo_workspace import DEMO_TRACKER, demo_workspace, private_copy
from tests.reliability.concurrency_cases import hammer
from workbench.core.errors import ConcurrentChangeError


@pytest.fixture
def shared_ws(tmp_path_factory, tmp_path, embedder, request):
    """A private copy of the trained demo workspace, with an empty tracker to add examples to."""
    from workbench import Workspace

    template = demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))
    ws = Workspace(private_copy(template, tmp_path / "ws"), model=embedder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SmallCorpusWarning: the fixture corpus is small on purpose
        ws.create_tracker("Examples written at once", mentioned_by="customer")
    return ws


def test_concurrent_examples_rounds_and_tags_from_real_processes(shared_ws):
    counts = hammer(shared_ws.path, DEMO_TRACKER, "Examples written at once", workers=4, adds=6)
    assert counts.raw_sqlite_errors == [] and counts.other_errors == [], counts.as_dict()
    # Every example once, at positions 0..n-1; every worker was shown the same new round.
    assert counts.examples_duplicated == 0 and counts.examples_stored == counts.examples_expected, counts.as_dict()
    assert counts.example_positions_ok
    assert counts.rounds_seen == [3] * 4 and counts.rounds_stored == [1, 2, 3], counts.as_dict()
    assert counts.tags_lost == 0 and counts.ok


def test_a_conflict_that_still_reaches_the_store_is_a_clear_retryable_error(shared_ws):
    # Two writers making the same row: the one that comes second is told what happened and to
    # retry, and the transaction it was in left nothing behind.
    store = shared_ws.store
    t = shared_ws.tracker(DEMO_TRACKER)
    with pytest.raises(ConcurrentChangeError) as e:
        with store.transaction() as con:
            con.execute("UPDATE trackers SET description='half written' WHERE id=?", (t.id,))
            con.execute("INSERT INTO rounds(tracker_id, number, created_at, candidates) VALUES (?,1,'now','[]')",
                        (t.id,))
    assert e.value.retryable and "run it again" in str(e.value) and "workbench.sqlite" in str(e.value)
    assert isinstance(e.value.__cause__, sqlite3.IntegrityError)
    assert shared_ws.tracker(DEMO_TRACKER).description != "half written"
