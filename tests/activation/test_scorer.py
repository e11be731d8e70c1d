"""Scoring with a registered version: the scorer reads the version's plain model every time."""
from __future__ import annotations

import warnings

import polars as pl

from tests.activation.conftest import AS_OF
from workbench.demo.concepts import sentence_label


def trained_tracker(ws, name: str, label: str):
    """A tracker for one concept of the demo corpus: its first sentences as examples, two rounds
    answered from the ground truth, trained (version 1 of a new tracker)."""
    texts = ws.sentences.filter(pl.col("side") == "customer")["text"].unique(maintain_order=True).to_list()
    examples = [t for t in texts if sentence_label(t) == label][:5]
    from workbench.trackers.scope_check import SmallCorpusWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallCorpusWarning)  # the demo corpus is small on purpose
        t = ws.create_tracker(name, mentioned_by="customer", examples=examples)
    for _ in range(2):
        for c in t.next_round():
            t.tag(c.sentence_id, "yes" if sentence_label(c.text) == label else "no")
    assert t.train().version == 1
    return t


def test_a_recreated_tracker_scores_with_its_own_model_not_the_deleted_ones(live_ws):
    """Deleting a tracker and creating one of the same name starts its versions at 1 again; the
    new version 1 must be the one that scores."""
    name = "Said by the customer"
    first = trained_tracker(live_ws, name, "discount_request")
    first.activate(12, as_of=AS_OF, progress=False, verbose=False)
    old = first.results().detections
    first.delete(confirm=True)

    second = trained_tracker(live_ws, name, "pain_statement")
    second.activate(12, as_of=AS_OF, progress=False, verbose=False)
    new = second.results().detections
    assert old.height and new.height
    assert set(new["sentence_id"]) != set(old["sentence_id"])
    said = [sentence_label(text) for text in new["text"]]
    assert said.count("pain_statement") / len(said) >= 0.5
