"""Tracker: a smart tracker's definition, examples, rounds, tags, model versions and detections.

Every method that changes state commits it to the workspace's SQLite database before it returns:
a tag survives a killed kernel, and reopening the workspace continues the same round.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from workbench.core.errors import NotFoundError, ValidationError, WorkbenchError
from workbench.registry.linear_model import LinearTrackerModel
from workbench.storage.store import dumps, loads, now_iso
from workbench.trackers.definition import TrackerDefinition
from workbench.trackers.records import TrackerRecord, definition_from_row, definition_snapshot
from workbench.trackers.examples import require_minimum, validate_examples
from workbench.trackers.rounds import (
    ANSWERS,
    ROUND_SIZE,
    VERIFICATION_SIZE,
    VERIFICATION_STRATEGY,
    Candidate,
    Round,
    round_kind,
    with_context,
)

if TYPE_CHECKING:
    from workbench.workspace import Workspace

MIN_CALLS_FOR_SMART = 500


class SmallCorpusWarning(UserWarning):
    """Too few calls in scope for a smart tracker to learn from; a keyword tracker is the better tool."""


@dataclass
class TrainingResult:
    version: int
    run_id: str | None
    round_number: int
    n_yes: int
    n_no: int
    n_not_sure: int
    threshold: float


@dataclass
class _State:
    """A tracker's scope and tags as arrays, in scope order."""

    scope: pl.DataFrame
    X: np.ndarray
    labels: np.ndarray  # 1 YES, 0 NO, -1 untagged / NOT SURE
    shown: np.ndarray  # tagged with any answer
    offered_elsewhere: np.ndarray  # same text as a shown sentence: never offered again
    tag_round: np.ndarray
    inclusion_prob: np.ndarray
    examples: np.ndarray
    description: np.ndarray | None
    round_number: int
    key: tuple

    @cached_property
    def turns(self) -> np.ndarray:
        """Integer code of each row's speaker turn (call, utterance), in scope order: the
        unit the honest estimate counts (a turn mentions the concept when any of its
        sentences does)."""
        return (self.scope.select(pl.struct("call_id", "utterance_id").rank("dense"))
                .to_series().to_numpy().astype(np.int64) - 1)

    @property
    def n_yes(self) -> int:
        return int((self.labels == 1).sum())

    @property
    def n_no(self) -> int:
        return int((self.labels == 0).sum())


