"""Scoring the workspace's sentences with a registered version.

Scoring is a matrix product, not a model run: a version is a logistic regression over sentence
embeddings, stored as plain data (workbench.registry.linear_model), so its weights are read from
the version's folder and applied to the float32 sentence matrix (workbench.embedding.matrix)
block by block.

Reading a version costs a few milliseconds (one MLflow lookup and a small JSON file), so nothing
is memoised: a cache keyed by tracker name and version number would hand a deleted tracker's
model to a new tracker of the same name, whose versions start again at 1.
"""
from __future__ import annotations

from dataclasses import dataclass
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


def load_scorer(registry: TrackerRegistry, tracker_name: str, version: int) -> Scorer:
    """The scorer of a registered version of a tracker in ``registry``."""
    model = registry.linear_model(tracker_name, version=int(version))
    return Scorer(tracker=tracker_name, version=int(version), model=model)
