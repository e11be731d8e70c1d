"""Import of the shared datasets exactly as they are."""
from __future__ import annotations

import polars as pl
import pytest

from workbench.corpus import prepare_import
from workbench.corpus.timing import estimate_timings

from ..conftest import shared_dataset

pytestmark = pytest.mark.shared

COUNTS = {"multiwoz-val": (999, 14_730), "multidogo-train": (11_367, 97_212)}


def dataset(name: str):
    folder = shared_dataset(name)  # skips with the reason when absent
    return folder / "calls.parquet", folder / "utterances.parquet"


@pytest.mark.parametrize("name", COUNTS)
def test_import_shared_dataset(name):
    calls, utterances = dataset(name)
    prepared = prepare_import(calls, utterances)
    n_calls, n_utterances = COUNTS[name]
    assert prepared.calls.height == n_calls
    assert prepared.utterances.height == n_utterances
    assert prepared.warnings == []
    assert not prepared.utterances["timing_estimated"].any()
    sentences = prepared.sentences
    assert sentences.height >= n_utterances
    assert sentences["sentence_id"].n_unique() == sentences.height
    per_utterance = sentences.select("call_id", "utterance_id").unique().height
    assert per_utterance == n_utterances  # every utterance has at least one sentence


def test_estimated_times_match_the_datasets_own_estimates():
    # The shared timings were estimated from word counts by the same rule.
    _, utterances = dataset("multiwoz-val")
    given = pl.read_parquet(utterances).sort("call_id", "utterance_id")
    blank = given.with_columns(start_s=pl.lit(None, pl.Float64), end_s=pl.lit(None, pl.Float64))
    estimated = estimate_timings(blank)
    assert estimated["timing_estimated"].all()
    for col in ("start_s", "end_s"):
        assert (estimated[col] - given[col]).abs().max() < 1e-6, col
