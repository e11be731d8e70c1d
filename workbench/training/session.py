"""One tracker's active-learning loop over arrays: plan a round, record the answers, fit, estimate.

This is the only copy of the loop. The Tracker builds a session from its workspace (the scope's
embeddings, the tags in SQLite) and asks it for rounds, the model and the estimate; the
benchmarks and tests drive the same session with a simulated user::

    session = ActiveLearningSession(X, X[examples], turns=turns, duplicates=text_codes, seed=0)
    for number in range(1, 5):
        plan = session.plan_round(number)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    model, estimate = session.model(), session.estimate()

Everything the session computes (the model, its scores, the held-out scores, the estimate) is
cached under a hash of the tags' *content* (answers, shown, rounds, inclusion probabilities),
so that a changed answer is seen at once and an unchanged one costs nothing.
The tags themselves, and those hashes, are the part the session inherits from
``TaggedRows`` (workbench/training/tags.py).

By default every tag trains the model, a verification round's too, so it moves after each.
``keep_model_while_verifying`` holds it while the user verifies: verification rounds after the
last learning round leave it out of the fit (they join at the next learning round's first
answer), so each of their tags is a random draw of fixed detections with a known chance. The
model is cached under the hash of its fitted tags, the estimate under every tag's. An option, off
by default: what it costs and saves in tags on held-out seeds, with which samplers, is in the
README's "Levers measured and not adopted" (results/verify_until_s1*_compare*.md).
"""
from __future__ import annotations

import dataclasses
import json
import threading
from functools import partial
from typing import Any, Callable

import numpy as np
from sklearn import config_context

from workbench.training.background import background_rows, count_threshold
from workbench.training.curve import detection_change
from workbench.training.duplicates import representatives
from workbench.training.estimate import (
    HonestFigures,
    RankOrder,
    configured_estimators,
    estimate_performance,
    held_out_scores,
    sample_detections,
)
from workbench.training.model import TrackerModel, turn_mates
from workbench.training.detected_turns import DetectedTurnsStrategy
from workbench.training.neyman import NeymanDetectedStrategy
from workbench.training.performance import PerformanceEstimate
from workbench.training.pool import NO, YES, Pool, SimilarityMemo
from workbench.training.prevalence import estimated_positives
from workbench.training.rounds import PlannedRound, RoundPlanner
from workbench.training.tags import TaggedRows, digest, read_only
from workbench.training.verification import (
    SAMPLERS,
    VerificationGoal,
    VerificationNeed,
    verification_need,
)

ROUND_SIZE = 25
VERIFICATION_SIZE = 20
# A verification round is a random sample of the detections (DetectedSampleStrategy) and
# nothing else: every tag of it has a known chance of being drawn.
VERIFICATION_STRATEGY = "detected_sample"
# Verifying until an accuracy is reached also draws likely misses (``verification.SAMPLERS``):
# a round of any of these samplers alone is a verification round.
VERIFICATION_STRATEGIES = tuple(SAMPLERS.values()) + (NeymanDetectedStrategy.name, DetectedTurnsStrategy.name)


def round_kind(strategies) -> str:
    """"verification" when every pick is a verification sampler's, else "learning"."""
    strategies = list(strategies)
    return "verification" if strategies and all(s in VERIFICATION_STRATEGIES for s in strategies) else "learning"


