"""Scoring a large import that has no embeddings yet answers in linear time."""
from __future__ import annotations

import threading

import polars as pl
import pytest

from tests.corpus.conftest import base_calls, base_utterances
from workbench.core.errors import WorkbenchError
from workbench.embedding.matrix import SentenceMatrix
from workbench.workspace import Workspace

N_SENTENCES = 60_000


def test_sentences_without_embeddings_are_counted_in_linear_time(tmp_path):
    """An import with --no-embed leaves every new sentence without a vector; the error that says
    how many used to compare every text with every other (minutes for 100k utterances)."""
    ws = Workspace(tmp_path / "ws")
    calls = pl.DataFrame(base_calls()[:1])
    row = base_utterances()[0]
    # One sentence per utterance (no sentence end inside), so the import itself stays quick.
    utts = pl.DataFrame([{**row, "utterance_id": str(i), "start_s": None, "end_s": None,
                          "text": f"line {i} about the price"} for i in range(N_SENTENCES)])
    ws.import_calls(calls, utts, embed=False, progress=False)
    outcome: list = []

    def sync() -> None:
        with pytest.raises(WorkbenchError) as error:
            SentenceMatrix(ws, model_id="model-without-vectors").sync()
        outcome.append(str(error.value))

    worker = threading.Thread(target=sync, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), f"finding the {N_SENTENCES:,} sentences without embeddings took over 30 s"
    assert outcome and outcome[0].startswith(f"{N_SENTENCES:,} sentences in ")
