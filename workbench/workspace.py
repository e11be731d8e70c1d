"""Workspace: one folder holding imported calls, sentences, embeddings, trackers and MLflow runs.

Layout (documented for users in docs/workspace.md):

    <workspace>/
      data/
        tables/CURRENT            JSON pointer to the live generation, replaced atomically
        tables/gen-000042/        calls.parquet, utterances.parquet, sentences.parquet
        embeddings/<model_id>/    the embedding cache (float16 shards, keyed by text)
        detections/tracker-<id>/  live trackers' stored results (workbench.activation.detections)
        workbench.sqlite          trackers, examples, rounds, tags, versions, activations, streams, import log
        .write.lock               one writer at a time
      mlruns/
        mlflow.db                 MLflow tracking + registry (SQLite backend)
        artifacts/                MLflow artifacts

The Workspace is where the layers meet: it owns the corpus tables (workbench.storage.tables) and
the store, and wires the services that trackers and the results screens use (``services``:
activation, publishing, results, streams), each given the LiveContext of this workspace. An
import runs its steps in order: stage the new tables, embed their new sentences, journal the new
calls as pending for the active trackers, publish the tables, let the trackers score the calls,
then notify the streams; so it is complete or absent whenever it is killed (docs/workspace.md).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from workbench.activation import bundles
from workbench.activation.api import Activation, Publishing
from workbench.activation.context import LiveContext
from workbench.activation.recovery import recover_left_behind
from workbench.activation.spark_embed import spark_embed
from workbench.core.errors import NotFoundError, ValidationError, WorkbenchError
from workbench.core.settings import ENV_MODEL, ENV_WORKSPACE
from workbench.registry.renaming import rename_tracker as rename_in_mlflow
from workbench.corpus.info import ImportResult, WorkspaceInfo, workspace_info
from workbench.corpus.sample import KeptSample, TaggingSampleMixin, sample_after_import, sample_sentences, sample_size
from workbench.corpus.staging import StagedImport, stage_import
from workbench.results.api import Results
from workbench.results.streams import Stream, Streams
from workbench.embedding.backend import EmbeddingBackendMixin, workspace_backend
from workbench.embedding.vectors import KeptVectors, embedded_count
from workbench.storage.catalog import ImportLog, TrackerCatalog
from workbench.storage.store import Store
from workbench.storage.tables import CorpusTables
from workbench.trackers.definition import DEFAULT_FILTERS, TrackerDefinition, validate_name
from workbench.trackers.records import definition_snapshot, not_found
from workbench.trackers.keyword_tracker import KeywordTracker
from workbench.trackers.scope_check import SmallCorpusWarning, check_scope
from workbench.trackers.tracker import Tracker

if TYPE_CHECKING:
    from workbench.embedding.embedder import Embedder



def default_workspace_path() -> Path:
    """The workspace a command uses when none is named: $WORKBENCH_WORKSPACE, else the repo root."""
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env)
    # The repository's own data/ and mlruns/ are the default workspace (see the README).
    return Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Services:
    """What a workspace's trackers and results delegate to; made once per Workspace."""

    activation: Activation
    publishing: Publishing
    results: Results
    streams: Streams


