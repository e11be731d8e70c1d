"""Reference labels and the truth beside the estimate (Tracker.set_reference_labels, Tracker.truth)."""
from __future__ import annotations

import dataclasses
import gc
import shutil
from pathlib import Path

import polars as pl
import pytest

from tests.trackers.test_tracker import answer_round, make_tracker
from workbench.cli.app import main
from workbench.core.errors import ValidationError
from workbench.corpus.sentences import split_text
from workbench.demo.concepts import sentence_label
from workbench.demo.job import DEMO_EXAMPLES, DEMO_TRUTH, estimate_beside_truth, reference_labels
from workbench.trackers.truth import ReferenceTruth

TRACKER = "Asking for a discount"


@pytest.fixture(scope="module")
def trained_template(demo_workspace_template, tmp_path_factory, embedder) -> Path:
    """The 150-call demo workspace with a tracker tagged and trained for two rounds, built once
    for this module's tests, which each take a private copy (``demo_ws`` below): they set
    reference labels on it, which must not reach another test. The same two rounds per test
    cost the suite ~2 CPU s each."""
    from workbench.workspace import Workspace

    path = tmp_path_factory.mktemp("truth-template") / "ws"
    shutil.copytree(demo_workspace_template / "ws", path)
    ws = Workspace(path, model=embedder)
    t = make_tracker(ws, name=TRACKER, examples=DEMO_EXAMPLES)
    for _ in range(2):
        answer_round(t, t.next_round())
        t.train()
    # The last figures are drawn on a worker, and closing the last SQLite connection checkpoints
    # the WAL and deletes its files: both done now, not while a test copies the folder.
    ws.registry.wait_for_figures()
    ws.store.close()
    del t, ws
    gc.collect()
    return path


@pytest.fixture
def demo_ws(trained_template, demo_workspace_template, tmp_path, embedder):
    """A private copy of the demo workspace (150 calls) whose tracker was trained for two rounds."""
    from workbench.workspace import Workspace

    shutil.copytree(trained_template, tmp_path / "ws")
    ws = Workspace(tmp_path / "ws", model=embedder)
    ws.raw_demo = demo_workspace_template / "raw"
    return ws


@pytest.fixture
def trained(demo_ws):
    return demo_ws.tracker(TRACKER)


def test_the_simulated_users_truth_agrees_with_the_labels_file(demo_ws):
    """What the demo's simulated user answers for a sentence (sentence_label, on the sentences as
    the workspace split them) says exactly which utterances labels.parquet marks."""
    truth = reference_labels(demo_ws.raw_demo / "labels.parquet", ["discount_request"])
    said = (demo_ws.sentences.group_by("call_id", "utterance_id")
            .agg(pl.col("text").map_elements(lambda t: sentence_label(t) == "discount_request",
                                             return_dtype=pl.Boolean).any().alias("said")))
    both = truth.join(said, on=["call_id", "utterance_id"], how="inner")
    assert both.height == truth.height
    assert both["positive"].sum() >= 20
    assert (both["positive"] == both["said"]).all()


def test_truth_counts_speaker_turns_over_the_detections(demo_ws, trained):
    assert trained.truth() is None  # no reference labels yet
    labels = reference_labels(demo_ws.raw_demo / "labels.parquet", ["discount_request"])
    assert trained.set_reference_labels(labels, source=DEMO_TRUTH) == labels.height
    truth = trained.truth()

    # By hand: a customer turn is detected when any of its sentences is, and truly a discount ask
    # when any of its sentences is one (the generator's sentence truth).
    det = trained.detections()
    turns = det.group_by("call_id", "utterance_id").agg(
        pl.col("detected").any(),
        pl.col("text").map_elements(lambda t: sentence_label(t) == "discount_request", return_dtype=pl.Boolean).any()
        .alias("ask"))
    right = (turns["detected"] & turns["ask"]).sum()
    assert (truth.turns, truth.positives, truth.detected, truth.right) == (
        turns.height, turns["ask"].sum(), turns["detected"].sum(), right)
    assert truth.precision == pytest.approx(right / turns["detected"].sum())
    assert truth.hit_rate == pytest.approx(right / turns["ask"].sum())
    assert truth.line().startswith(f"Demo truth: precision {truth.precision:.2f}, hit rate {truth.hit_rate:.2f}")

    text = estimate_beside_truth(trained)
    assert text.startswith("Estimate:   precision") and truth.line() in text and "interval" in text


def test_labels_for_some_calls_give_the_truth_on_those_calls(demo_ws, trained):
    labels = reference_labels(demo_ws.raw_demo / "labels.parquet", ["discount_request"])
    some = sorted(set(labels["call_id"]))[:40]
    trained.set_reference_labels(labels.filter(pl.col("call_id").is_in(some)), source="Hand labels")
    part = trained.truth()
    in_scope = trained.detections().filter(pl.col("call_id").is_in(some)).select("call_id", "utterance_id").unique()
    assert part.turns == in_scope.height and part.source == "Hand labels"


def test_reference_labels_are_checked(trained):
    with pytest.raises(ValidationError, match="positive"):
        trained.set_reference_labels(pl.DataFrame({"call_id": ["demo-0001"], "utterance_id": [1]}), source="x")
    with pytest.raises(ValidationError, match="source"):
        trained.set_reference_labels(pl.DataFrame({"call_id": ["demo-0001"], "utterance_id": [1], "positive": [True]}),
                                     source=" ")


def _estimate(trained, precision, hit_rate):
    """The tracker's estimate with the given (value, low, high) as its precision and hit rate."""
    est = trained.performance()
    p, h = (dict(zip(("value", "low", "high"), f)) for f in (precision, hit_rate))
    return dataclasses.replace(est, honest_precision=dataclasses.replace(est.precision, **p),
                               honest_hit_rate=dataclasses.replace(est.hit_rate, **h))


def test_the_reading_says_whether_each_interval_holds_the_truth(trained):
    truth = ReferenceTruth(source="Demo truth", turns=1000, positives=100, detected=90, right=72)  # 0.80, 0.72
    both = _estimate(trained, (0.84, 0.7, 0.95), (0.7, 0.55, 0.85))
    assert truth.reading(both) == ("The 90% intervals hold the true precision and hit rate; the estimated precision "
                                   "is 0.04 above the true one and the estimated hit rate is 0.02 below the true one.")
    one = _estimate(trained, (0.84, 0.7, 0.95), (0.98, 0.92, 1.0))
    assert truth.reading(one).startswith("The 90% interval holds the true precision but misses the true hit rate;")
    assert "hit rate is 0.26 above" in truth.reading(one)


def test_the_cli_performance_shows_the_truth_beside_the_estimate(demo_ws, trained, capsys):
    labels = reference_labels(demo_ws.raw_demo / "labels.parquet", ["discount_request"])
    trained.set_reference_labels(labels, source=DEMO_TRUTH)
    assert main(["-w", str(demo_ws.path), "performance", trained.name]) == 0
    out = capsys.readouterr().out
    truth = trained.truth()
    assert truth.line() in out and truth.reading(trained.performance()) in out
    assert out.index("honest") < out.index("Demo truth:")


def test_split_text_keeps_each_said_sentence_whole():
    """The words said around a sentence never make a sentence of their own."""
    said = "Okay, so honestly, is there any flexibility on the price if we sign this quarter, Dana? Sure thing, got it."
    assert [s for _, s in split_text(said)][0].endswith("quarter, Dana?")