class BaseTracker:
    """What smart and keyword trackers share: definition, scope, storage, and going live.

    Activation and results are services of the workspace (``ws.services``, wired by the
    Workspace): the methods below hand them this tracker's ``record`` and refresh it afterwards.
    """

    kind = ""

    def __init__(self, workspace: "Workspace", row: Any) -> None:
        self.ws = workspace
        self.id: int = row["id"]
        self._load(row)

    def _load(self, row: Any) -> None:
        self.name: str = row["name"]
        self.definition = definition_from_row(row)
        self.settings: dict = loads(row["settings"]) or {}
        self.status: str = row["status"]
        self.published_version: int | None = row["published_version"]

    def refresh(self) -> None:
        row = self.ws.catalog.get(self.id)
        if row is None:
            raise NotFoundError(f"Tracker '{self.name}' was deleted.")
        self._load(row)

    @property
    def record(self) -> TrackerRecord:
        """This tracker as the services below the workspace take it."""
        return TrackerRecord(id=self.id, name=self.name, kind=self.kind, definition=self.definition,
                             settings=dict(self.settings), status=self.status,
                             published_version=self.published_version)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.definition.describe_scope()})"

    description = property(lambda self: self.definition.description)
    mentioned_by = property(lambda self: self.definition.mentioned_by)
    filters = property(lambda self: self.definition.filters)
    call_part = property(lambda self: self.definition.call_part)
    channels = property(lambda self: self.definition.channels)

    def scope(self, *, training: bool = False) -> pl.DataFrame:
        """The sentences this tracker applies to (or is trained on, with ``training=True``)."""
        return self.definition.scope(self.ws.calls, self.ws.sentences, training=training)

    def update(self, **changes: Any) -> None:
        """Change the description, mentioned_by, filters, call_part or channels."""
        allowed = {"description", "mentioned_by", "filters", "call_part", "channels"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationError(", ".join(sorted(unknown)), "cannot be changed here",
                                  f"Change one of: {', '.join(sorted(allowed))}.")
        d = self.definition
        new = TrackerDefinition(
            name=d.name,
            description=changes.get("description", d.description),
            mentioned_by=changes.get("mentioned_by", d.mentioned_by),
            filters=changes.get("filters", d.filters),
            call_part=changes.get("call_part", d.call_part),
            channels=changes.get("channels", d.channels),
        )
        check_scope(self.ws, new)
        self.ws.catalog.update_definition(self.id, definition_snapshot(new))
        self.definition = new

    # -- going live (workbench.activation, through ws.services.activation) -------------------------------------
    def backfill_plan(self, backfill_months: int = 12, *, as_of: Any = None):
        """How many calls and sentences a backfill covers and how long it should take."""
        return self.ws.services.activation.backfill_plan(self.record, backfill_months, as_of=as_of)

    def activate(self, backfill_months: int = 12, *, as_of: Any = None, progress: bool = True,
                 engine: str = "local", spark: Any = None, verbose: bool = True):
        """Apply the published version (a keyword tracker: its phrases) to the last N months (0-12)
        and to every new call."""
        result = self.ws.services.activation.activate(self.record, backfill_months, as_of=as_of, progress=progress,
                                                      engine=engine, spark=spark, verbose=verbose)
        self.refresh()
        return result

    def deactivate(self) -> None:
        """Stop scoring new calls; the results so far are kept."""
        self.ws.services.activation.deactivate(self.record)
        self.refresh()

    def delete(self, *, confirm: bool = False) -> None:
        """Delete the tracker, its results, tags and versions (needs confirm=True)."""
        self.ws.delete_tracker(self.name, confirm=confirm)

    @property
    def is_active(self) -> bool:
        return self.ws.services.activation.is_active(self.record)

    def results(self):
        """The stored detections and scored calls of the published version (LiveResults)."""
        return self.ws.services.activation.results(self.record)

    def team_stats(self, **selection: Any):
        """Mention rate per team, rep and month of the stored results (TeamStats)."""
        return self.ws.services.results.team_stats(self.record, **selection)

    def report(self, detections: pl.DataFrame | None = None):
        """The results dashboard's numbers (TrackerReport): of the stored results once active,
        else of ``detections`` (default: ``self.detections()``, the current model's)."""
        if detections is None and not self.is_active:
            detections = self.detections()
        return self.ws.services.results.report(self.record, detections)


def check_scope(ws: "Workspace", definition: TrackerDefinition) -> pl.DataFrame:
    """Validate that a definition leaves something to track; warn when the corpus is small."""
    scope = definition.scope(ws.calls, ws.sentences)
    if ws.sentences.height == 0:
        raise ValidationError("workspace", f"{ws.path} holds no calls yet", "Import calls first (ws.import_calls).")
    if scope.height == 0:
        raise ValidationError(
            "filters", f"no sentences are left in scope ({definition.describe_scope()})",
            "Loosen the call filters, the part of the call or who mentions it.",
        )
    n_calls = scope["call_id"].n_unique()
    if n_calls < MIN_CALLS_FOR_SMART:
        warnings.warn(
            f"Only {n_calls:,} calls are in scope of '{definition.name}'. A smart tracker needs about "
            f"{MIN_CALLS_FOR_SMART} calls to find enough examples; consider a keyword tracker "
            "(ws.create_keyword_tracker) for a corpus this small.",
            SmallCorpusWarning,
            stacklevel=3,
        )
    return scope


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

    # ------------------------------------------------------------------ examples
    @property
    def examples(self) -> list[str]:
        rows = self.ws.store.query("SELECT text FROM examples WHERE tracker_id=? ORDER BY position", (self.id,))
        return [r["text"] for r in rows]

    def add_examples(self, texts: list[str] | str) -> list[str]:
        """Add example sentences (5 to 100 in all, one sentence each); returns the cleaned ones."""
        existing = self.examples
        cleaned = validate_examples(texts, existing)
        with self.ws.store.transaction() as con:
            for i, text in enumerate(cleaned, start=len(existing)):
                con.execute("INSERT INTO examples(tracker_id, position, text, added_at) VALUES (?,?,?,?)",
                            (self.id, i, text, now_iso()))
        return cleaned

    def remove_example(self, text: str) -> None:
        examples = [e for e in self.examples if e != text]
        if len(examples) == len(self.examples):
            raise NotFoundError(f"'{text}' is not an example of '{self.name}'.")
        with self.ws.store.transaction() as con:
            con.execute("DELETE FROM examples WHERE tracker_id=?", (self.id,))
            for i, t in enumerate(examples):
                con.execute("INSERT INTO examples(tracker_id, position, text, added_at) VALUES (?,?,?,?)",
                            (self.id, i, t, now_iso()))

    # ------------------------------------------------------------------ tags
    def tags(self) -> pl.DataFrame:
        """Every tag given so far: sentence_id, answer, round_number, strategy, text, tagged_at."""
        rows = self.ws.store.query(
            "SELECT sentence_id, answer, round_number, strategy, inclusion_prob, text, tagged_at FROM tags"
            " WHERE tracker_id=? ORDER BY tagged_at, sentence_id", (self.id,))
        schema = {"sentence_id": pl.Int64, "answer": pl.String, "round_number": pl.Int64, "strategy": pl.String,
                  "inclusion_prob": pl.Float64, "text": pl.String, "tagged_at": pl.String}
        return pl.DataFrame([dict(r) for r in rows], schema=schema)

    def tag(self, sentence_id: int, answer: str) -> None:
        """Tag a sentence YES / NO / NOT SURE; tagging it again changes the answer. Saved at once."""
        answer = {"not sure": "not_sure", "notsure": "not_sure"}.get(str(answer).lower(), str(answer).lower())
        if answer not in ANSWERS:
            raise ValidationError("answer", f"{answer!r} is not an answer", "Use 'yes', 'no' or 'not_sure'.")
        sentence_id = int(sentence_id)
        text_row = self.ws.sentences.filter(pl.col("sentence_id") == sentence_id)
        if text_row.height == 0:
            raise NotFoundError(f"Sentence {sentence_id} is not in the workspace {self.ws.path}.")
        origin = self._candidate_origin(sentence_id)
        with self.ws.store.transaction() as con:
            con.execute(
                "INSERT INTO tags(tracker_id, sentence_id, answer, round_number, strategy, inclusion_prob, text, tagged_at)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(tracker_id, sentence_id) DO UPDATE SET"
                " answer=excluded.answer, tagged_at=excluded.tagged_at",
                (self.id, sentence_id, answer, origin.get("round"), origin.get("strategy"),
                 origin.get("inclusion_prob"), text_row["text"][0], now_iso()),
            )

    def untag(self, sentence_id: int) -> None:
        with self.ws.store.transaction() as con:
            con.execute("DELETE FROM tags WHERE tracker_id=? AND sentence_id=?", (self.id, int(sentence_id)))

    def _candidate_origin(self, sentence_id: int) -> dict:
        for r in self.ws.store.query("SELECT number, candidates FROM rounds WHERE tracker_id=? ORDER BY number DESC",
                                     (self.id,)):
            for c in loads(r["candidates"]):
                if c["sentence_id"] == sentence_id:
                    return {"round": r["number"], **c}
        return {}

    # ------------------------------------------------------------------ rounds
    def rounds(self) -> list[Round]:
        return [self._round_from_row(r) for r in
                self.ws.store.query("SELECT * FROM rounds WHERE tracker_id=? ORDER BY number", (self.id,))]

    def current_round(self) -> Round | None:
        row = self.ws.store.query_one("SELECT * FROM rounds WHERE tracker_id=? ORDER BY number DESC LIMIT 1", (self.id,))
        return self._round_from_row(row) if row else None

    def _round_kind(self, number: int) -> str:
        """"verification" or "learning", from the round's stored picks (no context needed)."""
        row = self.ws.store.query_one("SELECT candidates FROM rounds WHERE tracker_id=? AND number=?", (self.id, number))
        return round_kind([c.get("strategy", "") for c in (loads(row["candidates"]) if row else [])])

    def _round_from_row(self, row) -> Round:
        picks = loads(row["candidates"])
        ids = [c["sentence_id"] for c in picks]
        answers = dict(self.ws.store.query(
            f"SELECT sentence_id, answer FROM tags WHERE tracker_id=? AND sentence_id IN ({','.join('?' * len(ids))})",
            (self.id, *ids)) if ids else [])
        sents = self.ws.sentences.filter(pl.col("sentence_id").is_in(ids))
        by_id = {r["sentence_id"]: r for r in sents.iter_rows(named=True)}
        context = with_context(self.ws.sentences, ids)
        cands = []
        for c in picks:
            s = by_id.get(c["sentence_id"])
            if s is None:  # the call was replaced by a re-import with other text: skip it
                continue
            before, after = context[c["sentence_id"]]
            cands.append(Candidate(
                sentence_id=s["sentence_id"], call_id=s["call_id"], utterance_id=s["utterance_id"], text=s["text"],
                speaker=s["speaker"], side=s["side"], start_s=s["start_s"], timing_estimated=s["timing_estimated"],
                context_before=before, context_after=after, strategy=c.get("strategy", ""),
                answer=answers.get(s["sentence_id"]),
            ))
        return Round(number=row["number"], candidates=cands)

    def next_round(self, n: int = ROUND_SIZE) -> Round:
        """The round to tag now: the unfinished one if there is one, else 25 new candidates."""
        current = self.current_round()
        if current is not None and not current.complete:
            return current
        require_minimum(self.examples)
        number = (current.number + 1) if current else 1
        picks = self._plan_round(number, n)
        return self._store_round(number, picks)

    def verification_round(self, n: int = VERIFICATION_SIZE) -> Round:
        """A round of ``n`` random detections of the current model, spread over their scores.

        Tagging it checks the model where it matters to a user, its detections, with tags
        whose chance of being drawn is known: the honest estimate takes them as random tags,
        so precision rests on more of them (on the benchmark, 20 such tags put the estimated
        precision within 0.05 of the truth on 59% of runs instead of 48%). The tags also
        train the next version like any others. An unfinished round is returned instead.
        """
        current = self.current_round()
        if current is not None and not current.complete:
            return current
        state = self._state()
        model = self._require_model(state)
        scores = model.decision_function(state.X)
        available = ~(state.shown | state.offered_elsewhere) & (scores > 0)
        if not available.any():
            raise WorkbenchError(f"'{self.name}' has no untagged detections to verify.")
        number = (current.number + 1) if current else 1
        picks = self._plan_round(number, min(n, int(available.sum())),
                                 mix={VERIFICATION_STRATEGY: 1}, model=model, scores=scores)
        return self._store_round(number, picks)

    def _store_round(self, number: int, picks: list[dict]) -> Round:
        with self.ws.store.transaction() as con:
            con.execute("INSERT INTO rounds(tracker_id, number, created_at, candidates) VALUES (?,?,?,?)",
                        (self.id, number, now_iso(), dumps(picks)))
        return self.current_round()

    # ------------------------------------------------------------------ training

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        from workbench.embedding.embedder import embed_texts

        if not texts:
            return np.zeros((0, self.ws.embedder.dimension), dtype=np.float32)
        return embed_texts(texts, self.ws._cache(), self.ws.embedder, progress=False)

    def _state(self) -> _State:
        tags = self.tags()
        key = (self.ws.generation, tags.height, tags["tagged_at"].max() if tags.height else None,
               tuple(self.examples), self.definition.description, repr(self.definition))
        cached = getattr(self, "_state_cache", None)
        if cached is not None and cached.key == key:
            return cached
        sents = self.ws.sentences.with_row_index("_row")
        scope = self.definition.scope(self.ws.calls, sents, training=True)
        if scope.height == 0:
            raise ValidationError("filters", f"no call sentences are in scope ({self.definition.describe_scope()})",
                                  "Loosen the tracker's filters.")
        X = self.ws.embeddings()[scope["_row"].to_numpy()]
        n = scope.height
        labels = np.full(n, -1, dtype=np.int8)
        shown = np.zeros(n, dtype=bool)
        tag_round = np.full(n, -1, dtype=np.int64)
        inclusion = np.full(n, np.nan)
        pos = pl.DataFrame({"sentence_id": scope["sentence_id"], "_pos": np.arange(n)})
        joined = tags.join(pos, on="sentence_id", how="inner")
        if joined.height:
            p = joined["_pos"].to_numpy()
            answers = joined["answer"].to_numpy()
            labels[p] = np.where(answers == "yes", 1, np.where(answers == "no", 0, -1))
            shown[p] = True
            tag_round[p] = joined["round_number"].fill_null(-1).to_numpy()
            inclusion[p] = joined["inclusion_prob"].fill_null(np.nan).to_numpy()
        # Repeated sentences ("thank you", "yes") are judged once: a copy of a shown sentence is
        # never offered again, so a round is not spent on the same words.
        shown_texts = scope["text"].filter(pl.Series(shown)).unique()
        offered_elsewhere = scope["text"].is_in(shown_texts.implode()).to_numpy() & ~shown
        current = self.current_round()
        d = self.definition.description
        state = _State(
            scope=scope.drop("_row"), X=X, labels=labels, shown=shown, offered_elsewhere=offered_elsewhere,
            tag_round=tag_round, inclusion_prob=inclusion,
            examples=self._embed_texts(self.examples),
            description=self._embed_texts([d])[0] if d else None,
            round_number=current.number if current and current.complete else (current.number - 1 if current else 0),
            key=key,
        )
        self._state_cache = state
        return state

    def _new_model(self):
        from workbench.training.model import TrackerModel

        return TrackerModel(random_state=self.settings.get("seed", 0), **self.settings.get("model", {}))

    def _fit(self, state: _State):
        """The model for the current tags, or None while there are not both YES and NO tags."""
        if state.n_yes == 0 or state.n_no == 0:
            return None
        key = ("model",) + state.key
        cached = getattr(self, "_model_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        tagged = np.flatnonzero(state.labels >= 0)
        rows, of = self._turn_mates(state, tagged)
        model = self._new_model().fit(state.X[tagged], state.labels[tagged].astype(int),
                                      example_embeddings=state.examples,
                                      mate_embeddings=state.X[rows], mate_of=of)
        self._model_cache = (key, model)
        return model

    @staticmethod
    def _turn_mates(state: _State, tagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The untagged sentences of each tag's speaker turn (scope rows) and, for each, the
        position in ``tagged`` of its tag: a YES is learnt from its turn's best sentence
        (TrackerModel's yes_sentence). A sentence tagged NOT SURE is never one of them, since
        NOT SURE is never used as a label."""
        from workbench.training.model import turn_mates

        rows, of = turn_mates(state.turns, tagged)
        keep = ~state.shown[rows]
        return rows[keep], of[keep]

    def _learnt_from(self, state: _State, model) -> pl.DataFrame:
        """Per YES/NO tag (sentence_id), the sentence of its turn the classifier learnt from
        instead (``learnt_from_sentence_id``; null: the tag itself), for the MLflow record."""
        tagged = np.flatnonzero(state.labels >= 0)
        rows, _ = self._turn_mates(state, tagged)
        ids = state.scope["sentence_id"].to_numpy()
        w = getattr(model, "witness_rows_", np.full(len(tagged), -1))
        return pl.DataFrame({
            "sentence_id": ids[tagged],
            "learnt_from_sentence_id": pl.Series([int(ids[rows[i]]) if i >= 0 else None for i in w], dtype=pl.Int64),
        }).cast({"sentence_id": pl.Int64})

    def yes_learnt_from(self) -> pl.DataFrame:
        """The YES tags the current model learnt from another sentence of their speaker turn
        (the one it scores highest; see TrackerModel's ``yes_sentence``): sentence_id, text,
        learnt_from_sentence_id, learnt_from_text. Empty when every YES was learnt as tagged.
        Raises like ``performance()`` while there is no model."""
        state = self._state()
        model = self._require_model(state)
        chosen = self._learnt_from(state, model).drop_nulls("learnt_from_sentence_id")
        texts = self.ws.sentences.select(pl.col("sentence_id").cast(pl.Int64), "text")
        return (chosen.join(texts, on="sentence_id", how="left")
                .join(texts.rename({"sentence_id": "learnt_from_sentence_id", "text": "learnt_from_text"}),
                      on="learnt_from_sentence_id", how="left")
                .select("sentence_id", "text", "learnt_from_sentence_id", "learnt_from_text"))

    def _plan_round(self, number: int, n: int, mix: dict | None = None, model=None, scores=None) -> list[dict]:
        from workbench.training.pool import Pool
        from workbench.training.rounds import RoundPlanner

        state = self._state()
        if scores is None:
            model = self._fit(state)
            scores = model.decision_function(state.X) if model is not None else None
        pool = Pool(
            embeddings=state.X, labels=state.labels, example_embeddings=state.examples,
            description_embedding=state.description, excluded=state.shown | state.offered_elsewhere,
            round_number=number - 1, scores=scores, threshold=0.0, groups=state.turns,
        )
        planner_args = self.settings.get("planner", {}) if mix is None else {"early_mix": mix, "late_mix": mix}
        planned = RoundPlanner(seed=self.settings.get("seed", 0), **planner_args).plan(pool, n)
        if len(planned) == 0:
            raise WorkbenchError(f"Every sentence in scope of '{self.name}' has been tagged: there is nothing left to offer.")
        ids = state.scope["sentence_id"].to_numpy()
        return [
            {"sentence_id": int(ids[i]), "strategy": str(s), "inclusion_prob": None if np.isnan(p) else float(p)}
            for i, s, p in zip(planned.indices, planned.strategies, planned.inclusion_prob)
        ]

    def _estimate(self, state: _State, model):
        from workbench.training.estimate import estimate_performance

        key = ("estimate",) + state.key
        cached = getattr(self, "_estimate_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        est = estimate_performance(
            state.X, state.labels, model, excluded=state.shown, tag_round=state.tag_round,
            inclusion_prob=state.inclusion_prob, call_ids=state.scope["call_id"].to_numpy(),
            groups=state.turns, example_embeddings=state.examples, held_out=self._held_out(state, model),
            random_state=self.settings.get("seed", 0),
        )
        self._estimate_cache = (key, est)
        return est

    def _held_out(self, state: _State, model):
        """The tags' out-of-fold decision values, shared by the estimate and the keyword
        comparison (the same 10-fold refits)."""
        from workbench.training.estimate import held_out_scores

        key = ("held_out",) + state.key
        cached = getattr(self, "_held_out_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, held_out_scores(model, state.X, state.labels, example_embeddings=state.examples,
                                           random_state=self.settings.get("seed", 0)))
            self._held_out_cache = cached
        return cached[1]

    def _require_model(self, state: _State):
        model = self._fit(state)
        if model is None:
            raise ValidationError(
                "tags", f"{state.n_yes} YES and {state.n_no} NO tags: a model needs at least one of each",
                "Tag more of the round's sentences (expect many NO answers in the first rounds).",
            )
        return model

    def train(self) -> TrainingResult:
        """Train on every tag so far and record a new model version (an MLflow run and version)."""
        from workbench.trackers.plots import performance_figure

        state = self._state()
        model = self._require_model(state)
        est = self._estimate(state, model)
        tags = self.tags()
        n_not_sure = int((tags["answer"] == "not_sure").sum())
        params = {
            "tracker": self.name, "round": state.round_number, "n_yes": state.n_yes, "n_no": state.n_no,
            "n_not_sure": n_not_sure, "n_examples": len(self.examples), "scope_sentences": state.scope.height,
            "mentioned_by": self.mentioned_by, "filters": dumps(self.filters), "call_part": dumps(list(self.call_part)),
            "classifier": model.get_params(), "embedding_model": self.ws.embedder.model_id,
            "seed": self.settings.get("seed", 0), "estimate_unit": est.unit,
            "round_kind": self._round_kind(state.round_number),
        }
        metrics = _flat_metrics(est)
        metrics["detection_change"] = self._detection_change(state, model)
        # The keyword baseline at this version, so that a reviewer sees in MLflow whether the
        # tracker beats the keywords its own examples suggest.
        kw = self.keyword_comparison()
        params["keyword_baseline"] = ", ".join(kw.phrases) or "(none)"
        metrics.update({"keyword_f1_on_tags": kw.keyword_f1, "tracker_f1_on_tags_held_out": kw.tracker_f1,
                        "keyword_detected_sentences": kw.keyword_detected})
        if kw.keyword_f1_estimated is not None and kw.tracker_f1_estimated is not None:
            metrics.update({"keyword_f1_from_random_tags": kw.keyword_f1_estimated,
                            "tracker_f1_from_random_tags": kw.tracker_f1_estimated})
        learnt_from = self._learnt_from(state, model)
        metrics["yes_tags_learnt_from_their_turn"] = learnt_from["learnt_from_sentence_id"].is_not_null().sum()
        curve = self.learning_curve()
        record = self.ws.registry.log_training(
            self.name, model=LinearTrackerModel.from_estimator(model, self.ws.embedder.model_id), params=params,
            metrics=metrics,
            tags_table=tags.rename({"answer": "label"}).join(learnt_from, on="sentence_id", how="left"),
            figures={"performance.png": performance_figure(est, curve)},
            extra_artifacts={"estimate.json": est.as_dict(), "definition.json": {
                "name": self.name, "description": self.description, "mentioned_by": self.mentioned_by,
                "filters": self.filters, "call_part": list(self.call_part), "channels": self.channels,
                "examples": self.examples}},
            description=self.description,
        )
        with self.ws.store.transaction() as con:
            con.execute("INSERT INTO versions(tracker_id, version, run_id, round_number, created_at, metrics)"
                        " VALUES (?,?,?,?,?,?)",
                        (self.id, record.version, record.run_id, state.round_number, now_iso(),
                         dumps({**est.as_dict(), "detection_change": metrics["detection_change"]})))
            con.execute("UPDATE rounds SET trained_version=? WHERE tracker_id=? AND number=?",
                        (record.version, self.id, state.round_number))
        return TrainingResult(version=record.version, run_id=record.run_id, round_number=state.round_number,
                              n_yes=state.n_yes, n_no=state.n_no, n_not_sure=n_not_sure,
                              threshold=float(model.threshold_))

    def _detection_change(self, state: _State, model) -> float | None:
        """Share of detections that moved since the previous version (1 - Jaccard); None for the first."""
        from workbench.training.curve import detection_change

        previous = self.ws.store.query_one(
            "SELECT version FROM versions WHERE tracker_id=? ORDER BY version DESC LIMIT 1", (self.id,))
        if previous is None:
            return None
        old = self.ws.registry.linear_model(self.name, version=previous["version"])
        # Both models put their threshold at probability 0.5; detection_change cuts at 0.
        return detection_change(old.score(state.X) - 0.5, model.predict_proba(state.X)[:, 1] - 0.5)

    def versions(self) -> pl.DataFrame:
        """Model versions trained so far: version, round, run id, precision and hit rate."""
        rows = self.ws.store.query("SELECT * FROM versions WHERE tracker_id=? ORDER BY version", (self.id,))
        out = []
        for r in rows:
            m = loads(r["metrics"])
            p = m.get("honest_precision") or m.get("reference_precision") or {}
            h = m.get("honest_hit_rate") or m.get("reference_hit_rate") or {}
            out.append({"version": r["version"], "round": r["round_number"], "run_id": r["run_id"],
                        "created_at": r["created_at"], "n_yes": m.get("n_yes"), "n_no": m.get("n_no"),
                        "precision": p.get("value"), "hit_rate": h.get("value"),
                        "detected_sentences": m.get("detected_sentences"),
                        "detection_change": m.get("detection_change")})
        schema = {"version": pl.Int64, "round": pl.Int64, "run_id": pl.String, "created_at": pl.String,
                  "n_yes": pl.Int64, "n_no": pl.Int64, "precision": pl.Float64, "hit_rate": pl.Float64,
                  "detected_sentences": pl.Int64, "detection_change": pl.Float64}
        return pl.DataFrame(out, schema=schema)

    def learning_curve(self):
        """Precision, hit rate and F1 after each trained round, and whether another round helps."""
        from workbench.trackers.learning_curve import learning_curve

        return learning_curve(self.versions())

    def performance(self):
        """The performance overview of the model the current tags make (see PerformanceEstimate)."""
        state = self._state()
        model = self._require_model(state)
        return self._estimate(state, model)

    def keyword_comparison(self):
        """The keyword tracker its examples suggest, against this tracker: on the tags (each
        tag judged by a model that did not see it) and in scope. See KeywordComparison."""
        from workbench.trackers.keyword_baseline import compare_with_keywords
        from workbench.training.estimate import detected_where

        state = self._state()
        key = ("keywords",) + state.key
        cached = getattr(self, "_comparison_cache", None)
        if cached is not None and cached[0] == key:  # train() and the overview after it ask alike
            return cached[1]
        model = self._require_model(state)
        held_out = detected_where(self._held_out(state, model), len(state.labels))
        comparison = compare_with_keywords(state.scope["text"].to_numpy(), state.labels,
                                           model.decision_function(state.X) > 0, held_out, self.examples,
                                           inclusion_prob=state.inclusion_prob, groups=state.turns,
                                           baseline=self._keyword_baseline(state))
        self._comparison_cache = (key, comparison)
        return comparison

    def _keyword_baseline(self, state: _State):
        from workbench.trackers.keyword_baseline import keyword_baseline

        # The keywords depend on the examples and the scope, not on the tags: kept across rounds.
        seed = self.settings.get("seed", 0)
        key = (self.ws.generation, tuple(self.examples), repr(self.definition), seed)
        cached = getattr(self, "_keyword_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, keyword_baseline(state.scope["text"].to_numpy(), self.examples, random_state=seed))
            self._keyword_cache = cached
        return cached[1]

    def create_keyword_baseline(self, name: str | None = None):
        """Make the keyword tracker of ``keyword_comparison()`` a tracker of its own: the
        examples' phrases with related forms, on this tracker's side, filters, part of the
        call and channels. Named "<this name> (keywords)" unless ``name`` is given."""
        from workbench.trackers.definition import NAME_MAX

        phrases, _ = self._keyword_baseline(self._state())
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

    def sample_detections(self, n: int = 20) -> pl.DataFrame:
        """n detections from the whole scope (not from the tags), spread over the score range."""
        from workbench.training.estimate import sample_detections

        state = self._state()
        model = self._require_model(state)
        scores = model.decision_function(state.X)
        # Not the tagged sentences themselves, and each wording once: a sentence said in many
        # calls would crowd out the rest.
        untagged = state.scope.filter(pl.Series(~state.shown))
        first = np.zeros(len(scores), dtype=bool)
        first[np.flatnonzero(~state.shown)[untagged["text"].is_first_distinct().to_numpy()]] = True
        masked = np.where(first, scores, -np.inf)
        rng = np.random.default_rng(self.settings.get("seed", 0))
        rows = sample_detections(masked, 0.0, n=n, rng=rng)
        picked = state.scope[rows.tolist()].with_columns(pl.Series("score", scores[rows]))
        context = with_context(self.ws.sentences, picked["sentence_id"].to_list())
        return picked.select("sentence_id", "call_id", "utterance_id", "speaker", "side", "start_s", "text", "score") \
            .with_columns(
                pl.Series("context_before", [[c["text"] for c in context[s][0]] for s in picked["sentence_id"]]),
                pl.Series("context_after", [[c["text"] for c in context[s][1]] for s in picked["sentence_id"]]),
            )

    def detections(self, *, all_sentences: bool = True) -> pl.DataFrame:
        """Every sentence the tracker applies to, scored by the current model.

        Columns: call_id, utterance_id, sentence_id, text, speaker, side, start_s, score
        (probability-like, 0.5 at the threshold), detected.
        """
        state = self._state()
        model = self._require_model(state)
        sents = self.ws.sentences.with_row_index("_row")
        scope = self.definition.scope(self.ws.calls, sents)  # emails too, when the tracker covers them
        X = self.ws.embeddings()[scope["_row"].to_numpy()]
        p = model.predict_proba(X)[:, 1] if scope.height else np.zeros(0)
        out = scope.select("call_id", "utterance_id", "sentence_id", "text", "speaker", "side", "start_s").with_columns(
            pl.Series("score", p, dtype=pl.Float64), pl.Series("detected", p >= 0.5, dtype=pl.Boolean))
        return out if all_sentences else out.filter(pl.col("detected"))


class KeywordTracker(BaseTracker):
    """Exact words and phrases; the fallback for small corpora and the baseline for smart trackers."""

    kind = "keyword"

    @property
    def phrases(self) -> list[str]:
        return list(self.settings.get("phrases", []))

    @property
    def matcher(self):
        return self.record.matcher()

    def detections(self, *, all_sentences: bool = True) -> pl.DataFrame:
        """Same contract as a smart tracker: every sentence in scope with score and detected."""
        scope = self.scope()
        matched = self.matcher.match_frame(scope)
        out = matched.select(
            "call_id", "utterance_id", "sentence_id", "text", "speaker", "side", "start_s",
            pl.col("matched").cast(pl.Float64).alias("score"),
            pl.col("matched").alias("detected"),
            pl.col("matched_phrase"),
        )
        return out if all_sentences else out.filter(pl.col("detected"))


def _flat_metrics(est) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in est.as_dict().items():
        if isinstance(v, dict) and "value" in v:
            for sub in ("value", "low", "high"):
                out[f"{k}_{sub}" if sub != "value" else k] = v[sub]
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
    return out
