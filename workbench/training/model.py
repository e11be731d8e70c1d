"""The tracker's classifier: logistic regression over sentence embeddings, with a threshold.

Tags from active learning are few (a hundred or so), over-represent the boundary, and are
often unbalanced either way, so the defaults are: unweighted classes, weak regularisation
(C=10: the embeddings are unit vectors and a strong penalty flattens every score towards
zero), the user's example sentences as extra positives, and a threshold chosen by
cross-validated F1 on the tags rather than probability 0.5.

Session 6 tried a stronger penalty for transcribed speech, where a rare concept gets only 10-30
YES tags and C=10 lands on high precision and near-zero recall. Through the product's loop on
seeds 0-11, C=2 lifted speech (mrda-meetings) from 0.34x to 0.42x the ceiling and kept typed
dialogues at 0.954x; on the held-out seeds 12-17 it lifted speech only from 0.28x to 0.30x and
cost typed dialogues 0.952x -> 0.943x (worst concept 0.832x -> 0.777x), so it was not adopted
(benchmarks/tracker_quality_history.md, "Session 6").

Session 12 let each fit choose its C from the tags (``regularisation``, default "fixed"; history,
"Session 12"). Cross-validated log-loss over {0.3, 1, 3, 10} ("cv") mostly keeps C=10, since the
tags over-represent the concept's look-alikes: speech 0.306x -> 0.318x (seeds 0-11). C from the
YES count ("yes_tags", 0.1 per YES text, so 10-25 YES give C=1-2.5) lifted every speech concept
(0.306x -> 0.400x, worst 0.106x -> 0.218x) and kept typed dialogues at 0.957x, but the hit-rate
intervals held the truth in 83% (speech) and 86% (typed) of runs, under the 88% a change must
keep, so it stays an option. A prior toward the examples (``example_prior=3``) lowered speech to
0.194x and typed dialogues' worst concept to 0.760x: off.

With fewer than 30 YES texts the "cv" threshold is bounded (default since session 14): the turns
it detects stay within 0.5x-2x the positive turns the honest estimate counts (``prevalence``). On
speech the cv cut on 15 YES tags landed at high precision and almost no recall: held-out seeds
24-29 went 0.27x -> 0.43x the frozen ceiling, every concept up, typed dialogues unchanged. Session
13's count from the random draws (``positives_from="random_tags"``) and ``yes_tags_below`` stay
options (history, "Session 13" and "Session 14").

A tracker reports speaker turns (a turn mentions the concept when any of its sentences is
detected). With ``threshold_unit="turn"`` and each tag's turn mates passed to ``fit`` (the
other sentences of its turn, ``turn_mates``) the threshold maximises F1 over the tags'
*turns* instead: a NO tag whose turn holds a sentence scoring above the threshold is a false
detection, a YES tag whose mate scores above it is found. That reads a NO as "nothing in
this turn", which is how the benchmark's simulated user answers but more than a NO on one
sentence says, and on the benchmark it helped concepts said in multi-sentence turns and
made the threshold of others noisier (benchmarks/results/tracker_quality.md); so it is an
option, and "sentence" the default.

A YES tag says that its speaker turn mentions the concept, and the benchmark's truth and the
tracker's reports are per turn too; but the sentence tagged need not be the one that says it
("Your booking is confirmed." in a turn that ends "Is there anything else?"). With
``yes_sentence="best_of_turn"`` (the default) and the turn mates passed to ``fit``, each YES
tag is learnt from the sentence of its turn the model scores highest, found in two passes
(multiple-instance learning, as in MI-SVM: the turn is the bag, its best sentence the
witness). A tag the model already scores above its untagged turn mates, which is what a
well-chosen YES usually is, is learnt as tagged; NO tags always speak for their own sentence
only. On the benchmark (measured in session 4, when the benchmark still had its own copy of the
loop) this lifted the median F1 ratio from 0.933 to 0.950 (seeds 0-11) and from 0.922 to 0.940
on fresh seeds, all of it on concepts said in multi-sentence turns.

Two options measured in session 11 stay off (benchmarks/tracker_quality_history.md): weighting
a tagged text by its copies (``copy_weight``: typed dialogues 0.949x -> 0.931x with log1p,
0.939x with sqrt, seeds 0-11) and self-training on untagged sentences near a YES tag
(``pseudo_positives``: speech 0.306x -> 0.300x, and the hit-rate intervals lose coverage, since
the estimate's held-out refits do not see the invented positives).

``decision_function`` and ``predict_proba`` are shifted so that 0 (resp. 0.5) *is* the
chosen threshold: ``predict`` agrees with both, and a pool can use threshold 0.
"""
from __future__ import annotations

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