class Workspace(TaggingSampleMixin, EmbeddingBackendMixin):
    """Open or create a workspace folder. Cheap to construct; tables are read lazily. The tagging
    sample's methods (``tagging_sample``, ``set_tagging_sample``, ``tagging_calls``) come from
    workbench.corpus.sample, ``set_embedding_backend`` from workbench.embedding.backend.

    >>> ws = Workspace("my-workspace")
    >>> ws.import_calls(calls="calls.parquet", utterances="utterances.parquet")
    >>> ws.embed()
    >>> print(ws.info())
    """

    def __init__(self, path: str | Path | None = None, *, model: "str | Path | Embedder | None" = None) -> None:
        self.path = Path(path) if path is not None else default_workspace_path()
        if self.path.exists() and not self.path.is_dir():
            raise WorkbenchError(f"{self.path} is a file, not a workspace folder. Name a folder.")
        self.data_dir = self.path / "data"
        self.tables_dir = self.data_dir / "tables"
        self.embeddings_dir = self.data_dir / "embeddings"
        self.mlruns_dir = self.path / "mlruns"
        for d in (self.tables_dir, self.embeddings_dir, self.mlruns_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.tables = CorpusTables(self.data_dir, label=self.path)
        self.store = Store(self.data_dir / "workbench.sqlite")
        self.catalog = TrackerCatalog(self.store)
        # `model` is a local sentence-transformers path, or an Embedder to share one loaded model.
        self._embedder: Embedder | None = model if hasattr(model, "encode") else None
        self._model_path = None if self._embedder else (model if model is not None else os.environ.get(ENV_MODEL))
        # Torch or ONNX Runtime, recorded per workspace and checked against an explicit choice now.
        self.embedding_backend: str = workspace_backend(self.embeddings_dir, self._embedder)
        self._vectors = KeptVectors(self.path)
        self._kept_sample = KeptSample()
        self._registry = None
        self._live = LiveContext(self.path, self.tables, self.store, embeddings_dir=self.embeddings_dir,
                                 embedder=lambda: self.embedder, registry=lambda: self.registry)
        self.services = Services(activation=Activation(self._live), publishing=Publishing(self._live),
                                 results=Results(self._live), streams=Streams(self._live))
        # What killed processes left (orphan folders, RUNNING runs, unrecorded versions), healed
        # now; a note per thing healed (workbench.activation.recovery). Cheap when nothing is.
        self.recovered: list[str] = recover_left_behind(self._live, self.mlruns_dir)

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # ------------------------------------------------------------------ tables
    @property
    def generation(self) -> int:
        """The generation of the tables this object reads (0 while nothing has been imported); see
        workbench.storage.tables: pinned at first use, moved to the latest by ``refresh()``."""
        return self.tables.generation

    def latest_generation(self) -> int:
        return self.tables.latest_generation()

    def refresh(self) -> "Workspace":
        """See what other processes (a CLI import, another kernel) have written since."""
        self.tables.refresh()
        return self

    @property
    def calls(self) -> pl.DataFrame:
        """Imported calls: the import format's columns plus any extra columns given."""
        return self.tables.calls

    @property
    def utterances(self) -> pl.DataFrame:
        return self.tables.utterances

    @property
    def sentences(self) -> pl.DataFrame:
        """One row per sentence, in call, utterance and sentence order."""
        return self.tables.sentences

    # ------------------------------------------------------------------ import
    def import_calls(
        self,
        calls: str | Path | pl.DataFrame,
        utterances: str | Path | pl.DataFrame,
        *,
        replace: bool = False,
        embed: bool = True,
        progress: bool = True,
        sample: int | bool | None = None,
    ) -> ImportResult:
        """Validate and import calls and their utterances; atomic, and complete or absent if killed.

        Calls already in the workspace are skipped, or replaced with ``replace=True``; never
        duplicated. On any error an InputError names the file, row and column and nothing in the
        workspace changes. The steps (docs/workspace.md): stage the new tables; with ``embed=True``
        and a workspace that holds embeddings, embed their sentences; journal the new calls as
        pending for the active trackers; make the tables live; let the trackers score the calls;
        tell the streams. A reader never sees a sentence without its embedding; a kill before
        the tables are live leaves the workspace as it was, one after leaves the calls pending
        for the next import, ``workbench embed`` or ``ws.score_pending()``.
        ``embed=False`` (``--no-embed``) defers embedding on purpose: the calls are live at once
        without embeddings, and what needs their vectors asks for ``workbench embed``.
        ``sample=N`` (``True``: 1,500) draws the tagging sample of N calls (workbench.corpus.sample).
        """
        size = sample_size(sample)  # checked before anything is written
        with self.tables.write_lock():
            staged = self._stage_calls(calls, utterances, replace=replace)
            try:
                if embed and staged.generation is not None and self.embedded_count() > 0:
                    # Upcoming calls: embed before they are live, so readers and scoring find the vectors.
                    todo = self._sample_sentences(staged.sentences, staged.result.new_call_ids)
                    staged.result.embedded = self._embed_missing(todo["text"], progress=progress)
                self._publish(staged)
            except BaseException:
                if staged.generation is not None:
                    self.tables.discard(staged.generation)
                raise
            sample_after_import(self.store, self.calls, size, imported=staged.generation is not None)
        result = staged.result
        new_ids = result.new_call_ids
        result.scored = self.services.activation.score_new_calls(new_ids)
        if result.scored or new_ids:
            self.services.streams.notify_all()
        return result

    def _stage_calls(self, calls: Any, utterances: Any, *, replace: bool) -> StagedImport:
        """The first step of an import (under the write lock): the new generation of the tables,
        written but not live, merged into what is there now (not this object's older snapshot)."""
        self.refresh()
        self.tables.discard_abandoned()  # what an import killed before it published left
        return stage_import(self.tables, (self.calls, self.utterances, self.sentences), calls, utterances,
                            replace=replace)

    def _publish(self, staged: StagedImport) -> None:
        """Make an import's tables live (under the write lock): its new calls are journalled as
        pending for the active trackers first, so no kill can leave them live and forgotten."""
        generation = self.generation
        if staged.generation is not None:
            self.services.activation.journal_new_calls(staged.result.new_call_ids)
            generation = self.tables.publish(staged.generation)
        ImportLog(self.store).record(generation=generation, **staged.log)

    def score_pending(self, *, progress: bool = True) -> dict[str, int]:
        """Score calls imported while they had no embeddings (after ``ws.embed()``), then tell the streams."""
        scored = self.services.activation.score_new_calls([], progress=progress)
        if scored:
            self.services.streams.notify_all()
        return scored

    # ------------------------------------------------------------------ embeddings
    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from workbench.embedding.embedder import Embedder
            from workbench.embedding.normalise import workspace_normalisation

            self._embedder = Embedder(self._model_path, text_normalisation=workspace_normalisation(self.embeddings_dir),
                                      backend=self.embedding_backend)
        return self._embedder

    def _cache(self):
        from workbench.embedding.cache import EmbeddingCache

        return EmbeddingCache(self.embeddings_dir, self.embedder.model_id)

    def embed(self, *, progress: bool = True, all_calls: bool = False, engine: str = "local", spark: Any = None,
              staging: str | Path | None = None) -> int:
        """Embed the sentences with no embedding yet (a tagging sample's calls' unless ``all_calls``;
        activation embeds the rest of a scope), here or with ``engine="spark"`` on Spark's executors
        into the same cache; returns how many texts were computed. Cached by model and text."""
        sents = self.sentences if all_calls else self._sample_sentences(self.sentences, [])
        if engine != "local":
            return spark_embed(self.embeddings_dir, self.data_dir, self.embedder, sents["text"].to_list(),
                               engine=engine, spark=spark, staging=staging)
        return self._embed_missing(sents["text"], progress=progress)

    def _sample_sentences(self, sentences: pl.DataFrame, new_calls: list[str] | None = None) -> pl.DataFrame:
        """What ``embed`` and an import embed: every sentence; with a tagging sample, those of its
        calls, of ``new_calls`` and of the calls active trackers wait to score (pending)."""
        more = None if new_calls is None else [*new_calls, *self.services.activation.pending_calls()]
        return sample_sentences(sentences, self.tagging_sample(), more)

    def _embed_missing(self, texts: pl.Series, *, progress: bool) -> int:
        from workbench.embedding.embedder import embed_texts

        cache = self._cache()
        before = len(cache)
        embed_texts(texts.unique(maintain_order=True).to_list(), cache, self.embedder, progress=progress)
        return len(cache) - before

    def embedded_count(self) -> int:
        """How many of the workspace's sentences have a cached embedding for the current model."""
        return embedded_count(self._cache(), self.sentences["text"])  # model_id is cheap: no weights loaded

    def embeddings(self, sentence_ids: np.ndarray | None = None) -> np.ndarray:
        """Embeddings (float32, L2-normalised) aligned with ``self.sentences`` or the given ids, the tagging
        sample's kept once read (workbench.embedding.vectors); raises with a hint where none is cached."""
        sample = self.tagging_sample()
        ids = None if sample is None or sample.is_everything else sample.call_ids
        return self._vectors.get(self._cache(), (self.generation, self.embedder.model_id, ids), self.sentences,
                                 None if ids is None else lambda: self._sample_sentences(self.sentences), sentence_ids)

    # ------------------------------------------------------------------ info
    def info(self) -> WorkspaceInfo:
        return workspace_info(self.path, self.calls, self.utterances, self.sentences, embedded=self.embedded_count(),
                              model_id=self.embedder.model_id, trackers=self.catalog.count(),
                              sample=self.tagging_sample(), embedding_backend=self.embedding_backend)

    def transcript(self, call_id: str) -> pl.DataFrame:
        """One call's sentences in order, for "open the call": speaker, side, time and text."""
        out = self.sentences.filter(pl.col("call_id") == call_id)
        if out.height == 0:
            raise NotFoundError(f"Call '{call_id}' is not in the workspace {self.path}.")
        return out

    # ------------------------------------------------------------------ trackers
    def create_tracker(
        self,
        name: str,
        *,
        description: str = "",
        mentioned_by: str = "any",
        filters: dict[str, Any] | None = None,
        call_part: Any = "anytime",
        channels: str = "calls",
        examples: list[str] | None = None,
        seed: int = 0,
    ) -> Tracker:
        """Define a smart tracker; validated against the workspace's calls before it is stored."""
        definition = TrackerDefinition(
            name=name, description=description, mentioned_by=mentioned_by,
            filters=dict(DEFAULT_FILTERS) if filters is None else filters, call_part=call_part, channels=channels,
        )
        if examples:
            from workbench.trackers.examples import validate_examples

            examples = validate_examples(examples)
        self._check_name_free(definition.name)
        check_scope(self, definition)
        tracker = Tracker(self, self._insert_tracker("smart", definition, {"seed": int(seed)}))
        if examples:
            tracker.add_examples(examples)
        return tracker

    def create_keyword_tracker(
        self,
        name: str,
        phrases: list[str],
        *,
        related_forms: bool = False,
        question_only: bool = False,
        description: str = "",
        mentioned_by: str = "any",
        filters: dict[str, Any] | None = None,
        call_part: Any = "anytime",
        channels: str = "calls",
    ) -> KeywordTracker:
        """Define a keyword tracker: exact words and phrases, on word boundaries, case-insensitive."""
        from workbench.trackers.keywords import KeywordMatcher

        definition = TrackerDefinition(
            name=name, description=description, mentioned_by=mentioned_by,
            filters=dict(DEFAULT_FILTERS) if filters is None else filters, call_part=call_part, channels=channels,
        )
        matcher = KeywordMatcher(phrases, related_forms=related_forms, question_only=question_only)  # validates
        definition.scope(self.calls, self.sentences)  # validates filter columns
        settings = {"phrases": list(matcher.phrases), "related_forms": related_forms, "question_only": question_only}
        return KeywordTracker(self, self._insert_tracker("keyword", definition, settings))

    def _check_name_free(self, name: str) -> None:
        if self.catalog.find(name) is not None:
            raise ValidationError("name", f"a tracker named '{name}' already exists in {self.path}",
                                  "Choose another name, or open it with ws.tracker(name).")

    def _insert_tracker(self, kind: str, definition: TrackerDefinition, settings: dict):
        self._check_name_free(definition.name)  # again inside the write: another process may have won
        return self.catalog.get(self.catalog.insert(kind, definition.name, definition_snapshot(definition), settings))

    def tracker(self, name: str) -> Tracker | KeywordTracker:
        """Reopen a tracker by name (case-insensitive)."""
        row = self.catalog.find(name)
        if row is None:
            raise not_found(name, self.catalog.names(), self.path)
        return (Tracker if row["kind"] == "smart" else KeywordTracker)(self, row)

    def trackers(self) -> list:
        return [self.tracker(name) for name in self.catalog.names(order="created")]

    def delete_tracker(self, name: str, *, confirm: bool = False) -> None:
        """Delete a tracker with its stored results, examples, rounds, tags and versions. Needs confirm=True."""
        tracker = self.tracker(name)
        if not confirm:
            raise ValidationError("confirm", f"deleting '{tracker.name}' removes its results, tags and versions for good",
                                  "Call again with confirm=True.")
        self.services.activation.forget(tracker.id)  # its stored detections go with it
        self.catalog.delete(tracker.id)
        if self._registry is not None or (self.mlruns_dir / "mlflow.db").exists():
            self.registry.delete_tracker(tracker.name)

    def rename_tracker(self, name: str, new_name: str) -> Tracker | KeywordTracker:
        """Give a tracker a new name: its examples, tags, versions (MLflow experiment and registered
        model, aliases included), results and the streams that search for it follow."""
        tracker = self.tracker(name)
        new_name = validate_name(new_name)
        if new_name == tracker.name:
            return tracker
        taken = self.catalog.find(new_name)
        if taken is not None and taken["id"] != tracker.id:  # the same one: a change of case only
            self._check_name_free(new_name)
        if self._registry is not None or (self.mlruns_dir / "mlflow.db").exists():
            rename_in_mlflow(self.registry, tracker.name, new_name)
        try:
            self.catalog.rename(tracker.id, new_name)
        except Exception:
            if self._registry is not None:  # keep MLflow and the catalog on one name
                rename_in_mlflow(self.registry, new_name, tracker.name)
            raise
        self.services.streams.rename_tracker(tracker.name, new_name)
        return self.tracker(new_name)

    def active_trackers(self) -> list:
        """The trackers that score new calls."""
        return [self.tracker(r.name) for r in self.services.activation.active()]

    # ------------------------------------------------------------------ bundles
    def preview_bundle(self, path: str | Path, *, allow_unverified: bool = False) -> bundles.BundlePreview:
        """What ``import_bundle`` would add (name, version, model, examples, tags, files), checked as
        import checks it; nothing is written."""
        return bundles.preview(path, allow_unverified=allow_unverified)

    def import_bundle(self, path: str | Path, *, name: str | None = None, publish: bool = True,
                      filters: dict | None = None, allow_unverified: bool = False) -> Tracker:
        """Create a tracker from a bundle (workbench.activation.bundles), with its model as a
        registered and (by default) published version. ``name`` renames it (e.g. when the name is
        taken); ``filters`` replaces the bundle's call filters when they name columns or values
        this workspace does not have. A bundle that holds anything but data, or whose files do
        not match its checksums.json, is refused before anything is written; one without
        checksums.json (older bundles) only with ``allow_unverified=True``."""
        bundles.preview(path, allow_unverified=allow_unverified)
        manifest = bundles.read_manifest(path)
        new_name = " ".join((name or manifest["name"]).split())
        bundles.check_importable(self._live, manifest, new_name)
        with warnings.catch_warnings():
            # The corpus-size advice is about finding examples to tag; a pre-trained tracker needs none.
            warnings.simplefilter("ignore", SmallCorpusWarning)
            tracker = self.create_tracker(new_name, **bundles.tracker_arguments(manifest, filters))
        try:
            restored = bundles.install(self._live, tracker.record, path, manifest, publish=publish,
                                       allow_unverified=allow_unverified)
        except BaseException:
            # Leave no half-imported tracker behind: the import can simply be run again.
            self.delete_tracker(tracker.name, confirm=True)
            raise
        tracker.refresh()
        tracker.bundle_tags_restored = restored
        return tracker

    def import_pretrained(self, names: Any = None, *, skip_existing: bool = True, publish: bool = True) -> list:
        """Import shipped pre-trained trackers (all by default, or the names given)."""
        out = []
        for name, path in bundles.pretrained_bundles(names).items():
            if skip_existing and self.catalog.find(name) is not None:
                out.append(self.tracker(name))
            else:
                out.append(self.import_bundle(path, publish=publish))
        return out

    # ------------------------------------------------------------------ results (workbench.results)
    def search(self, trackers: Any = None, **options: Any):
        return self.services.results.search(trackers, **options)

    def team_stats(self, tracker: Any, **selection: Any):
        return self.services.results.team_stats(tracker, **selection)

    def detections_table(self, trackers: Any = None, **options: Any) -> pl.DataFrame:
        return self.services.results.detections_table(trackers, **options)

    def export_detections(self, path: str | Path, trackers: Any = None, **options: Any) -> Path:
        return self.services.results.export_detections(path, trackers, **options)

    def calls_api(self, call_ids: Any = None, trackers: Any = None, **selection: Any) -> dict:
        return self.services.results.calls_api(call_ids, trackers, **selection)

    def initiative_board(self, trackers: Any = None, **selection: Any):
        """Activated trackers side by side: the share of calls that mention each, per month, team
        and rep (InitiativeBoard; all activated trackers by default)."""
        return self.services.results.initiative_board(trackers, **selection)

    def deal_activity(self, deal_id: str, trackers: Any = None):
        """One deal's calls in time order and the trackers' mentions in them (calls need a deal_id)."""
        return self.services.results.deal_activity(deal_id, trackers)

    def create_stream(self, name: str, **options: Any) -> Stream:
        return self.services.streams.create(name, **options)

    def stream(self, name: str) -> Stream:
        return self.services.streams.get(name)

    def streams(self) -> list[Stream]:
        return self.services.streams.all()

    def deliver_streams(self):
        """Send the streams' queued notifications now (imports queue them and send in the
        background); a DeliveryReport. ``ws.services.streams.status()`` shows each stream's counts."""
        return self.services.streams.deliver()

    @property
    def registry(self):
        """The workspace's MLflow store (tracking and model registry), opened on first use."""
        if self._registry is None:
            from workbench.registry.versions import TrackerRegistry

            self._registry = TrackerRegistry(self.mlruns_dir, store=self.store)
        return self._registry

    def imports(self) -> pl.DataFrame:
        """The import log, newest last."""
        rows = ImportLog(self.store).rows()
        return pl.DataFrame(rows) if rows else pl.DataFrame()
