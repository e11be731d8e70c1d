"""Activation: backfill windows, scope, upcoming calls, deactivate and delete (real MLflow store,
real embeddings)."""
from __future__ import annotations

import polars as pl
import pytest

from tests.activation.conftest import AS_OF, new_calls
from workbench.activation.backfill import as_of_time, months_before
from workbench.core.errors import ValidationError
from workbench.embedding.matrix import SentenceMatrix


def test_backfill_scores_the_window_with_the_published_version(live_ws, tracker, capsys):
    plan = tracker.backfill_plan(3, as_of=AS_OF)
    full = tracker.backfill_plan(12, as_of=AS_OF)
    assert 0 < plan.calls < full.calls and 0 < plan.sentences < full.sentences
    assert f"{full.calls:,} calls" in str(full) and f"{full.sentences:,} sentences" in str(full)

    result = tracker.activate(12, as_of=AS_OF, progress=False)
    out = capsys.readouterr().out
    assert str(full) in out  # the user is told what the backfill covers before it runs
    assert tracker.is_active and tracker.status == "active"
    assert result.version == 2 == tracker.published_version
    assert live_ws.registry.get_alias(tracker.name, "published") == 2
    live = tracker.results()
    assert live.calls.height == full.calls and int(live.calls["sentences"].sum()) == full.sentences
    # The stored detections are exactly what the model of version 2 (the current tags) detects.
    expected = tracker.detections(all_sentences=False)
    assert set(live.detections["sentence_id"]) == set(expected["sentence_id"]) and live.detections.height > 0
    scores = live.detections.join(expected.select("sentence_id", pl.col("score").alias("s")), on="sentence_id")
    assert (scores["score"] - scores["s"]).abs().max() < 1e-5
    assert set(live.detections["side"]) == {"customer"}  # scope: mentioned by the customer
    assert set(live.detections["version"]) == {2}
    assert live.calls["mentions"].sum() == live.detections.height


def test_shorter_window_and_scope_filters(live_ws, tracker):
    with pytest.warns(UserWarning, match="calls are in scope"):  # small-corpus advice
        tracker.update(filters={"is_external": True, "team": ["SMB", "Public Sector"]})
    tracker.activate(3, as_of=AS_OF, progress=False, verbose=False)
    live = tracker.results()
    start = months_before(as_of_time(AS_OF), 3)
    calls = live_ws.calls.filter(pl.col("call_id").is_in(live.calls["call_id"].implode()))
    assert calls.height > 0
    assert calls["started_at"].min() >= start
    assert set(calls["team"]) <= {"SMB", "Public Sector"} and calls["is_external"].all()
    with pytest.raises(ValidationError) as e:
        tracker.activate(13)
    assert e.value.field == "backfill_months"
    with pytest.raises(ValidationError) as e:
        tracker.activate("12")
    assert e.value.field == "backfill_months"
    with pytest.raises(ValidationError) as e:
        tracker.activate(1, engine="gpu")
    assert e.value.field == "engine"


def test_upcoming_calls_are_scored_on_import_until_deactivated(live_ws, tracker):
    tracker.activate(0, as_of=AS_OF, progress=False, verbose=False)
    assert tracker.results().calls.height == 0  # upcoming calls only: no history

    calls, utts = new_calls(2, start=900)
    result = live_ws.import_calls(calls, utts, progress=False)
    assert result.embedded > 0  # only the new sentences were embedded
    live = tracker.results()
    assert result.scored == {tracker.name: live.detections.height}
    assert set(live.calls["call_id"]) == {"call-0900", "call-0901"}
    assert "Can you do a better price?" in set(live.detections["text"])
    assert (live.calls["mentions"] >= 1).all()

    # Imported without embeddings: kept pending, scored once they are embedded.
    calls, utts = new_calls(1, start=910)
    utts = utts.with_columns(pl.col("text").str.replace("Happy to be here.", "Happy to be here, truly."))
    with pytest.warns(UserWarning, match="score_pending"):
        live_ws.import_calls(calls, utts, embed=False, progress=False)
    assert "call-0910" not in set(tracker.results().calls["call_id"])
    live_ws.embed(progress=False)
    assert live_ws.score_pending(progress=False)[tracker.name] >= 1
    assert "call-0910" in set(tracker.results().calls["call_id"])

    tracker.deactivate()
    assert not tracker.is_active and tracker.status == "inactive"
    calls, utts = new_calls(1, start=920)
    assert live_ws.import_calls(calls, utts, progress=False).scored == {}
    live = tracker.results()  # history kept
    assert "call-0901" in set(live.calls["call_id"]) and "call-0920" not in set(live.calls["call_id"])
    with pytest.raises(ValidationError, match="not active"):
        tracker.deactivate()


def test_reimport_replaces_a_calls_results(live_ws, tracker):
    calls, utts = new_calls(1, start=930)
    tracker.activate(0, progress=False, verbose=False)
    live_ws.import_calls(calls, utts, progress=False)
    assert tracker.results().calls["mentions"].to_list()[0] >= 1
    # The same call again, without the price talk: its old mentions must go.
    quiet = utts.with_columns(pl.when(pl.col("text").str.contains("price")).then(pl.lit("Fine."))
                              .otherwise(pl.col("text")).alias("text"))
    live_ws.import_calls(calls, quiet, replace=True, progress=False)
    live = tracker.results()
    assert live.calls["mentions"].to_list() == [0] and live.detections.height == 0
    # The scoring matrix kept the old rows; compacting drops them and keeps scoring aligned.
    matrix = SentenceMatrix(live_ws)
    assert matrix.compact() > 0
    assert matrix.view().positions.shape[0] == live_ws.sentences.height


def test_delete_needs_confirmation_and_removes_results(live_ws, tracker):
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    folder = live_ws.data_dir / "detections" / f"tracker-{tracker.id}"
    assert any(folder.rglob("*.parquet"))
    with pytest.raises(ValidationError) as e:
        tracker.delete()
    assert e.value.field == "confirm"
    tracker.delete(confirm=True)
    assert not folder.exists()
    assert live_ws.registry.versions(tracker.name) == []
    assert live_ws.store.query_one("SELECT COUNT(*) AS n FROM activations")["n"] == 0


def test_untrained_trackers_are_refused_clearly(live_ws):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = live_ws.create_tracker("Untrained")
    with pytest.raises(ValidationError) as e:
        fresh.activate(12)
    assert e.value.field == "version" and "train" in str(e.value)


def test_results_dashboard_reads_the_stored_results_once_active(live_ws, tracker):
    tracker.activate(3, as_of=AS_OF, progress=False, verbose=False)
    live = tracker.results()
    report = tracker.report()
    assert report.n_mentions == live.detections.height
    assert report.calls_in_scope == live.calls.height  # only the 3 months it scored, not every call
    assert report.per_call["mentions"].sum() == live.detections.height


def test_delete_forgets_the_stored_results_once(live_ws, tracker):
    """Deleting a tracker removes its activation row once (it used to run forget twice)."""
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    statements: list[str] = []
    live_ws.store._connection().set_trace_callback(statements.append)
    try:
        tracker.delete(confirm=True)
    finally:
        live_ws.store._connection().set_trace_callback(None)
    assert sum(s.startswith("DELETE FROM activations") for s in statements) == 1
