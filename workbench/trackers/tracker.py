"""Tracker: a smart tracker's definition, examples, rounds, tags, model versions and detections.

Every method that changes state commits it to the workspace's SQLite database before it returns:
a tag survives a killed kernel, and reopening the workspace continues the same round.
"""
from __future__ import annotations

from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from workbench.core.errors import NotFoundError, ValidationError, WorkbenchError
from workbench.registry.linear_model import LinearTrackerModel
from workbench.storage.reference import ReferenceLabels
from workbench.storage.trackers import TrainingStore
from workbench.trackers.base import BaseTracker
from workbench.trackers.examples import require_minimum, validate_examples
from workbench.trackers.rounds import ANSWERS, ROUND_SIZE, VERIFICATION_SIZE, Round, round_kind
from workbench.trackers import bundle_figures, tracker_state
from workbench.trackers.figures_later import version_figures
from workbench.trackers.tracker_state import ScopeArrays, TrackerSessions, TrainingResult
from workbench.trackers.truth import reference_truth
from workbench.training.session import ActiveLearningSession
from workbench.training.verification import VerificationGoal


class Tracker(BaseTracker):
    """A smart tracker: learns a concept from example sentences and tagged rounds."""

    kind = "smart"

    # -- publishing and bundles (workbench.activation, through ws.services.publishing) -------------------------
    def unpublished_changes(self) -> list[str]:
        return self.ws.services.publishing.unpublished_changes(self.record)

    @property
    def has_unpublished_changes(self) -> bool:
        return bool(self.unpublished_changes())

    def diff(self, version: int | None = None, **options: Any):
        """What publishing ``version`` (default: the latest) would change: gained and lost detections."""
        return self.ws.services.publishing.diff(self.record, version, **options)

    def publish(self, version: int | None = None, **options: Any):
        """Make ``version`` (default: the latest) live and re-apply it to the history."""
        result = self.ws.services.publishing.publish(self.record, version, **options)
        self.refresh()
        return result

    def export_bundle(self, path: str | Path, *, version: int | None = None) -> Path:
        """Write the tracker as a self-contained bundle (definition, examples, tags, model, metrics)."""
        return self.ws.services.publishing.export_bundle(self.record, path, examples=self.examples, tags=self.tags(),
                                                         version=version)

    @cached_property
    def _records(self) -> TrainingStore:
        return TrainingStore(self.ws.store, self.id)

    # ------------------------------------------------------------------ examples
    @property
    def examples(self) -> list[str]:
        return self._records.examples()

    def add_examples(self, texts: list[str] | str) -> list[str]:
        """Add example sentences (5 to 100 in all, one sentence each); returns the cleaned ones."""
        cleaned = validate_examples(texts, self.examples)
        self._records.add_examples(cleaned)
        return cleaned

    def remove_example(self, text: str) -> None:
        examples = [e for e in self.examples if e != text]
        if len(examples) == len(self.examples):
            raise NotFoundError(f"'{text}' is not an example of '{self.name}'.")
        self._records.replace_examples(examples)

    # ------------------------------------------------------------------ tags
    def tags(self) -> pl.DataFrame:
        """Every tag given so far: sentence_id, answer, round_number, strategy, text, tagged_at."""
        return self._records.tags()

    def tag(self, sentence_id: int, answer: str) -> None:
        """Tag a sentence YES / NO / NOT SURE; tagging it again changes the answer. Saved at once."""
        answer = {"not sure": "not_sure", "notsure": "not_sure"}.get(str(answer).lower(), str(answer).lower())
        if answer not in ANSWERS:
            raise ValidationError("answer", f"{answer!r} is not an answer", "Use 'yes', 'no' or 'not_sure'.")
        sentence_id = int(sentence_id)
        row = self.ws.tables.sentence_row(sentence_id)
        if row is None:
            raise NotFoundError(f"Sentence {sentence_id} is not in the workspace {self.ws.path}.")
        self._records.save_tag(sentence_id, answer, self.ws.sentences["text"][row])

    def untag(self, sentence_id: int) -> None:
        self._records.delete_tag(int(sentence_id))

    # ------------------------------------------------------------------ rounds
    def rounds(self) -> list[Round]:
        return [self._round_to_show(r) for r in self._records.rounds()]

    def current_round(self) -> Round | None:
        latest = self._records.latest_round()
        return self._round_to_show(latest) if latest else None

    def _round_to_show(self, stored) -> Round:
        answers = self._records.answers([p["sentence_id"] for p in stored.picks])
        return tracker_state.round_to_show(self.ws.sentences, stored, answers)

    def next_round(self, n: int = ROUND_SIZE) -> Round:
        """The round to tag now: the unfinished one if there is one, else 25 new candidates."""
        latest = self._latest_round_state()
        if latest is not None and not latest[1]:
            return self.current_round()
        require_minimum(self.examples)
        number = (latest[0] + 1) if latest else 1
        session = self._session()
        planned = session.plan_round(number, n)
        if len(planned) == 0:
            raise WorkbenchError(f"Every sentence in scope of '{self.name}' has been tagged: there is nothing left to offer.")
        return self._store_round(number, planned)

    def verification_round(self, n: int = VERIFICATION_SIZE, *, precision: float | None = None,
                           hit_rate: float | None = None) -> Round:
        """A round of ``n`` random detections of the current model, spread over their scores.

        Tagging it checks the model where it matters to a user, its detections, with tags
        whose chance of being drawn is known: the honest estimate takes them as random tags,
        so precision rests on more of them (on the benchmark, 20 such tags put the estimated
        precision within 0.05 of the truth on 53% of runs instead of 41%). The tags also
        train the next version like any others. An unfinished round is returned instead.

        Verify until sure: with ``precision=0.05`` and/or ``hit_rate=0.10`` (the half-width
        asked of the honest 90% interval), the round serves the figure furthest from it:
        random detections for precision, the non-detections most likely to be misses for the
        hit rate. Once every asked half-width is reached, the round is empty (nothing stored);
        ``verification_need`` says how many more tags it will likely take.
        """
        current = self.current_round()
        if current is not None and not current.complete:
            return current
        until = precision is not None or hit_rate is not None
        if until:
            _verification_goal(precision, hit_rate)
        session = self._session_with_model()
        number = (current.number + 1) if current else 1
        planned = session.plan_verification(number, n, precision=precision, hit_rate=hit_rate)
        if len(planned) == 0:
            if until:
                return Round(number, [])
            raise WorkbenchError(f"'{self.name}' has no untagged detections to verify.")
        return self._store_round(number, planned)

    def verification_need(self, *, precision: float | None = None, hit_rate: float | None = None):
        """How many more random tags the asked accuracy will likely take (``.more``, and in
        words ``.describe()``), and where each figure's interval stands now; ``.reached`` once
        it is. See ``workbench.training.verification``."""
        _verification_goal(precision, hit_rate)
        return self._session_with_model().verification_need(precision=precision, hit_rate=hit_rate)

    def _store_round(self, number: int, planned) -> Round:
        self._records.add_round(number, tracker_state.stored_picks(self._scope_arrays().frame, planned))
        return self.current_round()

    def _trained_round_number(self) -> int:
        """The last round whose tags are all in: the current one once complete."""
        latest = self._latest_round_state()
        if latest is None:
            return 0
        return latest[0] if latest[1] else latest[0] - 1

    def _latest_round_state(self) -> tuple[int, bool] | None:
        """(number, complete) of ``current_round()``, without the context of its sentences that
        showing it needs (a join over every sentence of their calls, three times a round)."""
        latest = self._records.latest_round()
        if latest is None:
            return None
        ids = [p["sentence_id"] for p in latest.picks]
        answers = self._records.answers(ids)
        # A pick whose sentence a re-import removed is not shown, so it needs no answer.
        shown = self.ws.sentences.filter(pl.col("sentence_id").is_in(ids))["sentence_id"].to_list()
        return latest.number, all(answers.get(s) is not None for s in shown)

    # ------------------------------------------------------------------ the session
    @cached_property
    def _sessions(self) -> TrackerSessions:
        return TrackerSessions(self.ws)

    def _scope_arrays(self) -> ScopeArrays:
        return self._sessions.scope(self.definition)

    def _session(self) -> ActiveLearningSession:
        """The active-learning session over this tracker's scope, holding its stored tags and
        which of its rounds were verification rounds (the model is held over those after the
        last learning round: ``ActiveLearningSession(keep_model_while_verifying=)``)."""
        verification = []
        if self.settings.get("keep_model_while_verifying", False):  # else no round is held: not read
            verification = [r.number for r in self._records.rounds()
                            if round_kind([p.get("strategy", "") for p in r.picks]) == "verification"]
        return self._sessions.session(self.definition, self.examples, self.settings, self.tags(), verification)

    def _session_with_model(self) -> ActiveLearningSession:
        """The session, once its tags make a model: at least one YES and one NO."""
        session = self._session()
        if session.model() is None:
            raise ValidationError(
                "tags", f"{session.n_yes} YES and {session.n_no} NO tags: a model needs at least one of each",
                "Tag more of the round's sentences (expect many NO answers in the first rounds).",
            )
        return session

    # ------------------------------------------------------------------ training
    def train(self, *, deep: bool = False, progress=None) -> TrainingResult:
        """Train on every tag so far and record a new model version (an MLflow run and version).
        The run and version exist when this returns; their params, metrics, files and model are
        logged by the registry's worker a moment later (every read through ``ws.registry`` waits
        for it, and ``ws.registry.wait_for_figures()`` does for a direct MLflow reader).
        ``deep=True``: first fine-tune the tracker's own encoder on its tags (minutes, see
        workbench.trackers.deep_training); ``progress(stage, done, total)`` reports it."""
        if deep:
            from workbench.trackers.deep_training import train_deep
            return train_deep(self, progress)
        session = self._session_with_model()
        model, scores = session.model(), session.scores()  # read by the estimate and the next round
        round_number = self._trained_round_number()
        if self._latest_round_state() in (None, (round_number, True)):
            # The next round (its similarity to the new YES tags, then its picks) planned on one
            # worker while this training estimates and logs to MLflow: next_round() returns it.
            session.plan_ahead(round_number + 1)
        est = session.estimate()
        tags = self.tags()
        params = tracker_state.training_params(self, session, est, round_number, tags, self.ws.embedder.model_id)
        params["round_kind"] = self._round_kind(round_number)
        n_not_sure = params["n_not_sure"]
        metrics = est.flat_metrics()
        metrics["detection_change"] = self._detection_change(session)
        # The keyword baseline at this version, so that a reviewer sees in MLflow whether the
        # tracker beats the keywords its own examples suggest.
        kw = self._keyword_comparison(session)
        params["keyword_baseline"] = ", ".join(kw.phrases) or "(none)"
        metrics.update({"keyword_f1_on_tags": kw.keyword_f1, "tracker_f1_on_tags_held_out": kw.tracker_f1,
                        "keyword_detected_sentences": kw.keyword_detected})
        if kw.keyword_f1_estimated is not None and kw.tracker_f1_estimated is not None:
            metrics.update({"keyword_f1_from_random_tags": kw.keyword_f1_estimated,
                            "tracker_f1_from_random_tags": kw.tracker_f1_estimated})
        learnt_from = self._learnt_from(session)
        metrics["yes_tags_learnt_from_their_turn"] = learnt_from["learnt_from_sentence_id"].is_not_null().sum()
        record = self.ws.registry.log_training(
            self.name, model=LinearTrackerModel.from_estimator(model, self.ws.embedder.model_id), params=params,
            metrics=metrics,
            tags_table=tags.rename({"answer": "label"}).join(learnt_from, on="sentence_id", how="left"),
            figures_later=True,  # drawn off the round's path, below
            # The run and the version now, what fills them on the registry's worker (a sixth of
            # the round's CPU at 1M sentences); workbench.registry.deferred.
            complete_later=True,
            extra_artifacts={"estimate.json": est.as_dict(), "definition.json": {
                "name": self.name, "description": self.description, "mentioned_by": self.mentioned_by,
                "filters": self.filters, "call_part": list(self.call_part), "channels": self.channels,
                "examples": self.examples}},
            description=self.description,
        )
        self._records.add_version(record.version, record.run_id, round_number,
                                  {**est.as_dict(), "detection_change": metrics["detection_change"]})
        self._trained_decision = (record.version, session.embeddings, scores)
        # The performance figure is drawn from what was just recorded, on the registry's worker
        # (a third of a round's time before); a kill before it is logged is healed on open.
        self.ws.registry.log_figures_later(record.run_id, partial(version_figures, self.ws.store, self.id,
                                                                  record.version))
        return TrainingResult(version=record.version, run_id=record.run_id, round_number=round_number,
                              n_yes=session.n_yes, n_no=session.n_no, n_not_sure=n_not_sure,
                              threshold=float(model.threshold_))

    def _round_kind(self, number: int) -> str:
        """"verification" or "learning", from the round's stored picks (no context needed)."""
        stored = self._records.round(number)
        return round_kind([p.get("strategy", "") for p in (stored.picks if stored else [])])

    def _detection_change(self, session: ActiveLearningSession) -> float | None:
        """Share of detections that moved since the previous version (1 - Jaccard); None for the first."""
        # A deep version scores other embeddings than the session's; compare with a frozen one.
        frozen = self.versions().filter(pl.col("training") == "frozen")["version"]
        if frozen.is_empty():
            return None
        kept = self.__dict__.get("_trained_decision")
        if kept is not None and kept[0] == frozen[-1] and kept[1] is session.embeddings:
            # The version this object trained last, on these very rows: its registered model's
            # decision is the session's scores then, bit for bit (LinearTrackerModel.decision).
            decision = kept[2]
        else:
            decision = self.ws.registry.linear_model(self.name, version=frozen[-1]).decision(session.embeddings)
        # The registered model puts its threshold at probability 0.5 (its score is the logistic of
        # the decision); the session cuts at 0.
        return session.detection_change(1.0 / (1.0 + np.exp(-decision)) - 0.5)

    def _learnt_from(self, session: ActiveLearningSession) -> pl.DataFrame:
        """Per YES/NO tag (sentence_id), the sentence of its turn the classifier learnt from
        instead (``learnt_from_sentence_id``; null: the tag itself), for the MLflow record."""
        return tracker_state.learnt_from_table(self._scope_arrays().frame, *session.learnt_from())

    def yes_learnt_from(self) -> pl.DataFrame:
        """The YES tags the current model learnt from another sentence of their speaker turn
        (the one it scores highest; see TrackerModel's ``yes_sentence``): sentence_id, text,
        learnt_from_sentence_id, learnt_from_text. Empty when every YES was learnt as tagged, or
        for a pre-trained tracker's bundle version (it learnt from tags elsewhere).
        Raises like ``performance()`` while there is no model."""
        if self._pretrained_version() is not None:
            return pl.DataFrame(schema={"sentence_id": pl.Int64, "text": pl.String,
                                        "learnt_from_sentence_id": pl.Int64, "learnt_from_text": pl.String})
        session = self._session_with_model()
        learnt = self._learnt_from(session).drop_nulls("learnt_from_sentence_id")
        return tracker_state.with_learnt_texts(learnt, self.ws.sentences)

    # ------------------------------------------------------------------ performance
    def versions(self) -> pl.DataFrame:
        """Model versions trained so far: version, round, run id, precision and hit rate, and
        ``training`` ("frozen", or "deep" for ``train(deep=True)``)."""
        from workbench.trackers.deep_training import is_deep
        from workbench.trackers.learning_curve import versions_table

        stored = self._records.versions()
        return versions_table(stored).with_columns(
            pl.Series("training", ["deep" if is_deep(v) else "frozen" for v in stored], dtype=pl.String))

    def learning_curve(self):
        """Precision, hit rate and F1 after each trained round, and whether another round helps
        (frozen versions; ``deep_comparison()`` sets a deep one beside them)."""
        from workbench.trackers.learning_curve import learning_curve

        return learning_curve(self.versions().filter(pl.col("training") == "frozen"))

    def deep_training_estimate(self):
        """How long ``train(deep=True)`` takes here (a DeepTrainingTime, measured in a few seconds)."""
        from workbench.trackers.deep_training import time_estimate
        return time_estimate(self)

    def deep_comparison(self):
        """The latest deep version beside the frozen model on the same tags (a DeepComparison), or None."""
        from workbench.trackers.deep_training import deep_comparison
        return deep_comparison(self._records.versions())

    def performance(self):
        """The performance overview of the model the current tags make (see PerformanceEstimate);
        for a pre-trained tracker with no version trained here, of the bundle's version that
        scores the calls (``figures_basis()`` says which)."""
        live = self._pretrained_version()
        if live is not None:
            return bundle_figures.live_estimate(self, live)
        return self._session_with_model().estimate()

    def figures_basis(self):
        """On what ``performance()`` and ``detections()`` rest (a FiguresBasis): the version, and
        for a tracker imported from a bundle, the bundle's tags found here and the new tags."""
        return bundle_figures.figures_basis(self)

    def _pretrained_version(self) -> int | None:
        """The bundle's version that scores the calls, while no version was trained here."""
        return bundle_figures.pretrained_version(self)

    def set_reference_labels(self, labels: pl.DataFrame, *, source: str) -> int:
        """Store the known truth of this tracker's concept: one row per utterance (call_id,
        utterance_id, positive), from ``source`` (e.g. "Hand labels"). Nothing trains on it;
        ``truth()`` sets it against the estimate. Replaces earlier ones; returns the rows kept."""
        return ReferenceLabels(self.ws.data_dir).write(self.id, labels, source)

    def truth(self):
        """The true precision and hit rate by speaker turn of the current model against the
        reference labels (a ReferenceTruth), or None when there are none (set_reference_labels)."""
        stored = ReferenceLabels(self.ws.data_dir).read(self.id)
        return None if stored is None else reference_truth(self.detections(), *stored)

    def activation_concerns(self, estimate=None) -> list[str]:
        """Why activating now may be premature (fewer than 4 rounds, an interval that says
        precision or hit rate may be low); [] when nothing stands out. Shown, never enforced."""
        from workbench.trackers.advice import activation_concerns
        rounds = self._trained_round_number()
        live = self._pretrained_version()
        if live is not None:  # the bundle's rounds made the live version
            rounds = max(rounds, int(self.versions().filter(pl.col("version") == live)["round"].fill_null(0)[0]))
        if estimate is None and rounds:
            estimate = self.performance()
        return activation_concerns(rounds, estimate)

    def diagnosis(self):
        """What the figures say in plain words, and what to do next (a TrackerDiagnosis)."""
        from workbench.trackers.advice import diagnose_estimate, diagnose_tracker

        if self._pretrained_version() is not None:  # no tags here that the live version was judged on
            return diagnose_estimate(self.performance(), self._trained_round_number())
        return diagnose_tracker(self, self._session_with_model(), self._trained_round_number())

    def keyword_comparison(self):
        """The keyword tracker its examples suggest, against this tracker: on the tags (each
        tag judged by a model that did not see it) and in scope. See KeywordComparison. None
        for a pre-trained tracker with no version trained here: its tags here trained the live
        version elsewhere, so none is held out from it."""
        if self._pretrained_version() is not None:
            return None
        return self._keyword_comparison(self._session_with_model())

    def _keyword_comparison(self, session: ActiveLearningSession):
        """``keyword_comparison()`` of the current tags' model (``train`` logs it, a pre-trained tracker's too)."""
        from workbench.trackers.keyword_baseline import compare_with_keywords
        from workbench.training.estimate import detected_where

        cached = self.__dict__.get("_comparison_cache")
        if cached is not None and cached[0] is session and cached[1] == session.key:
            return cached[2]  # train() and the overview after it ask alike
        scope = self._scope_arrays()
        held_out = detected_where(session.held_out(), len(session.labels))
        # The baseline is given, so the texts are not read (a million of them cost a tenth of a second).
        comparison = compare_with_keywords(None, session.answers, session.scores() > 0,
                                           held_out, self.examples, inclusion_prob=session.inclusion_prob,
                                           groups=scope.turns, baseline=self._keyword_baseline())
        self._comparison_cache = (session, session.key, comparison)
        return comparison

    def _keyword_baseline(self):
        return self._sessions.keyword_baseline(self.definition, self.examples, self.settings.get("seed", 0))

    def create_keyword_baseline(self, name: str | None = None):
        """Make the keyword tracker of ``keyword_comparison()`` a tracker of its own: the
        examples' phrases with related forms, on this tracker's side, filters, part of the
        call and channels. Named "<this name> (keywords)" unless ``name`` is given."""
        from workbench.trackers.definition import NAME_MAX

        phrases, _ = self._keyword_baseline()
        if not phrases:
            raise ValidationError("examples", "no content word recurs in the examples, so they suggest no keywords",
                                  "Write the phrases yourself: ws.create_keyword_tracker(name, phrases=[...]).")
        suffix = " (keywords)"
        d = self.definition
        return self.ws.create_keyword_tracker(
            name or self.name[: NAME_MAX - len(suffix)].rstrip() + suffix, list(phrases), related_forms=True,
            description=f"The keywords of the examples of '{self.name}'", mentioned_by=d.mentioned_by,
            filters=dict(d.filters), call_part=d.call_part, channels=d.channels,
        )

    # ------------------------------------------------------------------ detections
    def sample_detections(self, n: int = 20) -> pl.DataFrame:
        """n detections from the whole scope (not from the tags), spread over the score range; of
        the live version for a pre-trained tracker with no version trained here."""
        live = self._pretrained_version()
        if live is not None:
            scope = self._scope_arrays()
            scores = bundle_figures.version_decision(self, live, scope.frame["text"].to_list(), scope.embeddings)
            rows = self._session().sample_detections(n, scores=scores)
        else:
            session = self._session_with_model()
            rows, scores = session.sample_detections(n), session.scores()
        frame = self._scope_arrays().frame
        return tracker_state.rows_with_context(self.ws.sentences, frame, rows, scores[rows])

    def detections(self, *, all_sentences: bool = True) -> pl.DataFrame:
        """Every sentence the tracker applies to, scored by the current model; for a pre-trained
        tracker with no version trained here, by the version that scores the calls, so that a
        sentence scores here as in live search. With a tagging sample (ws.set_tagging_sample),
        of the sample's calls: activation applies the tracker to the others.

        Columns: call_id, utterance_id, sentence_id, text, speaker, side, start_s, score
        (probability-like, 0.5 at the threshold), detected.
        """
        live = self._pretrained_version()
        model = None if live is not None else self._session_with_model().model()
        scope = self.definition.scope(self.ws.tagging_calls, self.ws.sentences)  # emails too, when in scope
        X = self.ws.embeddings(scope["sentence_id"].to_numpy())
        if not scope.height:
            p = np.zeros(0)
        elif live is not None:
            p = 1.0 / (1.0 + np.exp(-bundle_figures.version_decision(self, live, scope["text"].to_list(), X)))
        else:
            p = model.predict_proba(X)[:, 1]
        out = scope.select("call_id", "utterance_id", "sentence_id", "text", "speaker", "side", "start_s").with_columns(
            pl.Series("score", p, dtype=pl.Float64), pl.Series("detected", p >= 0.5, dtype=pl.Boolean))
        return out if all_sentences else out.filter(pl.col("detected"))


def _verification_goal(precision: float | None, hit_rate: float | None) -> VerificationGoal:
    """The asked accuracy, or a ValidationError that says what to ask instead."""
    try:
        return VerificationGoal(precision=precision, hit_rate=hit_rate)
    except ValueError as exc:
        raise ValidationError("accuracy", str(exc), "Ask for precision=0.05 and/or hit_rate=0.10") from None