# best_f1_threshold lives with the other threshold rules; imported here as it always was.
from workbench.training.background import BACKGROUND_THRESHOLDS, with_background
from workbench.training.prevalence import best_f1_threshold, bounded_threshold, unit_scores  # noqa: F401
from workbench.training.turn_mates import turn_mates  # noqa: F401  (imported from here by callers)


class TrackerModel(ClassifierMixin, BaseEstimator):
    """Binary classifier for one tracker.

    Parameters
    ----------
    C : inverse regularisation strength of the logistic regression.
    class_weight : passed to LogisticRegression; None by default: on the quality benchmark
        unweighted tags beat "balanced" on median F1, worst run and interval coverage
        (benchmarks/results/tracker_quality.md), since the rounds already mix classes.
    example_weight : sample weight of each example sentence added as a positive in
        ``fit(..., example_embeddings=...)``; 0 leaves the examples out.
    threshold : "cv" (maximise F1 of out-of-fold decision values on the training tags, or
        on their turns with ``threshold_unit="turn"``),
        "balanced" (decision 0, i.e. probability 0.5 under balanced weights) or a float
        on the raw decision scale.
    threshold_unit : "sentence" (default) or "turn": what the "cv" threshold's F1 counts;
        "turn" needs ``fit(..., mate_embeddings=, mate_of=)`` to see the turns.
    yes_sentence : "best_of_turn" (default) or "tagged": which sentence of a YES tag's turn
        the classifier learns from. "best_of_turn" needs the turn mates passed to ``fit``;
        without them every tag is learnt as tagged.
    copy_weight : "none" (default), "log1p" or "sqrt": the sample weight of each tagged text
        as a function of its copies in the scope (``fit(..., copies=)``), scaled to a mean of 1
        over the tags so that C and the examples' weight keep their meaning. Each text is one
        row either way; "none" learns it once whatever its copies.
    pseudo_positives : self-training for rare concepts: after fitting, up to this many untagged
        sentences (``fit(..., unlabelled=)``) that the model scores highest among those whose
        cosine to a known positive (a YES tag as learnt, or an example) is at least
        ``pseudo_min_cosine`` are added as positives of weight ``pseudo_weight``, like the
        examples, and the model and its threshold are refitted. 0 (default): off.
    regularisation : how each fit sets the C it uses (``C_``). "fixed" (default): ``C``.
        "cv": the value of ``C_grid`` (``C`` while a class has fewer than 2 tags) whose out-of-fold predictions of the tags (the threshold's
        folds, the examples in every training fold) have the lowest log-loss. "yes_tags":
        ``C_per_yes`` x the YES tags (each text once), within [``C_min``, ``C``]: few YES tags,
        a strong penalty (session 6: C=1 lifted speech, where a concept gets 10-30 YES tags).
        The honest estimate's refits keep the C chosen here, as they keep the threshold.
    C_grid, C_per_yes, C_min : the candidates for "cv"; the slope and floor for "yes_tags".
    yes_tags_below : 0 (default) or a count: "yes_tags" sets C only for fits with fewer YES
        tags than this, and keeps ``C`` from there on (typed concepts get more YES tags).
    example_prior : a prior toward the examples: every fit sees one more feature, this scale x
        the cosine to the examples' mean direction, so that the L2 penalty costs a weight
        along that direction example_prior**2 times less and few YES tags lean on the
        examples instead of shrinking to nothing. The feature's weight is folded back into
        ``lr_.coef_`` after each fit, so scoring is a plain linear model. 0 (default): off.
    detect_at_least, detect_at_most : a factor (defaults 0.5 and 2) or 0 (that side off): with
        fewer than ``bound_below_yes`` YES tags, the "cv" threshold is moved so that the scope's
        units it detects number at least (at most) the factor x P, P the positive units counted
        as ``positives_from`` says: with few YES tags the "cv" cut
        lands at extremes, a fifth of the scope or nothing. Needs ``fit(..., scope=,
        positives=)``; without them the threshold is the "cv" one. ``threshold_unbounded_``
        keeps the "cv" threshold.
    bound_below_yes : the YES tags (each text once) under which the bounds apply.
    positives_from : what P counts for the session: "estimate_median" (default: the median of
        the honest estimate's draws of the positives, for the model at its "cv" threshold: the
        calibrated tail summed over the scope; see ``fit(positives=)``), "estimate" (their
        posterior mean, which ran 2.7x the truth in the median speech run, the median 1.4x) or
        "random_tags" (the rounds' raw random draws, ``prevalence.estimated_positives``).
    background_negatives, background_weight, background_threshold : this many rows of
        ``fit(..., background=)`` (untagged sentences of the scope; the session draws them) join
        every fit as NO of ``background_weight`` each; ``background_threshold="count"`` keeps
        the number of units detected by the model without them (the session sets it, see
        workbench/training/background.py). 0 (default): off.
    cv : folds for the "cv" threshold (fewer when a class has fewer tags).
    random_state : seeds the fold split; the solver itself is deterministic.
    """

    def __init__(
        self,
        C: float = 10.0,
        class_weight: str | dict | None = None,
        example_weight: float = 1.0,
        threshold: str | float = "cv",
        threshold_unit: str = "sentence",
        yes_sentence: str = "best_of_turn",
        copy_weight: str = "none",
        pseudo_positives: int = 0,
        pseudo_min_cosine: float = 0.8,
        pseudo_weight: float = 0.3,
        regularisation: str = "fixed",
        C_grid: tuple = (0.3, 1.0, 3.0, 10.0),
        C_per_yes: float = 0.1,
        C_min: float = 0.3,
        yes_tags_below: int = 0,
        example_prior: float = 0.0,
        detect_at_least: float = 0.5,
        detect_at_most: float = 2.0,
        bound_below_yes: int = 30,
        positives_from: str = "estimate_median",
        background_negatives: int = 0,
        background_weight: float = 1.0,
        background_threshold: str = "own",
        cv: int = 5,
        max_iter: int = 1000,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.example_weight = example_weight
        self.threshold = threshold
        self.threshold_unit = threshold_unit
        self.yes_sentence = yes_sentence
        self.copy_weight = copy_weight
        self.pseudo_positives = pseudo_positives
        self.pseudo_min_cosine = pseudo_min_cosine
        self.pseudo_weight = pseudo_weight
        self.regularisation = regularisation
        self.C_grid = C_grid
        self.C_per_yes = C_per_yes
        self.C_min = C_min
        self.yes_tags_below = yes_tags_below
        self.example_prior = example_prior
        self.detect_at_least = detect_at_least
        self.detect_at_most = detect_at_most
        self.bound_below_yes = bound_below_yes
        self.positives_from = positives_from
        self.background_negatives = background_negatives
        self.background_weight = background_weight
        self.background_threshold = background_threshold
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _lr(self) -> LogisticRegression:
        # liblinear: ~10 ms on a few hundred 384-d rows, 3-4x faster than lbfgs here, and
        # deterministic. Its intercept is penalised like a weight; harmless on unit vectors.
        return LogisticRegression(
            C=getattr(self, "C_", self.C), class_weight=self.class_weight, solver="liblinear",
            max_iter=self.max_iter, intercept_scaling=10.0,
        )

    def _choose_C(self, X, y, sample_weight, E) -> float:
        """The C this fit uses (``regularisation``)."""
        if self.regularisation == "fixed":
            return float(self.C)
        if self.regularisation == "yes_tags":
            n_yes = int((y == 1).sum())
            if self.yes_tags_below and n_yes >= self.yes_tags_below:
                return float(self.C)  # enough YES tags: the default penalty
            return float(min(self.C, max(self.C_min, self.C_per_yes * n_yes)))
        if self.regularisation != "cv":
            raise ValueError("regularisation must be 'fixed', 'cv' or 'yes_tags', "
                             f"got {self.regularisation!r}")
        grid = sorted(float(c) for c in np.ravel(self.C_grid))
        k = min(self.cv, int(np.bincount(y, minlength=2).min()))
        if not grid or k < 2:
            return float(self.C)  # too few tags of a class to cross-validate
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        losses = []
        for c in grid:
            self.C_ = c
            oof = np.empty(len(y))
            for tr, te in StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(X, y):
                lr = self._fit_lr(X[tr], y[tr], None if sample_weight is None else sample_weight[tr], E)
                oof[te] = lr.decision_function(X[te])
            # Weighted log-loss of the out-of-fold probabilities, from the decision values
            # (logaddexp keeps a confident miss finite).
            losses.append(float(np.sum(w * np.logaddexp(0.0, np.where(y == 1, -oof, oof))) / w.sum()))
        # Ties (equal to 1e-9) go to the larger C, the default's side.
        best = min(losses)
        return max(c for c, loss in zip(grid, losses) if loss <= best + 1e-9)

    def _fit_lr(self, X, y, sample_weight, E) -> LogisticRegression:
        """E: None or (rows, weights), the extra positives every fit sees (the examples, and
        the self-training positives once chosen)."""
        X, y, sample_weight = with_background(X, y, sample_weight, getattr(self, "background_", None),
                                              self.background_negatives,
                                              self.background_weight)
        if E is not None and len(E[0]):
            rows, ew = E
            X = np.vstack([X, rows])
            y = np.concatenate([y, np.ones(len(rows), dtype=y.dtype)])
            sample_weight = np.concatenate(
                [np.ones(len(X) - len(rows)) if sample_weight is None else sample_weight, ew]
            )
        direction = getattr(self, "prior_direction_", None)
        if direction is None:
            return self._lr().fit(X, y, sample_weight=sample_weight)
        # The prior's feature, then its weight folded into the embedding's coefficients:
        # w . x + a * s * (c . x) = (w + a * s * c) . x.
        scale = float(self.example_prior)
        lr = self._lr().fit(np.column_stack([X, scale * (X @ direction)]), y, sample_weight=sample_weight)
        coef = lr.coef_[:, :-1] + lr.coef_[:, -1:] * scale * direction.astype(lr.coef_.dtype)
        lr.coef_, lr.n_features_in_ = coef, coef.shape[1]
        return lr

    def _copy_weights(self, copies, n: int, sample_weight):
        """The tags' sample weights with each text weighted by its copies (``copy_weight``)."""
        if self.copy_weight not in COPY_WEIGHTS:
            raise ValueError(f"copy_weight must be one of {sorted(COPY_WEIGHTS)}, got {self.copy_weight!r}")
        if self.copy_weight == "none" or copies is None:
            return sample_weight
        copies = np.asarray(copies, dtype=float).ravel()
        if copies.shape != (n,) or (copies.size and copies.min() < 1):
            raise ValueError(f"copies must give each of the {n} tagged texts its number of rows "
                             f"in the scope (>= 1); got shape {copies.shape}")
        w = COPY_WEIGHTS[self.copy_weight](copies)
        w = w / w.mean()
        return w if sample_weight is None else w * sample_weight

    def fit(self, X, y, sample_weight=None, example_embeddings=None, mate_embeddings=None, mate_of=None,
            copies=None, unlabelled=None, scope=None, scope_groups=None, positives=None, background=None):
        """Fit on tagged rows (y: 1 YES, 0 NO; NOT SURE must not be passed).

        mate_embeddings, mate_of: the other sentences of each tag's speaker turn (see
        ``turn_mates``; leave out sentences tagged NOT SURE) and, for each, the row of X
        whose turn it shares. With ``yes_sentence="best_of_turn"`` a YES tag is learnt from
        its turn's best-scoring sentence; with ``threshold_unit="turn"`` the "cv" threshold
        counts turns. ``witness_rows_`` records, per tag, the position in mate_embeddings of
        the sentence learnt instead (-1: the tag itself).

        copies: (len(X),) rows in the scope sharing each tagged text, for ``copy_weight``.
        unlabelled: (m, d) untagged sentences (each text once), for ``pseudo_positives``;
        ``pseudo_rows_`` records the positions in it of the positives added.
        scope, scope_groups, positives: for ``detect_at_least`` / ``detect_at_most``, every sentence of the
        tracker's scope (m, d), their speaker turns (m,) or None (the bound then counts
        sentences), and the positive units (turns, or sentences) the random tags estimate, or
        a callable ``positives(model, scope_raw)`` (the scope's ``raw_scores``) that counts them once the
        "cv" threshold is chosen (only when a bound applies; it may depend on that threshold, never on the bound).

        Raises ValueError unless both classes are present, the examples counting as YES:
        with only YES tags there is no boundary to learn, and the planner falls back to
        similarity until a NO arrives.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        if self.threshold_unit not in ("sentence", "turn"):
            raise ValueError(f"threshold_unit must be 'sentence' or 'turn', got {self.threshold_unit!r}")
        if self.background_threshold not in BACKGROUND_THRESHOLDS:
            raise ValueError(f"background_threshold must be one of {BACKGROUND_THRESHOLDS}, "
                             f"got {self.background_threshold!r}")
        if self.yes_sentence not in ("best_of_turn", "tagged"):
            raise ValueError(f"yes_sentence must be 'best_of_turn' or 'tagged', got {self.yes_sentence!r}")
        mates = self._mates(X, mate_embeddings, mate_of)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}. "
                "A tracker's tags are YES (1) and NO (0); NOT SURE is not a label."
            )
        E = None
        if example_embeddings is not None and len(example_embeddings) and self.example_weight > 0:
            rows = np.asarray(example_embeddings, dtype=X.dtype).reshape(-1, X.shape[1])
            E = (rows, np.full(len(rows), float(self.example_weight)))
        classes = np.unique(y)
        if classes.size == 1 and E is not None and classes[0] == 0:
            # Every tag so far is NO: the examples are the positive class, and a model
            # fitted on them still ranks the corpus better than similarity alone.
            classes = np.array([0, 1], dtype=y.dtype)
        elif classes.size != 2:
            raise ValueError(
                "TrackerModel needs tags of both classes (YES and NO); got one class, "
                f"{classes.tolist()}. Tag more sentences (the planner falls back to "
                "similarity and diverse picks until both are present)."
            )
        self.classes_ = classes
        # Kept as fitted data, not a parameter: the estimate's refits get it (held_out.fit_copy).
        self.background_ = (None if background is None or self.background_negatives <= 0
                            else np.asarray(background, dtype=X.dtype)[: int(self.background_negatives)])
        y_enc = np.searchsorted(classes, y)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
        sample_weight = self._copy_weights(copies, len(X), sample_weight)
        self.prior_direction_ = None
        if self.example_prior > 0 and E is not None:
            centre = E[0].mean(axis=0)
            self.prior_direction_ = centre / max(float(np.linalg.norm(centre)), 1e-12)
        self.C_ = self._choose_C(X, y_enc, sample_weight, E)
        self.witness_rows_ = np.full(len(X), -1, dtype=np.int64)
        if self.yes_sentence == "best_of_turn" and mates is not None:
            X = self._witnesses(X, y_enc, sample_weight, E, *mates)
        self.lr_ = self._fit_lr(X, y_enc, sample_weight, E)
        self.pseudo_rows_ = np.zeros(0, dtype=np.int64)
        if self.pseudo_positives > 0 and unlabelled is not None and len(unlabelled):
            E = self._self_train(X, y_enc, sample_weight, E, example_embeddings, unlabelled)
        self.n_iter_ = int(np.max(self.lr_.n_iter_))
        self.threshold_unbounded_ = self.threshold_ = self._threshold(X, y_enc, sample_weight, E, mates)
        if self.threshold == "cv":
            self.threshold_ = self._bounded(int((y_enc == 1).sum()), scope, scope_groups, positives)
        return self

    def _threshold(self, X, y, sample_weight, E, mates) -> float:
        """The threshold as ``threshold`` says, before any bound."""
        if not isinstance(self.threshold, str):
            return float(self.threshold)
        if self.threshold == "cv":
            return self._cv_threshold(X, y, sample_weight, E, mates if self.threshold_unit == "turn" else None)
        if self.threshold == "balanced":
            return 0.0
        raise ValueError(f"threshold must be 'cv', 'balanced' or a number, got {self.threshold!r}")

    def _bounded(self, n_yes: int, scope, scope_groups, positives) -> float:
        """The "cv" threshold within ``detect_at_least`` / ``detect_at_most`` of the
        estimated positives."""
        least, most = float(self.detect_at_least or 0), float(self.detect_at_most or 0)
        if least < 0 or most < 0 or (least and most and most < least):
            raise ValueError("detect_at_least and detect_at_most must be 0 (off) or positive factors, "
                             f"at most <= at least; got {self.detect_at_least!r}, {self.detect_at_most!r}")
        if self.positives_from not in POSITIVES_FROM:
            raise ValueError(f"positives_from must be one of {POSITIVES_FROM}, got {self.positives_from!r}")
        if not (least or most) or scope is None or positives is None or n_yes >= self.bound_below_yes:
            return self.threshold_
        with config_context(assume_finite=True):
            raw = self.raw_scores(np.asarray(scope))
        positives = positives(self, raw) if callable(positives) else positives  # a count may be None
        if positives is None:
            return self.threshold_
        p = float(positives)
        return bounded_threshold(unit_scores(raw, scope_groups), self.threshold_,
                                 least * p if least else None, most * p if most else None)

    def _mates(self, X, mate_embeddings, mate_of):
        """(mate rows, the row of X each belongs with), checked, or None without mates."""
        if self.threshold_unit == "turn" and self.threshold == "cv" and mate_embeddings is None:
            raise ValueError("threshold_unit='turn' needs the tags' turn mates: "
                             "fit(..., mate_embeddings=, mate_of=), see turn_mates()")
        if mate_embeddings is None:
            return None
        M = np.asarray(mate_embeddings, dtype=X.dtype).reshape(-1, X.shape[1])
        owner = np.asarray(mate_of if mate_of is not None else [], dtype=np.int64).ravel()
        if owner.shape != (len(M),) or (owner.size and (owner.min() < 0 or owner.max() >= len(X))):
            raise ValueError(
                f"mate_of must give, for each of the {len(M)} mate rows, the row of X (0 to "
                f"{len(X) - 1}) whose speaker turn it shares; got shape {owner.shape}"
            )
        return M, owner

    def _witnesses(self, X, y, sample_weight, E, M, owner, passes: int = 2) -> np.ndarray:
        """X with each YES tag's row replaced by its turn's best-scoring untagged sentence,
        where that scores above the tag itself. The first pass scores with a classifier that
        has not learnt from those YES tags (fitted on the other tags and the examples), since
        a tag learnt from scores high in its own turn whatever it says; each later pass refits
        on the previous pass's witnesses."""
        yes = y[owner] == 1
        M, owner, mate_idx = M[yes], owner[yes], np.flatnonzero(yes)
        if not len(owner):
            return X
        chosen = np.full(len(X), -1, dtype=np.int64)
        rest = np.ones(len(X), bool)
        rest[owner] = False
        if not ((y[rest] == 1).any() or E is not None) or not (y[rest] == 0).any():
            rest[:] = True  # nothing to learn from without them: start from every tag
        Xw, yw, sw = X[rest], y[rest], None if sample_weight is None else sample_weight[rest]
        for _ in range(passes):
            lr = self._fit_lr(Xw, yw, sw, E)
            s_tag, s_mate = lr.decision_function(X), lr.decision_function(M)
            # Per tag, its best mate: sort by (tag, -score) and keep each tag's first.
            order = np.lexsort((-s_mate, owner))
            first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
            better = first[s_mate[first] > s_tag[owner[first]]]
            chosen = np.full(len(X), -1, dtype=np.int64)
            chosen[owner[better]] = mate_idx[better]
            Xw, yw, sw = X.copy(), y, sample_weight
            Xw[owner[better]] = M[better]
        self.witness_rows_ = chosen
        return Xw

    def _self_train(self, X, y, sample_weight, E, example_embeddings, unlabelled):
        """Add the best-scored untagged sentences near a known positive as weak positives and
        refit (``pseudo_positives``). Returns the extra positives every later fit sees."""
        U = np.asarray(unlabelled, dtype=X.dtype).reshape(-1, X.shape[1])
        known = [X[y == 1]]
        if example_embeddings is not None and len(example_embeddings):
            known.append(np.asarray(example_embeddings, dtype=X.dtype).reshape(-1, X.shape[1]))
        known = np.concatenate(known)
        near = np.flatnonzero((U @ known.T).max(axis=1) >= self.pseudo_min_cosine)
        if not near.size:
            return E
        chosen = near[np.argsort(-self.lr_.decision_function(U[near]), kind="stable")[: self.pseudo_positives]]
        self.pseudo_rows_ = chosen
        extra = (U[chosen], np.full(len(chosen), float(self.pseudo_weight)))
        E = extra if E is None else (np.vstack([E[0], extra[0]]), np.concatenate([E[1], extra[1]]))
        self.lr_ = self._fit_lr(X, y, sample_weight, E)
        return E

    def _cv_threshold(self, X, y, sample_weight, E, mates=None) -> float:
        k = min(self.cv, int(np.bincount(y, minlength=2).min()))
        if k < 2:
            return 0.0
        oof = np.empty(len(y))
        folds = StratifiedKFold(k, shuffle=True, random_state=self.random_state)
        for tr, te in folds.split(X, y):
            sw = None if sample_weight is None else sample_weight[tr]
            lr = self._fit_lr(X[tr], y[tr], sw, E)
            oof[te] = lr.decision_function(X[te])
            if mates is not None and len(mates[1]):
                # The held-out tag's turn scores as its best sentence, under the same fold
                # model, so that no score in the turn has seen the tag.
                held = np.isin(mates[1], te)
                if held.any():
                    np.maximum.at(oof, mates[1][held], lr.decision_function(mates[0][held]))
        return best_f1_threshold(oof, y, sample_weight)

    def raw_scores(self, X) -> np.ndarray:
        """Decision values before the threshold's shift: ``decision_function`` is this - ``threshold_``."""
        check_is_fitted(self, "lr_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        # In the input's dtype: upcasting 100,000 x 384 float32 rows to float64 costs more than the product.
        coef = self.lr_.coef_.ravel().astype(X.dtype)
        return (X @ coef + X.dtype.type(self.lr_.intercept_[0])).astype(np.float64)

    def decision_function(self, X) -> np.ndarray:
        """Decision values shifted so that the chosen threshold is 0."""
        return self.raw_scores(X) - self.threshold_

    def predict_proba(self, X) -> np.ndarray:
        """Logistic of the shifted decision: 0.5 at the threshold. Not a calibrated
        corpus probability (tags are not a random sample); use it to rank."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "lr_")
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


COPY_WEIGHTS = {"none": np.ones_like, "log1p": np.log1p, "sqrt": np.sqrt}
POSITIVES_FROM = ("random_tags", "estimate", "estimate_median")
