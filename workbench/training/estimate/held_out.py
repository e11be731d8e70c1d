"""The tags' held-out (out-of-fold) decision values: each tag scored by a model that did not
see it. The honest estimate calibrates on them, and the keyword comparison judges the tracker
by them; the final model itself detects nearly every tag it was trained on."""
from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold


def refit_template(model, threshold: float | None = None):
    """An unfitted copy of ``model`` that keeps its chosen threshold and regularisation.

    Refits hold the final model's threshold (on the raw scale) instead of re-choosing it by
    inner cross-validation: 5x cheaper, which keeps a round under a second. A C chosen from
    the tags (``TrackerModel(regularisation=...)``, fitted ``C_``) is held the same way.
    ``threshold``: hold this one instead (on the raw scale)."""
    m = clone(model)
    params = m.get_params()
    if threshold is not None and "threshold" in params:
        m.set_params(threshold=float(threshold))
    elif hasattr(model, "threshold_") and "threshold" in params:
        m.set_params(threshold=float(model.threshold_))
    if hasattr(model, "C_") and "regularisation" in params:
        m.set_params(C=float(model.C_), regularisation="fixed")
    if getattr(model, "background_", None) is not None:
        m.background_ = model.background_  # the untagged rows learnt as NO (TrackerModel)
    return m


def fit_copy(template, X, y, example_embeddings):
    """A fresh copy of ``template`` fitted on (X, y), with the examples (and the background
    rows, ``refit_template``) as the final model."""
    m = clone(template)
    kw = {} if example_embeddings is None else {"example_embeddings": example_embeddings}
    if getattr(template, "background_", None) is not None:
        kw["background"] = template.background_
    return m.fit(X, y, **kw)


def oof_scores(X, tagged, y, template, example_embeddings, n_folds, random_state) -> np.ndarray | None:
    """Out-of-fold decision values of the tags (rows ``tagged``, labels ``y``); None without
    2 YES and 2 NO."""
    k = min(n_folds, int(min(y.sum(), (1 - y).sum()))) if len(y) else 0
    if k < 2:
        return None
    oof = np.empty(len(y))
    folds = StratifiedKFold(k, shuffle=True, random_state=random_state)
    for tr, te in folds.split(tagged, y):
        m = fit_copy(template, X[tagged[tr]], y[tr], example_embeddings)
        oof[te] = np.asarray(m.decision_function(X[tagged[te]]))
    return oof


def held_out_scores(model, embeddings, labels, *, example_embeddings=None, n_folds: int = 10,
                    random_state: int = 0, threshold: float | None = None) -> np.ndarray | None:
    """Per row: for a tagged row (labels 1 or 0), the decision value of ``model`` refitted on
    the other tags (k-fold, the model's threshold kept); NaN for untagged rows. None while
    there are fewer than 2 YES and 2 NO tags. With the honest estimator's n_folds and
    random_state and the same example_embeddings it is the estimate's own out-of-fold
    values, which a caller can pass ``estimate_performance`` (``held_out=``) to spare the
    refits.

    ``threshold``: the refits' threshold instead of the model's. A ``TrackerModel`` refit's
    decision value is its raw score minus the threshold it holds, so with ``threshold=0.0``
    these are the raw scores, and ``raw - t`` is, bit for bit, what the refits holding ``t``
    give: one set of refits serves every threshold (the session's bound and its estimate)."""
    X = np.asarray(embeddings)
    labels = np.asarray(labels)
    tagged = np.flatnonzero(labels >= 0)
    oof = oof_scores(X, tagged, labels[tagged].astype(int), refit_template(model, threshold), example_embeddings,
                     n_folds, random_state)
    if oof is None:
        return None
    out = np.full(len(labels), np.nan)
    out[tagged] = oof
    return out


def held_out_detections(model, embeddings, labels, **kw) -> np.ndarray:
    """For each tagged row, whether ``model`` detects it when refitted on the other tags
    (``held_out_scores`` > 0); False for untagged rows, and everywhere without a fit."""
    return detected_where(held_out_scores(model, embeddings, labels, **kw), len(labels))


def detected_where(held_out: np.ndarray | None, n: int) -> np.ndarray:
    """``held_out > 0`` with NaN (untagged) and a missing array read as not detected."""
    if held_out is None:
        return np.zeros(n, bool)
    return np.nan_to_num(held_out, nan=-np.inf) > 0