class ActiveLearningSession(TaggedRows):
    """The tags of one tracker over its scope, and what they make: rounds, model, estimate.

    Rows are the sentences of the tracker's scope (the Tracker's training scope), in a fixed
    order the caller maps back to sentence ids.

    Parameters
    ----------
    embeddings : (n, d) unit-length sentence embeddings.
    example_embeddings : (k, d) the tracker's example sentences.
    description_embedding : (d,) the tracker's description, or None.
    turns : (n,) integer code of each row's speaker turn, or None. With turns, a YES is
        learnt from its turn's best sentence, the probe reports each turn's chance, and the
        estimate counts turns.
    call_ids : (n,) each row's call, for the number of calls with a detection.
    duplicates : (n,) integer code of each row's text (``duplicates.text_codes``: case,
        spaces and punctuation folded). A text is one candidate: a round offers it once
        (through one row), a tag answers every copy (``labels``, ``shown``, ... extend it to
        them), the model learns it once, the probability
        samplers draw texts, and the estimate counts a drawn text's copies as one cluster.
        None: every row is its own text.
    planner_params : RoundPlanner settings (early_mix, late_mix, basic_rounds, shuffle).
    model_params : TrackerModel parameters.
    estimate_params : options of ``estimate_performance`` (its estimators' parameters by
        name, or ``reference=`` / ``honest=`` estimator objects).
    pool_params : Pool options (description_weight, copy_cap, frequent_copies).
    verification_samplers : per figure ("precision", "hit_rate"), the strategy a verification
        round for it draws with, by registered name or as an object (default
        ``verification.SAMPLERS``); e.g. ``{"precision": NeymanDetectedStrategy(strata=4)}``.
    keep_model_while_verifying : hold the model while the user verifies (module docstring):
        the tags of verification rounds (``tag(kind="verification")``) after the last learning
        round stay out of the fit, a held tag's held-out score being the model's own. False
        (default): every tag trains the model at once.
    seed : seeds the planner, the model's folds and the estimate.
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        example_embeddings: np.ndarray,
        description_embedding: np.ndarray | None = None,
        *,
        turns: np.ndarray | None = None,
        call_ids: np.ndarray | None = None,
        duplicates: np.ndarray | None = None,
        planner_params: dict | None = None,
        model_params: dict | None = None,
        estimate_params: dict | None = None,
        pool_params: dict | None = None,
        verification_samplers: dict | None = None,
        keep_model_while_verifying: bool = False,
        seed: int = 0,
    ) -> None:
        self.embeddings = embeddings
        self.example_embeddings = example_embeddings
        self.description_embedding = description_embedding
        self.turns = turns
        self.call_ids = call_ids
        self.duplicates = duplicates
        self.planner_params = planner_params
        self.model_params = model_params
        self.estimate_params = estimate_params
        self.pool_params = pool_params
        self.verification_samplers = {**SAMPLERS, **(verification_samplers or {})}
        self.keep_model_while_verifying = keep_model_while_verifying
        self.seed = seed
        self._settings_key = digest(
            np.asarray(example_embeddings, np.float32).tobytes(),
            b"" if description_embedding is None else np.asarray(description_embedding, np.float32).tobytes(),
            json.dumps([planner_params, model_params, estimate_params, pool_params, seed, keep_model_while_verifying],
                       sort_keys=True, default=repr).encode(),
        )
        TaggedRows.__init__(self, len(embeddings), duplicates)
        self._cache: dict[str, tuple[str, Any]] = {}
        # Every row's similarity to the examples and YES tags, kept between rounds (Pool).
        self._similarity = SimilarityMemo()
        self._background_order: np.ndarray | None = None  # drawn at the first fit that needs it
        # A round planned ahead on a worker (``plan_ahead``): (tags key, number, n, round); the
        # tags' lock (TaggedRows._planning) keeps them from changing under the worker.
        self._ahead: tuple | None = None

    @property
    def available(self) -> np.ndarray:
        """Rows that may still be offered: never shown, and no copy of their text shown."""
        return self._cached("available", self._available)

    def _available(self) -> np.ndarray:
        return ~self._shown  # a shown text's copies are shown too (_answer_copies)

    # ------------------------------------------------------------------ rounds
    def plan_round(self, round_number: int | None = None, n: int = ROUND_SIZE) -> PlannedRound:
        """The next learning round: ``n`` rows chosen by the planner's mix for this round
        (``round_number``: default, one after the last tagged round). Empty when every row
        has been shown. A round planned ahead for these tags (``plan_ahead``) is returned
        instead of planning it again (waiting for it if it is still being planned)."""
        with self._planning:
            return self._plan_round(round_number, n)

    def _plan_round(self, round_number: int | None, n: int) -> PlannedRound:
        if round_number is None:
            round_number = max(int(self._tag_round.max(initial=0)), 0) + 1
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:3] == (self.key, round_number, n):
            return ahead[3]
        return self._plan(round_number, n, self.planner_params or {})

    def plan_ahead(self, round_number: int, n: int = ROUND_SIZE) -> threading.Thread:
        """Start planning round ``round_number`` on a worker thread; ``plan_round`` with the same
        tags, number and size then returns it. The Tracker starts it once a training has its
        model and scores, so that the next round (the rows' similarity to the new YES tags, a
        pass over every embedding, then the picks) is planned while the training estimates and
        logs to MLflow rather than when the user asks for it. The round is the one
        ``plan_round`` would plan (the planner's generator is seeded by the round); tagging
        waits for the worker, and a failure leaves ``plan_round`` to plan (and raise) itself.
        The cached results the worker reads (model, scores) are those of the tags it plans
        from: asked for on both threads, one computes what the other would (the same values)."""
        def work() -> None:
            try:
                self._ahead = (self.key, round_number, n, self._plan(round_number, n, self.planner_params or {}))
            except Exception:  # noqa: BLE001 - plan_round plans again and raises it there
                self._ahead = None
            finally:
                self._planning.release()

        self._planning.acquire()  # before the worker starts: a later call waits for its round
        try:
            worker = threading.Thread(target=work, name="workbench-next-round", daemon=True)
            worker.start()
        except BaseException:
            self._planning.release()
            raise
        return worker

    def plan_verification(self, round_number: int | None = None, n: int = VERIFICATION_SIZE, *,
                          precision: float | None = None, hit_rate: float | None = None) -> PlannedRound:
        """A verification round: up to ``n`` random detections of the current model, spread
        over their scores, none shown before. Empty when no detection is left to show. Tag it
        with ``kind=plan.kind`` ("verification"), so that ``keep_model_while_verifying`` can
        hold the model until the next learning round.

        With an accuracy asked (``precision=0.05``, ``hit_rate=0.10``: half-widths of the
        honest 90% intervals), the round serves the figure furthest from it (random detections
        for precision, likely misses for the hit rate; ``workbench.training.verification``),
        and is empty once every asked half-width is reached."""
        scores = self.scores()
        if scores is None:
            raise ValueError("a verification round needs a model: tag at least one YES and one NO")
        figure = "precision"
        if precision is not None or hit_rate is not None:
            figure = self.verification_need(precision=precision, hit_rate=hit_rate).next_figure()
            if figure is None:
                n = 0
        side = scores <= 0 if figure == "hit_rate" else scores > 0
        n = min(n, int(np.unique(self._texts[self.available & side]).size))
        mix = {self.verification_samplers[figure or "precision"]: 1}
        # A verification round samples what the tracker detects: around the cut it reports.
        return dataclasses.replace(self._plan(round_number, n, {"early_mix": mix, "late_mix": mix}, 0.0),
                                   kind="verification")

    def verification_need(self, *, precision: float | None = None, hit_rate: float | None = None) -> VerificationNeed:
        """How far the honest estimate is from the asked accuracy, and the projected tags
        still needed (``verification.tags_needed`` says what the projection assumes)."""
        goal = VerificationGoal(precision=precision, hit_rate=hit_rate)
        scores = self.scores()
        if scores is None:
            raise ValueError("a verification needs a model: tag at least one YES and one NO")
        labels, _, _, pi = self._own  # the answers as given: each drawn text once
        random_tag = (labels >= 0) & np.isfinite(pi) & (pi > 0)
        detected = scores > 0
        random_tags = {"precision": int((random_tag & detected).sum()), "hit_rate": int((random_tag & ~detected).sum())}
        left = {side: int(np.unique(self._texts[self.available & mask]).size)
                for side, mask in (("precision", detected), ("hit_rate", ~detected))}
        return verification_need(goal, self.estimate(), random_tags, left)

    def _plan(self, round_number: int | None, n: int, planner_params: dict,
              threshold: float | None = None) -> PlannedRound:
        if round_number is None:
            round_number = max(int(self._tag_round.max(initial=0)), 0) + 1
        pool = Pool(
            # Each answer once (not per copy): what similarity to the YES tags is measured against.
            self.embeddings, self.answers, self.example_embeddings, self.description_embedding,
            excluded=~self.available, round_number=round_number - 1, scores=self.scores(),
            threshold=self._planning_threshold() if threshold is None else threshold, groups=self.turns,
            texts=self._texts, similarity_memo=self._similarity, **(self.pool_params or {}),
        )
        return RoundPlanner(seed=self.seed, **planner_params).plan(pool, n)

    def _planning_threshold(self) -> float:
        """Where the rounds see the model's cut, on the scale of ``scores``: 0, or with a bound
        (``detect_at_least`` / ``detect_at_most``) the "cv" cut the bound moved away from. The
        bound changes what the tracker detects, not where the tags put the boundary: planned
        around the moved cut, the near misses and the probe's strata followed it, and
        typed concepts lost up to 0.2x the ceiling in single runs (seeds 0-11, session 14)."""
        model = self.model()
        if model is None or not hasattr(model, "threshold_unbounded_"):
            return 0.0
        return float(model.threshold_unbounded_ - model.threshold_)

    # ------------------------------------------------------------------ the model
    def turn_mates(self, tagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The other sentences of each tagged row's speaker turn and, for each, the position
        in ``tagged`` of its tag (``model.turn_mates``). A row tagged NOT SURE is never one of
        them, since NOT SURE is never used as a label. Empty without turns."""
        if self.turns is None:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        rows, of = turn_mates(self.turns, tagged)
        keep = ~self._fitted[1][rows]  # a held tag's sentence is left out as the fit leaves it
        return rows[keep], of[keep]

    def model(self) -> TrackerModel | None:
        """The classifier fitted on every YES and NO tag but the held verification tags
        (``held_rounds``; each YES learnt from its turn's best sentence), or None while there
        is not at least one of each."""
        return self._cached("model", self._fit, fitted=True)

    fitted_answers = property(lambda self: read_only(self._fitted[0]), doc="``answers`` but the held ones.")

    def _fit(self) -> TrackerModel | None:
        answers = self._fitted[0]
        if not (answers == YES).any() or not (answers == NO).any():
            return None
        tagged = np.flatnonzero(answers >= 0)
        mates = {}
        if self.turns is not None:
            rows, of = self.turn_mates(tagged)
            mates = {"mate_embeddings": self.embeddings[rows], "mate_of": of}
        model = TrackerModel(random_state=self.seed, **(self.model_params or {}))
        # Each text once, unweighted by default (``copy_weight``: weighting by copies lowered
        # the median F1, benchmarks/tracker_quality_history.md, sessions 7 and 11).
        extra = {}
        if model.background_negatives > 0:
            extra["background"] = self.embeddings[self._background_rows(model.background_negatives)]
        if model.copy_weight != "none":
            extra["copies"] = np.bincount(self._texts)[self._texts[tagged]]
        if model.pseudo_positives > 0:
            # Self-training draws from the untagged texts, each once.
            extra["unlabelled"] = self.embeddings[representatives(self._texts, ~self._fitted[1])]
        if model.detect_at_least or model.detect_at_most:
            # The positives (honest estimate, or the random tags as recorded) and every sentence
            # of the scope, to count what a threshold detects, by turn as the estimate counts.
            labels, _, tag_round, inclusion_prob = self._fitted[2]
            positives = (self._honest_positives if model.positives_from.startswith("estimate")
                         else estimated_positives(labels, tag_round, inclusion_prob, self.turns))
            extra.update(scope=self.embeddings, scope_groups=self.turns, positives=positives)
        model.fit(self.embeddings[tagged], answers[tagged].astype(int),
                  example_embeddings=self.example_embeddings, **mates, **extra)
        if model.background_negatives > 0 and model.background_threshold == "count":
            # The background ranks; the same model without it says how many units to detect. Its
            # count is its own: what the session keeps under the fitted tags is the model's.
            twin = TrackerModel(random_state=self.seed, **{**(self.model_params or {}), "background_negatives": 0})
            if callable(extra.get("positives")):
                extra["positives"] = partial(self._honest_positives, shared=False)
            twin.fit(self.embeddings[tagged], answers[tagged].astype(int),
                     example_embeddings=self.example_embeddings, **mates, **extra)
            with config_context(assume_finite=True):
                model.threshold_ = count_threshold(model, twin, self.embeddings, self.turns)
        return model

    def _background_rows(self, n: int) -> np.ndarray:
        """``background.background_rows`` along a fixed random order of this session's rows."""
        if self._background_order is None:
            self._background_order = np.random.default_rng([self.seed, 7]).permutation(len(self.embeddings))
        return background_rows(self._background_order, self._fitted[1], self._texts, n)

    def _honest_positives(self, model: TrackerModel, raw: np.ndarray, *, shared: bool = True) -> float | None:
        """The positive units of the scope by the honest estimate of ``model`` at its "cv"
        threshold (``positives_from="estimate"``), which the tags alone set; ``raw``: its
        ``raw_scores`` on every row. The rounds' raw random draws count 0.12x the truth in the
        median speech run (session 13); the estimate calibrates the tail on the tags' out-of-fold
        scores. What it computes is kept under the fitted tags' hash (0.2 CPU s a round at 1M):
        the raw scores, the figures at the cut (``_honest_at_cut``), the held-out refits
        (``_held_out_raw``). ``shared=False``: another model (the background's twin) keeps nothing."""
        if shared:
            raw = self._cached("raw_scores", lambda: raw, fitted=True)
        labels, shown, tag_round, inclusion_prob = self._fitted[2]
        _, honest = configured_estimators(**self._estimator_params())
        held = self._held_out_raw(model) if shared else self._held_out_refits(model)
        if held is None:
            return None
        at = float(model.threshold_)
        figures = honest.estimate(self.embeddings, labels, model, scores=raw - at, excluded=shown, tag_round=tag_round,
                                  inclusion_prob=inclusion_prob, groups=self.turns,
                                  example_embeddings=self.example_embeddings, held_out=held - at,
                                  rank_order=self._cached("rank_order", RankOrder, fitted=True) if shared else None)
        if shared:
            self._cached("honest_at_cut", lambda: (at, figures), fitted=True)
        if figures.positives is None:
            return None
        return figures.positives_median if model.positives_from == "estimate_median" else figures.positives.value

    def scores(self) -> np.ndarray | None:
        """The model's decision values on every row (0 at its threshold), or None."""
        def compute():
            model = self.model()
            if model is None:
                return None
            # The raw scores less the threshold: ``decision_function``, bit for bit.
            return self._raw_scores(model) - model.threshold_
        return self._cached("scores", compute, fitted=True)

    def _raw_scores(self, model: TrackerModel) -> np.ndarray:
        """``model.raw_scores`` on every row, ``model`` being the fitted tags' (or the fit in
        progress, whose raw scores its bound leaves as they are)."""
        def compute():
            # Every row at once: sklearn's check that a million embeddings are finite reads them
            # all once more; they are (the cache refuses a vector that is not, ``EmbeddingCache.add``).
            with config_context(assume_finite=True):
                return model.raw_scores(self.embeddings)
        return self._cached("raw_scores", compute, fitted=True)

    def held_out(self) -> np.ndarray | None:
        """Per tagged row, the decision value of the model refitted without it (k-fold, the
        estimate's own folds; a held verification tag's is the model's own, which never saw
        it); NaN elsewhere. None without a model or with too few tags."""
        def compute():
            held = self._fitted_held_out()
            if held is None:
                return None
            held = held.copy()
            answered_held = self._held & (self._own[0] >= 0)
            held[answered_held] = self.scores()[answered_held]
            # Each copy of a tagged text takes its text's held-out value.
            source_of_text = np.full(int(self._texts.max()) + 1, -1)
            source_of_text[self._texts[self._source]] = np.flatnonzero(self._source)
            copies = (self._labels >= 0) & ~self._source
            held[copies] = held[source_of_text[self._texts[copies]]]
            return held
        return self._cached("held_out", compute)

    def _fitted_held_out(self) -> np.ndarray | None:
        """``held_out`` over the fitted tags, kept while verification rounds leave them alone."""
        def compute():
            model = self.model()
            held = None if model is None else self._held_out_raw(model)
            # Shifted to the model's threshold: the refits holding it, bit for bit (``held_out_scores``).
            return None if held is None else held - float(model.threshold_)
        return self._cached("fitted_held_out", compute, fitted=True)

    def _held_out_raw(self, model: TrackerModel) -> np.ndarray | None:
        """The fitted tags' held-out scores on the raw scale (refits holding threshold 0), the
        same for any threshold ``model`` ends at: the bound's count and the estimate shift them."""
        return self._cached("held_out_raw", lambda: self._held_out_refits(model), fitted=True)

    def _held_out_refits(self, model: TrackerModel) -> np.ndarray | None:
        # The honest estimator's folds, so that the estimate takes these instead of refitting.
        # Folds of texts, not rows: a copy in the training fold would score its text as seen.
        _, honest = configured_estimators(**self._estimator_params())
        return held_out_scores(model, self.embeddings, self._fitted[0], example_embeddings=self.example_embeddings,
                               n_folds=honest.n_folds, random_state=honest.random_state, threshold=0.0)

    def estimate(self) -> PerformanceEstimate | None:
        """The performance estimate of the current model (see PerformanceEstimate), or None."""
        def compute():
            if self.model() is None:
                return None
            # The answers as given, on the rows shown: a copy of a tagged text stays an unknown
            # unit, estimated like any other. Counted as answered by its text's tag, it broke
            # the intervals on real conversations, where a text's meaning depends on its turn
            # (benchmarks/tracker_quality_history.md, session 7).
            _, shown, tag_round, inclusion_prob = self._own
            return estimate_performance(
                self.embeddings, self.answers, self.model(), excluded=shown, tag_round=tag_round,
                inclusion_prob=inclusion_prob, scores=self.scores(), call_ids=self.call_ids,
                groups=self.turns, example_embeddings=self.example_embeddings, held_out=self.held_out(),
                honest_figures=self._honest_at_cut(), copy_labels=self._labels,
                texts=self._texts, **self._estimator_params(),
                rank_order=self._cached("rank_order", RankOrder, fitted=True),  # the count's, shifted
            )
        return self._cached("estimate", compute)

    def _honest_at_cut(self) -> HonestFigures | None:
        """The honest figures the bound's count took at the "cv" cut (``_honest_positives``)
        where they are the estimate's own, else None. They are when the bound left the model's
        threshold at that cut (the same scores and held-out scores), no verification tag is
        held out of the fit (the count read every tag) and each text's answer is on the row
        shown (the count's labels, as recorded, are the estimate's ``answers``), nor read from copies."""
        model, hit = self.model(), self._cache.get("honest_at_cut")
        if (hit is None or hit[0] != self.fit_key or hit[1][0] != model.threshold_ or self._held.any()
                or configured_estimators(**self._estimator_params())[1].copies_from_tags):  # the count read no copies
            return None
        return hit[1][1] if np.array_equal(self._own[0], self.answers) else None

    def _estimator_params(self) -> dict:
        return {"random_state": self.seed, **(self.estimate_params or {})}

    def detection_change(self, previous_scores: np.ndarray) -> float | None:
        """Share of detections that moved since a previous model's decision values (1 -
        Jaccard; both cut at 0). None without a model."""
        scores = self.scores()
        return None if scores is None else detection_change(previous_scores, scores)

    def learnt_from(self) -> tuple[np.ndarray, np.ndarray]:
        """The YES and NO tags the model is fitted on (rows, ascending) and, for each, the
        row of its speaker turn the classifier learnt it from instead (-1: the tag itself;
        only a YES is ever read from another sentence). Empty without a model."""
        model = self.model()
        if model is None:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        tagged = np.flatnonzero(self._fitted[0] >= 0)
        rows, _ = self.turn_mates(tagged)
        witness = np.full(len(tagged), -1, np.int64)
        chosen = model.witness_rows_ >= 0
        witness[chosen] = rows[model.witness_rows_[chosen]]
        return tagged, witness

    def sample_detections(self, n: int = 20, *, scores: np.ndarray | None = None) -> np.ndarray:
        """``n`` detections (rows, highest score first) spread over the score range, none of
        them a sentence shown and each text once (a sentence said in many calls would crowd
        out the rest). A tagged text's copy may be one: these show what the tracker finds,
        and a scope of few texts would otherwise have none left. Empty without a model.
        ``scores``: another model's decision values on every row (default: this session's)."""
        scores = self.scores() if scores is None else scores
        if scores is None:
            return np.empty(0, np.int64)
        first = representatives(self._texts, ~self._own[1])
        return sample_detections(np.where(first, scores, -np.inf), 0.0, n=n, rng=np.random.default_rng(self.seed))

    def _cached(self, name: str, compute: Callable[[], Any], fitted: bool = False) -> Any:
        """``compute()``, kept under the hash of every tag, or with ``fitted`` of the tags
        the model is fitted on."""
        key = self.fit_key if fitted else self.key
        hit = self._cache.get(name)
        if hit is None or hit[0] != key:
            hit = (key, compute())
            self._cache[name] = hit
        return hit[1]

