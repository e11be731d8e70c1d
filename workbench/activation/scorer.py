"""Scoring the workspace's sentences with a registered version.

Scoring is a matrix product, not a model run: a version is a logistic regression over sentence
embeddings, stored as plain data (workbench.registry.linear_model), so its weights are read from
the version's folder and applied to the float16 embedding cache through the scoring index
(workbench.embedding.matrix), block by block.

A deep-trained version carries its own fine-tuned encoder (``encoder``): its weights apply to that
encoder's embeddings, not to the workspace's matrix, so its sentences are embedded with it
(through the embedding cache, keyed by the encoder's fingerprint; the training already filled it
for the tracker's scope) and scored in memory.

Reading a version costs a few milliseconds (one MLflow lookup and a small JSON file), so nothing
is memoised: a cache keyed by tracker name and version number would hand a deleted tracker's
model to a new tracker of the same name, whose versions start again at 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from workbench.embedding.matrix import MatrixView, linear_scores
from workbench.registry.linear_model import LinearTrackerModel

if TYPE_CHECKING:
    from workbench.registry.versions import TrackerRegistry


@dataclass(frozen=True)
class Scorer:
    """One registered version, reduced to what scoring needs."""

    tracker: str
    version: int
    model: LinearTrackerModel
    encoder: Path | None = None  # a deep-trained version's own sentence-transformers folder

    @property
    def embedding_model(self) -> str:
        return self.model.embedding_model

    @property
    def weights(self) -> np.ndarray:
        return self.model.coef.astype(np.float32)

    @property
    def bias(self) -> float:
        """The intercept with the threshold folded in: the decision value's 0 is the threshold."""
        return self.model.intercept - self.model.threshold

    def score(self, view: MatrixView, rows: np.ndarray, *,
              on_block: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(score, detected) for the given rows of ws.sentences; score is 0.5 at the threshold."""
        d = linear_scores(view, rows, self.weights, self.bias, on_block=on_block)
        return 1.0 / (1.0 + np.exp(-d.astype(np.float64))), d >= 0

    def score_texts(self, texts: list[str], embeddings_dir: Path, *, progress: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(score, detected) of a deep-trained version: the texts embedded with its own encoder
        through the cache in ``embeddings_dir`` (texts embedded before cost nothing; a bar over
        the rest with ``progress``)."""
        from workbench.embedding.embedder import Embedder, embed_texts

        d = self.model.decision(embed_texts(texts, embeddings_dir, Embedder(self.encoder), progress=progress))
        return 1.0 / (1.0 + np.exp(-d)), d >= 0


def load_scorer(registry: TrackerRegistry, tracker_name: str, version: int) -> Scorer:
    """The scorer of a registered version of a tracker in ``registry``."""
    model = registry.linear_model(tracker_name, version=int(version))
    return Scorer(tracker=tracker_name, version=int(version), model=model,
                  encoder=registry.encoder_path(tracker_name, version=int(version)))
