"""Prototype, measured and not adopted: stack a word model with the embedding model.

Runs ``tracker_quality.py`` (same flags; add ``--no-write`` to keep the recorded results)
with the tracker's classifier replaced by a stack of two logistic regressions over the
tags: the embedding model and a tf-idf model of the sentences' words and word pairs,
joined by a two-input logistic regression fitted on their out-of-fold scores, with the
threshold at the best F1 of the stacked out-of-fold scores. The planner sees the stacked
scores from the first model on. Results are in the "session 3" section of
``results/tracker_quality.md``::

    python benchmarks/lexical_stack.py --no-write --verify 0 --lexical-c 3 --vocabulary corpus

The classifier receives row numbers instead of embeddings (``tracker_quality.feature_map``
hook), so that it can look up both the embedding and the words of each row.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracker_quality as tq  # noqa: E402

from workbench.training.model import TrackerModel, best_f1_threshold  # noqa: E402


class Rows:
    """A scope's embeddings and word counts; shared, never copied by sklearn's clone."""

    def __init__(self, X: np.ndarray, texts) -> None:
        self.X = X
        self.counts = CountVectorizer(ngram_range=(1, 2)).fit_transform(texts).astype(np.float64).tocsr()
        self.log_tf = self.counts.copy()
        self.log_tf.data = 1 + np.log(self.log_tf.data)
        df = np.asarray((self.counts > 0).sum(0)).ravel()
        self.corpus_idf = np.log((1 + len(texts)) / (1 + df)) + 1

    def __deepcopy__(self, memo):
        return self


class StackedModel(ClassifierMixin, BaseEstimator):
    """Embedding LR + tf-idf LR, stacked. X holds row numbers into ``rows`` (one column)."""

    def __init__(self, rows: Rows | None = None, C: float = 10.0, lexical_C: float = 3.0,
                 meta_C: float = 1.0, vocabulary: str = "tags", random_state: int | None = 0) -> None:
        self.rows, self.C, self.lexical_C, self.meta_C = rows, C, lexical_C, meta_C
        self.vocabulary, self.random_state = vocabulary, random_state

    def _words(self, idx, cols, idf):
        m = self.rows.log_tf[idx]
        if cols is not None:
            m = m[:, cols]
        return normalize(m @ sp.diags(idf), copy=False)

    def _fit_pair(self, idx, y):
        emb = TrackerModel(C=self.C)._lr().fit(self.rows.X[idx], y)
        if self.vocabulary == "tags":  # tf-idf as if fitted on the training sentences alone
            df = np.asarray((self.rows.counts[idx] > 0).sum(0)).ravel()
            cols = np.flatnonzero(df)
            idf = np.log((1 + len(idx)) / (1 + df[cols])) + 1
        else:
            cols, idf = None, self.rows.corpus_idf
        words = LogisticRegression(C=self.lexical_C, solver="liblinear").fit(self._words(idx, cols, idf), y)
        return emb, words, cols, idf

    def _pair_scores(self, pair, idx):
        emb, words, cols, idf = pair
        return np.column_stack([emb.decision_function(self.rows.X[idx]),
                                words.decision_function(self._words(idx, cols, idf))])

    def fit(self, X, y, example_embeddings=None, mate_embeddings=None, mate_of=None):
        # Turn mates are ignored: this prototype predates the turn-level threshold.
        tagged = np.asarray(X)[:, 0].astype(int)
        y = np.asarray(y).astype(int)
        ex = np.zeros(0, int) if example_embeddings is None else np.asarray(example_embeddings)[:, 0].astype(int)
        self.classes_ = np.array([0, 1])
        self.pair_ = self._fit_pair(np.concatenate([tagged, ex]), np.concatenate([y, np.ones(len(ex), int)]))
        k = min(5, int(min(y.sum(), (1 - y).sum())))
        self.meta_, self.threshold_ = None, 0.0
        if k >= 2:
            F = np.empty((len(y), 2))
            for tr, te in StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(tagged, y):
                pair = self._fit_pair(np.concatenate([tagged[tr], ex]), np.concatenate([y[tr], np.ones(len(ex), int)]))
                F[te] = self._pair_scores(pair, tagged[te])
            self.meta_ = LogisticRegression(C=self.meta_C).fit(F, y)
            self.threshold_ = best_f1_threshold(self.meta_.decision_function(F), y)
        return self

    def decision_function(self, X):
        F = self._pair_scores(self.pair_, np.asarray(X)[:, 0].astype(int))
        raw = F[:, 0] if self.meta_ is None else self.meta_.decision_function(F)
        return raw - self.threshold_

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], add_help=False)
    ap.add_argument("--lexical-c", type=float, default=3.0)
    ap.add_argument("--vocabulary", choices=["tags", "corpus"], default="tags")
    args, rest = ap.parse_known_args(argv)
    current: dict = {}
    scope_of = tq.concept_scope

    def concept_scope(corpus, concept):
        scope = scope_of(corpus, concept)
        current["texts"] = corpus.sentences["text"].to_numpy()[scope]
        return scope

    def row_numbers(X, spec):
        current["rows"] = Rows(X, current["texts"])
        return np.arange(len(X), dtype=np.float64)[:, None]

    def model(random_state=0, **params):
        return StackedModel(current["rows"], lexical_C=args.lexical_c, vocabulary=args.vocabulary,
                            random_state=random_state, **params)

    tq.concept_scope, tq.feature_map, tq.TrackerModel = concept_scope, row_numbers, model
    tq.main(rest + ["--feature-map", "rows"])


if __name__ == "__main__":
    main()
