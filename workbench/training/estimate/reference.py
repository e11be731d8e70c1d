"""The reference estimate: the reference product's figures.

Repeated stratified 90/10 splits of the YES/NO tags (10 by default), a model refitted on each
90%, precision and hit rate on each 10%, averaged. It describes the *tags*, which active
learning chose among sentences the model already finds and their look-alikes, so it
overstates the hit rate on the corpus; it is shown beside the honest estimate, not instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedShuffleSplit

from workbench.training.estimate.held_out import fit_copy, refit_template
from workbench.training.performance import Figure

METHOD = "10x90/10 mean; Wilson on pooled counts"


@dataclass(frozen=True)
class ReferenceFigures:
    """The reference part of a PerformanceEstimate; tp/fp/fn are pooled over the repeats'
    held-out tags."""

    precision: Figure | None
    hit_rate: Figure | None
    repeats: int
    test_size: float
    tp: int
    fp: int
    fn: int
    notes: tuple[str, ...] = ()


def wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


class ReferenceEstimate(BaseEstimator):
    """Precision and hit rate on held-out tags, averaged over repeated stratified splits.

    Parameters
    ----------
    n_repeats : number of stratified splits.
    test_size : share of the tags held out in each split.
    confidence : level of the Wilson intervals on the pooled held-out counts.
    random_state : seeds the splits.
    """

    def __init__(self, n_repeats: int = 10, test_size: float = 0.1, confidence: float = 0.9,
                 random_state: int = 0) -> None:
        self.n_repeats = n_repeats
        self.test_size = test_size
        self.confidence = confidence
        self.random_state = random_state

    def estimate(self, embeddings, labels, model, example_embeddings=None) -> ReferenceFigures:
        """Refit ``model`` (its threshold kept) on each split's training tags and count its
        detections among the held-out ones. labels: 1 YES, 0 NO, -1 untagged or NOT SURE."""
        X = np.asarray(embeddings)
        labels = np.asarray(labels)
        tagged = np.flatnonzero(labels >= 0)
        y = labels[tagged].astype(int)
        if min(int(y.sum()), int((1 - y).sum())) < 2 or len(y) < 10:
            return ReferenceFigures(None, None, 0, self.test_size, 0, 0, 0, (
                "reference estimate needs at least 2 YES and 2 NO tags and 10 tags in all",))
        template = refit_template(model)
        splits = StratifiedShuffleSplit(n_splits=self.n_repeats, test_size=self.test_size,
                                        random_state=self.random_state)
        precisions, recalls = [], []
        tp_all = fp_all = fn_all = repeats = 0
        for tr, te in splits.split(tagged, y):
            m = fit_copy(template, X[tagged[tr]], y[tr], example_embeddings)
            d = np.asarray(m.decision_function(X[tagged[te]])) > 0
            tp = int((d & (y[te] == 1)).sum())
            fp = int((d & (y[te] == 0)).sum())
            fn = int((~d & (y[te] == 1)).sum())
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
            if tp + fp:
                precisions.append(tp / (tp + fp))
            if tp + fn:
                recalls.append(tp / (tp + fn))
            repeats += 1
        precision = hit_rate = None
        if precisions:
            lo, hi = wilson(tp_all, tp_all + fp_all, self.confidence)
            precision = Figure(float(np.mean(precisions)), lo, hi, len(y), METHOD)
        if recalls:
            lo, hi = wilson(tp_all, tp_all + fn_all, self.confidence)
            hit_rate = Figure(float(np.mean(recalls)), lo, hi, len(y), METHOD)
        return ReferenceFigures(precision, hit_rate, repeats, self.test_size, tp_all, fp_all, fn_all)
