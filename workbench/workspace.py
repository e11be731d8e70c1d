"""Workspace: one folder holding imported calls, sentences, embeddings, trackers and MLflow runs.

Layout (documented for users in docs/workspace.md):

    <workspace>/
      data/
        tables/CURRENT            JSON pointer to the live generation, replaced atomically
        tables/gen-000042/        calls.parquet, utterances.parquet, sentences.parquet
        embeddings/<model_id>/    the embedding cache (float16 shards, keyed by text)
        workbench.sqlite          trackers, examples, rounds, tags, versions, import log
        .write.lock               one writer at a time
      mlruns/
        mlflow.db                 MLflow tracking + registry (SQLite backend)
        artifacts/                MLflow artifacts

Why generations: an import writes a complete new set of tables into a fresh folder and then
flips CURRENT with os.replace. A reader (a Voila dashboard) either sees the old set or the new
one, never half of each, and a failed import leaves CURRENT untouched.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import polars as pl

from workbench.core import schema
from workbench.core.files import atomic_write_text
from workbench.core.errors import NotFoundError, WorkbenchError
from workbench.core.settings import ENV_MODEL, ENV_WORKSPACE
from workbench.live import WorkspaceResults
from workbench.storage.store import Store, now_iso

if TYPE_CHECKING:
    from workbench.embedding.embedder import Embedder

_KEEP_GENERATIONS = 2  # the live one and the one before, which a reader may still be opening


def default_workspace_path() -> Path:
    """The workspace a command uses when none is named: $WORKBENCH_WORKSPACE, else the repo root."""
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return Path(env)
    # The repository's own data/ and mlruns/ are the default workspace (see the README).
    return Path(__file__).resolve().parents[1]


def _empty(columns: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema={k: v for k, v in columns.items()})


@dataclass
class ImportResult:
    imported_calls: int
    imported_utterances: int
    imported_sentences: int
    skipped_call_ids: list[str] = field(default_factory=list)
    replaced_call_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    embedded: int = 0
    scored: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [
            f"Imported {self.imported_calls:,} calls, {self.imported_utterances:,} utterances, "
            f"{self.imported_sentences:,} sentences."
        ]
        if self.replaced_call_ids:
            lines.append(f"Replaced {len(self.replaced_call_ids):,} calls.")
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class WorkspaceInfo:
    path: Path
    calls: int
    utterances: int
    sentences: int
    embedded_sentences: int
    model_id: str | None
    calls_per_month: pl.DataFrame
    sides: pl.DataFrame
    channels: pl.DataFrame
    teams: pl.DataFrame
    timings_measured: int
    timings_estimated: int
    trackers: int
    first_call: Any = None
    last_call: Any = None

    @property
    def embedded_share(self) -> float:
        return self.embedded_sentences / self.sentences if self.sentences else 0.0

    def __str__(self) -> str:
        out = [f"Workspace {self.path}"]
        if not self.calls:
            out.append("  empty: import calls with `workbench import` or run `workbench demo`")
            return "\n".join(out)
        out += [
            f"  calls        {self.calls:>10,}   ({self.first_call:%Y-%m-%d} to {self.last_call:%Y-%m-%d})",
            f"  utterances   {self.utterances:>10,}",
            f"  sentences    {self.sentences:>10,}",
            f"  embedded     {self.embedded_sentences:>10,}   ({self.embedded_share:.0%}"
            + (f", model {self.model_id})" if self.model_id else ")"),
            f"  trackers     {self.trackers:>10,}",
        ]
        total_t = self.timings_measured + self.timings_estimated
        if total_t:
            out.append(
                f"  timings      {self.timings_measured:>10,} utterances measured, "
                f"{self.timings_estimated:,} estimated from word counts "
                f"({self.timings_estimated / total_t:.0%} estimated)"
            )
        out.append("  sides        " + ", ".join(f"{r['side']} {r['utterances']:,}" for r in self.sides.iter_rows(named=True)))
        out.append("  channels     " + ", ".join(f"{r['channel']} {r['calls']:,}" for r in self.channels.iter_rows(named=True)))
        out.append("  teams        " + ", ".join(f"{r['team']} {r['calls']:,}" for r in self.teams.iter_rows(named=True)))
        out.append("  calls per month")
        peak = max(self.calls_per_month["calls"].max() or 1, 1)
        for r in self.calls_per_month.iter_rows(named=True):
            bar = "#" * max(1, round(30 * r["calls"] / peak))
            out.append(f"    {r['month']}  {r['calls']:>7,}  {bar}")
        return "\n".join(out)


class Workspace(WorkspaceResults):
    """Open or create a workspace folder. Cheap to construct; tables are read lazily.

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
        self.store = Store(self.data_dir / "workbench.sqlite")
        # `model` is a local sentence-transformers path, or an Embedder to share one loaded model.
        self._embedder: Embedder | None = model if hasattr(model, "encode") else None
        self._model_path = None if self._embedder else (model if model is not None else os.environ.get(ENV_MODEL))
        self._tables_cache: dict[str, tuple[int, pl.DataFrame]] = {}
        self._pinned: int | None = None
        self._emb_cache: tuple[int, str, np.ndarray, np.ndarray] | None = None
        self._registry = None

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    # ------------------------------------------------------------------ tables
    @property
    def generation(self) -> int:
        """The generation of the tables this object reads (0 while nothing has been imported).

        Pinned at first use, so that calls, utterances and sentences always come from the same
        import even while another process imports; ``refresh()`` moves to the latest one.
        """
        if self._pinned is None:
            self._pinned = self.latest_generation()
        return self._pinned

    def latest_generation(self) -> int:
        try:
            return int(json.loads((self.tables_dir / "CURRENT").read_text())["generation"])
        except FileNotFoundError:
            return 0

    def refresh(self) -> "Workspace":
        """See what other processes (a CLI import, another kernel) have written since."""
        self._pinned = self.latest_generation()
        self._tables_cache.clear()
        return self

    def _gen_dir(self, generation: int) -> Path:
        return self.tables_dir / f"gen-{generation:06d}"

    def _table(self, name: str, columns: dict[str, pl.DataType]) -> pl.DataFrame:
        for _ in range(5):
            gen = self.generation
            cached = self._tables_cache.get(name)
            if cached and cached[0] == gen:
                return cached[1]
            if gen == 0:
                return _empty(columns)
            try:
                df = pl.read_parquet(self._gen_dir(gen) / f"{name}.parquet")
            except FileNotFoundError:
                # Our generation was pruned by two newer imports: move to the latest, whole.
                self.refresh()
                continue
            self._tables_cache[name] = (gen, df)
            return df
        raise WorkbenchError(f"Could not read the {name} table of {self.path}: it keeps changing. Try again.")

    @property
    def calls(self) -> pl.DataFrame:
        """Imported calls: the import format's columns plus any extra columns given."""
        return self._table("calls", schema.CALLS_REQUIRED)

    @property
    def utterances(self) -> pl.DataFrame:
        return self._table("utterances", schema.UTTERANCES_STORED)

    @property
    def sentences(self) -> pl.DataFrame:
        """One row per sentence, in call, utterance and sentence order."""
        return self._table("sentences", schema.SENTENCES)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        lock_path = self.data_dir / ".write.lock"
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write_generation(self, calls: pl.DataFrame, utterances: pl.DataFrame, sentences: pl.DataFrame) -> int:
        new = self.latest_generation() + 1
        tmp = Path(tempfile.mkdtemp(prefix=".gen-tmp-", dir=self.tables_dir))
        try:
            calls.write_parquet(tmp / "calls.parquet")
            utterances.write_parquet(tmp / "utterances.parquet")
            sentences.write_parquet(tmp / "sentences.parquet")
            for f in tmp.iterdir():  # make the data durable before the pointer names it
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(tmp, self._gen_dir(new))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        atomic_write_text(self.tables_dir / "CURRENT", json.dumps({"generation": new, "written_at": now_iso()}))
        self._prune_generations(new)
        self.refresh()
        return new

    def _prune_generations(self, live: int) -> None:
        for d in self.tables_dir.glob("gen-*"):
            try:
                g = int(d.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if g <= live - _KEEP_GENERATIONS:
                shutil.rmtree(d, ignore_errors=True)
        for d in self.tables_dir.glob(".gen-tmp-*"):  # left by a killed import
            shutil.rmtree(d, ignore_errors=True)

    # ------------------------------------------------------------------ import
    def import_calls(
        self,
        calls: str | Path | pl.DataFrame,
        utterances: str | Path | pl.DataFrame,
        *,
        replace: bool = False,
        embed: bool = True,
        progress: bool = True,
    ) -> ImportResult:
        """Validate and import calls and their utterances; atomic.

        Calls already in the workspace are skipped, or replaced with ``replace=True``; never
        duplicated. On any error an InputError names the file, row and column and nothing in the
        workspace changes. With ``embed=True`` (the default) the new sentences are embedded when
        the workspace already holds embeddings, and active trackers score the new calls.
        """
        from workbench.corpus.prepare import prepare_import

        with self._write_lock():
            self.refresh()  # merge into what is there now, not into this object's older snapshot
            old_calls, old_utts, old_sents = self.calls, self.utterances, self.sentences
            existing = set(old_calls["call_id"].to_list())
            prepared = prepare_import(calls, utterances, existing_call_ids=existing, replace=replace)
            drop = prepared.replaced_call_ids
            if drop:
                old_calls = old_calls.filter(~pl.col("call_id").is_in(drop))
                old_utts = old_utts.filter(~pl.col("call_id").is_in(drop))
                old_sents = old_sents.filter(~pl.col("call_id").is_in(drop))
            new_calls = _concat_calls(old_calls, prepared.calls)
            new_utts = pl.concat([old_utts, prepared.utterances.select(old_utts.columns)], how="vertical") if old_utts.height else prepared.utterances
            new_sents = pl.concat([old_sents, prepared.sentences.select(old_sents.columns)], how="vertical") if old_sents.height else prepared.sentences
            if prepared.calls.height == 0 and not drop:
                generation = self.generation  # nothing new: no need for another copy of the tables
            else:
                generation = self._write_generation(new_calls, new_utts, new_sents)
            with self.store.transaction() as con:
                con.execute(
                    "INSERT INTO imports(imported_at, calls_source, utterances_source, generation, n_calls,"
                    " n_utterances, n_sentences, skipped_calls, replaced_calls) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        now_iso(),
                        _source_name(calls),
                        _source_name(utterances),
                        generation,
                        prepared.calls.height,
                        prepared.utterances.height,
                        prepared.sentences.height,
                        len(prepared.skipped_call_ids),
                        len(drop),
                    ),
                )
        result = ImportResult(
            imported_calls=prepared.calls.height,
            imported_utterances=prepared.utterances.height,
            imported_sentences=prepared.sentences.height,
            skipped_call_ids=list(prepared.skipped_call_ids),
            replaced_call_ids=list(drop),
            warnings=list(prepared.warnings),
        )
        if embed and prepared.sentences.height and self.embedded_count() > 0:
            # Upcoming calls: embed only what is new, so active trackers can score it.
            result.embedded = self.embed(progress=progress)
        result.scored = self._score_new_calls(prepared.calls["call_id"].to_list())
        return result

    def _score_new_calls(self, call_ids: list[str]) -> dict[str, int]:
        """Upcoming calls: every active tracker scores the new calls (or queues them until embedded)."""
        from workbench.live import on_import

        return on_import(self, call_ids)

    # ------------------------------------------------------------------ embeddings
    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from workbench.embedding.embedder import Embedder

            self._embedder = Embedder(self._model_path)
        return self._embedder

    def _cache(self):
        from workbench.embedding.cache import EmbeddingCache

        return EmbeddingCache(self.embeddings_dir, self.embedder.model_id)

    def embed(self, *, progress: bool = True) -> int:
        """Embed every sentence that has no embedding yet; returns how many were computed.

        Keyed by model and text: duplicate sentences and re-runs cost nothing, and an interrupted
        run resumes where it stopped.
        """
        from workbench.embedding.embedder import embed_texts

        texts = self.sentences["text"].unique(maintain_order=True)
        cache = self._cache()
        before = len(cache)
        embed_texts(texts.to_list(), cache, self.embedder, progress=progress)
        return len(cache) - before

    def embedded_count(self) -> int:
        """How many of the workspace's sentences have a cached embedding for the current model."""
        if self.sentences.height == 0:
            return 0
        from workbench.embedding.cache import text_keys

        cache = self._cache()  # model_id is cheap: no weights are loaded to count
        texts = self.sentences["text"]
        unique, counts = np.unique(texts.to_numpy(), return_counts=True)
        _, missing = cache.lookup_keys(text_keys(list(unique)), dtype=np.float16)
        return int(counts[~missing].sum())

    def embeddings(self, sentence_ids: np.ndarray | None = None) -> np.ndarray:
        """Embeddings (float32, L2-normalised) aligned with ``self.sentences`` or the given ids.

        Raises with a hint when sentences are not embedded yet.
        """
        gen = self.generation
        model_id = self.embedder.model_id
        if self._emb_cache is None or self._emb_cache[0] != gen or self._emb_cache[1] != model_id:
            sents = self.sentences
            cache = self._cache()
            matrix, missing = cache.lookup(sents["text"].to_list())
            if missing.any():
                raise WorkbenchError(
                    f"{int(missing.sum()):,} of {sents.height:,} sentences in {self.path} have no embedding "
                    f"for model {model_id}. Run `workbench embed` or ws.embed() first."
                )
            self._emb_cache = (gen, model_id, sents["sentence_id"].to_numpy(), np.ascontiguousarray(matrix, dtype=np.float32))
        _, _, ids, matrix = self._emb_cache
        if sentence_ids is None:
            return matrix
        order = np.argsort(ids)
        pos = np.searchsorted(ids, sentence_ids, sorter=order)
        pos = np.clip(pos, 0, len(ids) - 1)
        rows = order[pos]
        if not np.array_equal(ids[rows], np.asarray(sentence_ids)):
            raise NotFoundError("Some sentence ids are not in the workspace.")
        return matrix[rows]

    # ------------------------------------------------------------------ info
    def info(self) -> WorkspaceInfo:
        calls, utts, sents = self.calls, self.utterances, self.sentences
        by_month = (
            calls.group_by(pl.col("started_at").dt.strftime("%Y-%m").alias("month"))
            .agg(pl.len().alias("calls"))
            .sort("month")
        )
        sides = utts.group_by("side").agg(pl.len().alias("utterances")).sort("side")
        channels = calls.group_by("channel").agg(pl.len().alias("calls")).sort("channel")
        teams = calls.group_by("team").agg(pl.len().alias("calls")).sort("team")
        estimated = int(utts["timing_estimated"].sum()) if utts.height else 0
        n_trackers = self.store.query_one("SELECT COUNT(*) AS n FROM trackers")["n"]
        return WorkspaceInfo(
            path=self.path,
            calls=calls.height,
            utterances=utts.height,
            sentences=sents.height,
            embedded_sentences=self.embedded_count(),
            model_id=self.embedder.model_id,
            calls_per_month=by_month,
            sides=sides,
            channels=channels,
            teams=teams,
            timings_measured=utts.height - estimated,
            timings_estimated=estimated,
            trackers=n_trackers,
            first_call=calls["started_at"].min() if calls.height else None,
            last_call=calls["started_at"].max() if calls.height else None,
        )

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
    ):
        """Define a smart tracker; validated against the workspace's calls before it is stored."""
        from workbench.trackers.definition import DEFAULT_FILTERS, TrackerDefinition
        from workbench.trackers.tracker import Tracker, check_scope

        definition = TrackerDefinition(
            name=name, description=description, mentioned_by=mentioned_by,
            filters=dict(DEFAULT_FILTERS) if filters is None else filters, call_part=call_part, channels=channels,
        )
        if examples:
            from workbench.trackers.examples import validate_examples

            examples = validate_examples(examples)
        self._check_name_free(definition.name)
        check_scope(self, definition)
        tracker_id = self._insert_tracker("smart", definition, {"seed": int(seed)})
        tracker = Tracker(self, self.store.query_one("SELECT * FROM trackers WHERE id=?", (tracker_id,)))
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
    ):
        """Define a keyword tracker: exact words and phrases, on word boundaries, case-insensitive."""
        from workbench.trackers.definition import DEFAULT_FILTERS, TrackerDefinition
        from workbench.trackers.keywords import KeywordMatcher
        from workbench.trackers.tracker import KeywordTracker

        definition = TrackerDefinition(
            name=name, description=description, mentioned_by=mentioned_by,
            filters=dict(DEFAULT_FILTERS) if filters is None else filters, call_part=call_part, channels=channels,
        )
        matcher = KeywordMatcher(phrases, related_forms=related_forms, question_only=question_only)  # validates
        definition.scope(self.calls, self.sentences)  # validates filter columns
        settings = {"phrases": list(matcher.phrases), "related_forms": related_forms, "question_only": question_only}
        tracker_id = self._insert_tracker("keyword", definition, settings)
        return KeywordTracker(self, self.store.query_one("SELECT * FROM trackers WHERE id=?", (tracker_id,)))

    def _check_name_free(self, name: str) -> None:
        from workbench.core.errors import ValidationError

        if self.store.query_one("SELECT id FROM trackers WHERE name = ?", (name,)):
            raise ValidationError("name", f"a tracker named '{name}' already exists in {self.path}",
                                  "Choose another name, or open it with ws.tracker(name).")

    def _insert_tracker(self, kind: str, definition, settings: dict) -> int:
        from workbench.storage.store import dumps

        self._check_name_free(definition.name)  # again inside the write: another process may have won
        now = now_iso()
        with self.store.transaction() as con:
            cur = con.execute(
                "INSERT INTO trackers(name, kind, description, mentioned_by, filters, call_part, channels, settings,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (definition.name, kind, definition.description, definition.mentioned_by, dumps(definition.filters),
                 dumps(list(definition.call_part)), dumps(definition.channels), dumps(settings), now, now),
            )
            return int(cur.lastrowid)

    def tracker(self, name: str):
        """Reopen a tracker by name (case-insensitive)."""
        from workbench.trackers.tracker import KeywordTracker, Tracker

        row = self.store.query_one("SELECT * FROM trackers WHERE name = ?", (" ".join(str(name).split()),))
        if row is None:
            names = [r["name"] for r in self.store.query("SELECT name FROM trackers ORDER BY name")]
            raise NotFoundError(
                f"No tracker named '{name}' in {self.path}. "
                + (f"There are: {', '.join(names)}." if names else "There are none yet: create one with ws.create_tracker().")
            )
        return (Tracker if row["kind"] == "smart" else KeywordTracker)(self, row)

    def trackers(self) -> list:
        return [self.tracker(r["name"]) for r in self.store.query("SELECT name FROM trackers ORDER BY created_at, id")]

    def delete_tracker(self, name: str, *, confirm: bool = False) -> None:
        """Delete a tracker with its examples, rounds, tags and versions. Needs confirm=True."""
        from workbench.core.errors import ValidationError

        tracker = self.tracker(name)
        if not confirm:
            raise ValidationError("confirm", f"deleting '{tracker.name}' removes its tags and versions for good",
                                  "Call again with confirm=True.")
        from workbench.activation.service import forget

        forget(self, tracker.id)  # its stored detections go with it
        with self.store.transaction() as con:
            con.execute("DELETE FROM trackers WHERE id=?", (tracker.id,))
        if self._registry is not None or (self.mlruns_dir / "mlflow.db").exists():
            self.registry.delete_tracker(tracker.name)

    @property
    def registry(self):
        """The workspace's MLflow store (tracking and model registry), opened on first use."""
        if self._registry is None:
            from workbench.registry.versions import TrackerRegistry

            self._registry = TrackerRegistry(self.mlruns_dir)
        return self._registry

    def imports(self) -> pl.DataFrame:
        """The import log, newest last."""
        rows = self.store.query("SELECT * FROM imports ORDER BY id")
        return pl.DataFrame([dict(r) for r in rows]) if rows else pl.DataFrame()


def _concat_calls(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    if old.height == 0:
        return new
    # Extra columns may differ between imports: keep the union, nulls where a batch lacked one.
    return pl.concat([old, new], how="diagonal_relaxed")


def _source_name(source: Any) -> str:
    if isinstance(source, pl.DataFrame):
        return f"DataFrame ({source.height} rows)"
    return str(source)
