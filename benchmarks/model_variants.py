"""Other classifiers, fitted offline on the same tags as the quality benchmark's final models.

The rankings learnt in 4 rounds reach 0.966x the ceiling at the best threshold in hindsight.
This script asks whether a non-linear or neighbour-based model would rank better from the
same 100 tags (the rounds are not rerun: the tags are those the default model chose):

    .venv/bin/python benchmarks/tracker_quality.py --dump /tmp/tq-dump --verify 0 --no-write
    .venv/bin/python benchmarks/model_variants.py /tmp/tq-dump        # about 10 min; writes results/model_variants.md

Each variant's threshold comes from its own out-of-fold scores on the tags (best F1, the same
folds as TrackerModel), and the user's 5 examples count as YES, as in the product. Every
variant learns each tag as tagged; the recorded table was made on dumps from
``--model-param yes_sentence=tagged`` (before YES tags were learnt from their turns).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpora import dumped_runs, load_corpora, median_and_worst, write_study  # noqa: E402
from _text_cache import TextEmbeddingCache  # noqa: E402

from workbench.training.model import best_f1_threshold  # noqa: E402


def _with_examples(X, y, E):
    return np.vstack([X, E]), np.concatenate([y, np.ones(len(E), int)])


class Linear:
    """TrackerModel's logistic regression with every tag learnt as tagged, for reference."""

    def __init__(self, C=10.0):
        self.C = C

    def fit(self, X, y, E):
        self.lr_ = LogisticRegression(C=self.C, solver="liblinear", intercept_scaling=10.0,
                                      max_iter=1000).fit(*_with_examples(X, y, E))
        return self

    def score(self, X):
        return self.lr_.decision_function(X)


class LinearPlusNeighbours(Linear):
    """The linear score plus beta x (mean cosine to the k nearest YES tags or examples minus
    that to the k nearest NO tags): a concept said in several unrelated ways gets credit for
    being near any of them."""

    def __init__(self, beta=3.0, k=3, C=10.0):
        super().__init__(C)
        self.beta, self.k = beta, k

    def fit(self, X, y, E):
        super().fit(X, y, E)
        self.pos_, self.neg_ = np.vstack([X[y == 1], E]), X[y == 0]
        return self

    def _top(self, S):
        return np.sort(S, axis=1)[:, -min(self.k, S.shape[1]):].mean(1)

    def score(self, X):
        out = super().score(X)
        for i in range(0, len(X), 20000):
            b = X[i:i + 20000]
            near = self._top(b @ self.pos_.T) - (self._top(b @ self.neg_.T) if len(self.neg_) else 0.0)
            out[i:i + 20000] += self.beta * near
        return out


class RBF:
    def __init__(self, C=10.0, gamma=1.0):
        self.C, self.gamma = C, gamma

    def fit(self, X, y, E):
        self.svc_ = SVC(C=self.C, gamma=self.gamma).fit(*_with_examples(X, y, E))
        return self

    def score(self, X):
        return self.svc_.decision_function(X)


class Bagged(Linear):
    """The mean of 10 linear models, each on a bootstrap resample of the tags."""

    def __init__(self, n=10, C=10.0, seed=0):
        super().__init__(C)
        self.n, self.seed = n, seed

    def fit(self, X, y, E):
        rng = np.random.default_rng(self.seed)
        self.models_ = []
        while len(self.models_) < self.n:
            i = rng.integers(0, len(y), len(y))
            if 0 < y[i].sum() < len(i):
                self.models_.append(Linear(self.C).fit(X[i], y[i], E))
        return self

    def score(self, X):
        return np.mean([m.score(X) for m in self.models_], axis=0)


VARIANTS = {
    "logistic regression, C = 10, YES tags as tagged (the product's before session 4's turn witnesses)": Linear,
    "plus 1 x nearest-tag similarity (k = 3)": lambda: LinearPlusNeighbours(1.0),
    "plus 3 x nearest-tag similarity (k = 3)": lambda: LinearPlusNeighbours(3.0),
    "plus 3 x nearest-tag similarity (k = 1)": lambda: LinearPlusNeighbours(3.0, k=1),
    "RBF support vector machine, C = 10, gamma = 1": RBF,
    "RBF support vector machine, C = 10, gamma = 2": lambda: RBF(gamma=2.0),
    "10 bagged logistic regressions": Bagged,
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dumps", type=Path, nargs="+", help="folders written by tracker_quality.py --dump")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    corpora = load_corpora(TextEmbeddingCache())
    sections = []
    for dump in args.dumps:
        chosen: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
        hindsight: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
        seeds = set()
        for run in dumped_runs(dump, corpora):
            seeds.add(run.seed)
            X = run.X
            tagged = np.flatnonzero(run.labels >= 0)
            y = run.labels[tagged].astype(int)
            E = X[run.examples]
            k = min(5, int(np.bincount(y, minlength=2).min()))
            for name, make in VARIANTS.items():
                oof = np.empty(len(y))
                for tr, te in StratifiedKFold(k, shuffle=True, random_state=run.seed).split(X[tagged], y):
                    oof[te] = make().fit(X[tagged[tr]], y[tr], E).score(X[tagged[te]])
                s = make().fit(X[tagged], y, E).score(X)
                chosen[name].setdefault(run.key, []).append(run.f1_ratio(s, best_f1_threshold(oof, y)))
                hindsight[name].setdefault(run.key, []).append(run.oracle_ratio(s))
            print(f"  {run.key} seed {run.seed}: " + ", ".join(f"{chosen[n][run.key][-1]:.3f}" for n in VARIANTS),
                  flush=True)
        lines = [f"### {dump.name}: seeds {min(seeds)}-{max(seeds)}",
                 "", "| model | median F1 / ceiling | worst concept | at the best threshold in hindsight: median / worst |",
                 "|---|---|---|---|"]
        for name in VARIANTS:
            (median, worst), (h_median, h_worst) = median_and_worst(chosen[name]), median_and_worst(hindsight[name])
            lines.append(f"| {name} | {median:.3f} | {worst:.3f} | {h_median:.3f} / {h_worst:.3f} |")
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)
    if not args.no_write:
        write_study("model_variants.md", "Other models on the same tags", "model_variants.py", sections)


if __name__ == "__main__":
    main()
