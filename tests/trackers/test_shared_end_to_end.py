"""The public API end to end on real conversations: a slice of ../shared/datasets/multiwoz-val."""
from __future__ import annotations

import json
import warnings

import polars as pl
import pytest

from tests.conftest import shared_dataset
from workbench import Workspace
from workbench.corpus.sentences import split_text

pytestmark = [pytest.mark.shared, pytest.mark.slow]
N_CALLS = 100  # enough for rounds with positives; small enough to embed in seconds


def test_tracker_loop_on_real_conversations(tmp_path, embedder):
    folder = shared_dataset("multiwoz-val")
    concept = next(c for c in json.loads((folder / "concepts.json").read_text()) if c["name"] == "Offers more help")
    calls = pl.read_parquet(folder / "calls.parquet").sort("call_id").head(N_CALLS)
    utts = pl.read_parquet(folder / "utterances.parquet").filter(pl.col("call_id").is_in(calls["call_id"].implode()))
    labels = pl.read_parquet(folder / "labels.parquet")
    positive = set(
        labels.filter(pl.col("labels").list.eval(pl.element().is_in(concept["labels"])).list.any())
        .join(utts.filter(pl.col("side") == concept["mentioned_by"]), on=["call_id", "utterance_id"])
        .select("call_id", "utterance_id").iter_rows())

    ws = Workspace(tmp_path / "ws", model=embedder)
    ws.import_calls(calls, utts, progress=False)  # DataFrames straight from the shared files
    ws.embed(progress=False)
    examples = [t for (c, u), t in zip(utts.select("call_id", "utterance_id").iter_rows(), utts["text"])
                if (c, u) in positive and len(split_text(t)) == 1][:5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 150 calls is below the 500 a smart tracker wants
        t = ws.create_tracker(concept["name"], description=concept["description"],
                              mentioned_by=concept["mentioned_by"], filters={}, examples=examples)
    for _ in range(2):
        for c in t.next_round():
            t.tag(c.sentence_id, "yes" if (c.call_id, c.utterance_id) in positive else "no")
        t.train()

    reopened = Workspace(tmp_path / "ws", model=embedder).tracker(concept["name"])
    est = reopened.performance()
    assert est.n_yes > 5 and est.n_no > 5 and est.precision is not None
    det = reopened.detections()
    found = det.filter(pl.col("detected"))
    # Judged per utterance, as the corpus is labelled: a turn is detected when any of its sentences is.
    turns = det.group_by("call_id", "utterance_id").agg(pl.col("detected").any())
    truth = pl.Series([(c, u) in positive for c, u in turns.select("call_id", "utterance_id").iter_rows()])
    precision = (truth & turns["detected"]).sum() / turns["detected"].sum()
    recall = (truth & turns["detected"]).sum() / truth.sum()
    # After only 50 tags on real turns: far better than chance on both counts.
    assert found.height > 20 and precision > 2 * truth.mean() and recall > 0.5, (precision, recall, truth.mean())
    assert reopened.versions().height == 2
    # The keyword tracker the examples suggest, judged on the same tags.
    k = reopened.keyword_comparison()
    assert (k.n_yes, k.n_no) == (est.n_yes, est.n_no) and k.tracker_detected == est.detected_sentences
    assert k.phrases and 0 < k.keyword_yes <= k.n_yes, k.text()
