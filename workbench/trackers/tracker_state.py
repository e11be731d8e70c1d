"""What a smart tracker reads from its workspace and shows of it: its training scope and tags as
arrays for the active-learning session (``TrackerSessions``), its stored rounds as Rounds, and
the tables it returns (what a YES was learnt from, detections with their context)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
import polars as pl

from workbench.core.errors import ValidationError
from workbench.storage.store import dumps
from workbench.storage.trackers import StoredRound
from workbench.trackers.definition import TrackerDefinition
from workbench.trackers.rounds import Candidate, Round, with_context
from workbench.training.rounds import PlannedRound
from workbench.training.duplicates import text_codes
from workbench.training.session import ActiveLearningSession


@dataclass
class TrainingResult:
    """What ``Tracker.train`` made: the new version, its MLflow run and what it learnt from."""

    version: int
    run_id: str | None
    round_number: int
    n_yes: int
    n_no: int
    n_not_sure: int
    threshold: float
    deep: bool = False  # trained with the tracker's own fine-tuned encoder (train(deep=True))


@dataclass(frozen=True)
class ScopeArrays:
    """A tracker's training scope, in the session's row order.

    frame: the scope's sentences (sentence_id, call_id, utterance_id, text, ...).
    embeddings: (n, d) their embeddings.
    turns: (n,) integer code of each row's speaker turn (call, utterance): the unit the honest
        estimate counts (a turn mentions the concept when any of its sentences does).
    duplicates: (n,) integer code of each row's text, case, spaces and punctuation folded
        (``text_codes``): repeated sentences ("Thank you.", "yes") are one candidate, offered
        once and answered for every copy by one tag.
    """

    frame: pl.DataFrame
    embeddings: np.ndarray
    turns: np.ndarray
    duplicates: np.ndarray

    @cached_property
    def ids_sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """(the scope's sentence ids sorted, their rows): where a tag's row is, by a binary
        search, instead of a join over every sentence of the scope on each call."""
        ids = self.frame["sentence_id"].to_numpy()
        rows = np.argsort(ids, kind="stable")
        return ids[rows], rows


def scope_arrays(calls: pl.DataFrame, sentences: pl.DataFrame, embeddings: Callable[[np.ndarray], np.ndarray],
                 definition: TrackerDefinition) -> ScopeArrays:
    """The training scope of ``definition`` over the workspace's tables: its sentences of
    ``calls`` (the tagging sample's, workbench.corpus.sample); ``embeddings(sentence_ids)``
    gives their vectors (``ws.embeddings``)."""
    scope = definition.scope(calls, sentences, training=True)
    if scope.height == 0:
        raise ValidationError("filters", f"no call sentences are in scope ({definition.describe_scope()})",
                              "Loosen the tracker's filters.")
    turns = scope.select(pl.struct("call_id", "utterance_id").rank("dense")).to_series()
    return ScopeArrays(
        frame=scope, embeddings=embeddings(scope["sentence_id"].to_numpy()),
        turns=turns.to_numpy().astype(np.int64) - 1, duplicates=text_codes(scope["text"].to_numpy()),
    )


def scope_session(scope: ScopeArrays, embeddings: np.ndarray, example_embeddings: np.ndarray,
                  description_embedding: np.ndarray | None, settings: dict) -> ActiveLearningSession:
    """The tracker's session over its scope with the given embeddings: the workspace's, or those of
    a deep-trained encoder (the same rows, turns and settings, so both models see the same tags)."""
    return ActiveLearningSession(
        embeddings, example_embeddings, description_embedding,
        # Each row's call as an integer code: the estimate counts the calls with a detection on
        # every training, and counting a million strings took a quarter of a second.
        turns=scope.turns, call_ids=scope.frame["call_id"].rank("dense").to_numpy(), duplicates=scope.duplicates,
        planner_params=settings.get("planner"), model_params=settings.get("model"), seed=settings.get("seed", 0),
        keep_model_while_verifying=settings.get("keep_model_while_verifying", False),
        # Options measured on the verify-until benchmark (by name, so that they are stored as
        # JSON with the tracker): e.g. {"precision": "detected_turns"} and {"detected_bands": 4}.
        verification_samplers=settings.get("verification_samplers"), estimate_params=settings.get("estimate"),
    )


def training_params(tracker, session: ActiveLearningSession, estimate, round_number: int, tags: pl.DataFrame,
                    embedding_model: str) -> dict:
    """The MLflow params every training of a tracker logs, frozen or deep, so that runs compare
    like for like: the tags' counts, the definition, the classifier's and the estimators'
    settings and the embedding model the classifier's weights apply to."""
    return {
        "tracker": tracker.name, "round": round_number, "n_yes": session.n_yes, "n_no": session.n_no,
        "n_not_sure": int((tags["answer"] == "not_sure").sum()), "n_examples": len(tracker.examples),
        "scope_sentences": len(session.labels), "mentioned_by": tracker.mentioned_by,
        "filters": dumps(tracker.filters), "call_part": dumps(list(tracker.call_part)),
        "classifier": session.model().get_params(), "embedding_model": embedding_model, "seed": session.seed,
        "estimate_unit": estimate.unit,
        # Verification rounds whose tags the estimate reads but the model was held over.
        "verification_rounds_not_fitted": ", ".join(map(str, sorted(session.held_rounds))) or "(none)",
        # The estimators' settings (scikit-learn get_params).
        "estimator": estimate.estimator_params,
    }


def tag_arrays(scope: ScopeArrays, tags: pl.DataFrame) -> dict[str, np.ndarray]:
    """The tags as the session's arrays over the scope's rows (tags outside the scope are
    left out): labels (1 YES, 0 NO, -1 untagged or NOT SURE), shown, tag_round, inclusion_prob."""
    n = scope.frame.height
    out = {"labels": np.full(n, -1, np.int8), "shown": np.zeros(n, bool), "tag_round": np.full(n, -1, np.int64),
           "inclusion_prob": np.full(n, np.nan)}
    # Each tag's row in the scope, by a binary search in its sorted ids (a scope is never empty).
    ids, rows = scope.ids_sorted
    wanted = tags["sentence_id"].to_numpy()
    at = np.minimum(np.searchsorted(ids, wanted), n - 1)
    inside = ids[at] == wanted
    joined = tags.filter(pl.Series(inside))
    if joined.height:
        p = rows[at[inside]]
        answers = joined["answer"].to_numpy()
        out["labels"][p] = np.where(answers == "yes", 1, np.where(answers == "no", 0, -1))
        out["shown"][p] = True
        out["tag_round"][p] = joined["round_number"].fill_null(-1).to_numpy()
        out["inclusion_prob"][p] = joined["inclusion_prob"].fill_null(np.nan).to_numpy()
    return out


class TrackerSessions:
    """A tracker's scope arrays and active-learning session over a workspace.

    The scope is rebuilt when the workspace's tables (their generation) or the tracker's
    definition change, the session when the examples or settings change too; the tags are
    loaded into the session on every call, and the session caches its results by their
    content, so that a changed answer is seen at once.
    """

    def __init__(self, ws) -> None:
        self.ws = ws
        self._scope: tuple | None = None
        self._session: tuple | None = None
        self._keywords: tuple | None = None

    def scope(self, definition: TrackerDefinition) -> ScopeArrays:
        """The training scope over the tagging sample's calls (every call without a sample)."""
        sample = self.ws.tagging_sample()
        key = (self.ws.generation, repr(definition), sample.call_ids if sample is not None else None)
        if self._scope is None or self._scope[0] != key:
            self._scope = (key, scope_arrays(self.ws.tagging_calls, self.ws.sentences, self.ws.embeddings, definition))
        return self._scope[1]

    def session(self, definition: TrackerDefinition, examples: list[str], settings: dict,
                tags: pl.DataFrame, verification_rounds=()) -> ActiveLearningSession:
        """The session over the tracker's scope with ``tags`` loaded; ``verification_rounds``:
        the numbers of its verification rounds (``ActiveLearningSession.set_tags``)."""
        scope = self.scope(definition)
        key = (self.ws.generation, repr(definition), tuple(examples), json.dumps(settings, sort_keys=True))
        if self._session is None or self._session[0] != key:
            d = definition.description
            self._session = (key, scope_session(scope, scope.embeddings, self._embed(examples),
                                                self._embed([d])[0] if d else None, settings))
        session = self._session[1]
        session.set_tags(**tag_arrays(scope, tags), verification_rounds=verification_rounds)
        return session

    def keyword_baseline(self, definition: TrackerDefinition, examples: list[str], seed: int):
        """The keyword tracker the examples suggest (``keyword_baseline``) over the scope: it
        depends on the examples and the scope, not on the tags, so it is kept across rounds."""
        from workbench.trackers.keyword_baseline import keyword_baseline

        key = (self.ws.generation, repr(definition), tuple(examples), seed)
        if self._keywords is None or self._keywords[0] != key:
            texts = self.scope(definition).frame["text"].to_numpy()
            self._keywords = (key, keyword_baseline(texts, examples, random_state=seed))
        return self._keywords[1]

    def _embed(self, texts: list[str]) -> np.ndarray:
        from workbench.embedding.embedder import embed_texts

        if not texts:
            return np.zeros((0, self.ws.embedder.dimension), dtype=np.float32)
        return embed_texts(texts, self.ws._cache(), self.ws.embedder, progress=False)


def round_to_show(sentences: pl.DataFrame, stored: StoredRound, answers: dict[int, str]) -> Round:
    """A stored round with each pick's sentence, context and answer so far."""
    ids = [p["sentence_id"] for p in stored.picks]
    by_id = {r["sentence_id"]: r for r in sentences.filter(pl.col("sentence_id").is_in(ids)).iter_rows(named=True)}
    context = with_context(sentences, ids)
    candidates = []
    for pick in stored.picks:
        s = by_id.get(pick["sentence_id"])
        if s is None:  # the call was replaced by a re-import with other text: skip it
            continue
        before, after = context[pick["sentence_id"]]
        candidates.append(Candidate(
            sentence_id=s["sentence_id"], call_id=s["call_id"], utterance_id=s["utterance_id"], text=s["text"],
            speaker=s["speaker"], side=s["side"], start_s=s["start_s"], timing_estimated=s["timing_estimated"],
            context_before=before, context_after=after, strategy=pick.get("strategy", ""),
            answer=answers.get(s["sentence_id"]),
        ))
    return Round(number=stored.number, candidates=candidates)


def stored_picks(frame: pl.DataFrame, planned: PlannedRound) -> list[dict]:
    """A planned round as the rounds table keeps it: sentence_id, strategy, inclusion_prob."""
    ids = frame["sentence_id"].to_numpy()
    return [{"sentence_id": int(ids[i]), "strategy": str(s), "inclusion_prob": None if np.isnan(p) else float(p)}
            for i, s, p in zip(planned.indices, planned.strategies, planned.inclusion_prob)]


def learnt_from_table(frame: pl.DataFrame, tagged: np.ndarray, witness: np.ndarray) -> pl.DataFrame:
    """Per YES/NO tag (sentence_id), the sentence of its turn the classifier learnt it from
    (``learnt_from_sentence_id``; null: the tag itself), from ``session.learnt_from()``."""
    ids = frame["sentence_id"].to_numpy()
    return pl.DataFrame({
        "sentence_id": ids[tagged],
        "learnt_from_sentence_id": pl.Series([int(ids[w]) if w >= 0 else None for w in witness], dtype=pl.Int64),
    }).cast({"sentence_id": pl.Int64})


def with_learnt_texts(learnt: pl.DataFrame, sentences: pl.DataFrame) -> pl.DataFrame:
    """sentence_id, text, learnt_from_sentence_id, learnt_from_text."""
    texts = sentences.select(pl.col("sentence_id").cast(pl.Int64), "text")
    return (learnt.join(texts, on="sentence_id", how="left")
            .join(texts.rename({"sentence_id": "learnt_from_sentence_id", "text": "learnt_from_text"}),
                  on="learnt_from_sentence_id", how="left")
            .select("sentence_id", "text", "learnt_from_sentence_id", "learnt_from_text"))


def rows_with_context(sentences: pl.DataFrame, frame: pl.DataFrame, rows: np.ndarray,
                      scores: np.ndarray) -> pl.DataFrame:
    """Scope rows with their score and the texts around them in the call."""
    picked = frame[rows.tolist()].with_columns(pl.Series("score", scores))
    context = with_context(sentences, picked["sentence_id"].to_list())
    return picked.select("sentence_id", "call_id", "utterance_id", "speaker", "side", "start_s", "text", "score") \
        .with_columns(
            pl.Series("context_before", [[c["text"] for c in context[s][0]] for s in picked["sentence_id"]]),
            pl.Series("context_after", [[c["text"] for c in context[s][1]] for s in picked["sentence_id"]]),
        )
