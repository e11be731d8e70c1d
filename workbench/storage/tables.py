"""The corpus tables: calls, utterances and sentences as parquet generations.

    data/tables/CURRENT            JSON pointer to the live generation, replaced atomically
    data/tables/gen-000042/        calls.parquet, utterances.parquet, sentences.parquet
    data/.write.lock               one writer at a time

Why generations: an import writes a complete new set of tables into a fresh folder and then
flips CURRENT with os.replace. A reader (a Voila dashboard) either sees the old set or the new
one, never half of each, and a failed import leaves CURRENT untouched. The two newest
generations are kept, because a reader may still be opening the one before.

Why staging: an import first *stages* its generation (written, not live), embeds its sentences
and only then *publishes* it, so a reader of the live generation always finds every embedding.
A staged generation left by a killed import is never live; the next writer discards it, and
the workspace is as it was before that import.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from workbench.core import schema
from workbench.core.errors import WorkbenchError
from workbench.core.files import atomic_write_text, file_lock
from workbench.storage.store import now_iso

_KEEP_GENERATIONS = 2  # the live one and the one before, which a reader may still be opening


@dataclass(frozen=True)
class StagedGeneration:
    """A complete set of tables written but not live yet: ``folder`` becomes gen-<number> on publish."""

    number: int
    folder: Path


class CorpusTables:
    """The tables of one workspace's ``data/`` folder, read lazily and pinned to one generation."""

    def __init__(self, data_dir: Path, *, label: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.tables_dir = self.data_dir / "tables"
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.label = label or self.data_dir.parent  # how errors name the workspace
        self._cache: dict[str, tuple[int, pl.DataFrame]] = {}
        self._pinned: int | None = None
        self._sentence_rows: tuple[pl.DataFrame, np.ndarray, np.ndarray] | None = None  # sentence_row's index

    @property
    def generation(self) -> int:
        """The generation these tables are read from (0 while nothing has been imported).

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

    def refresh(self) -> None:
        self._pinned = self.latest_generation()
        self._cache.clear()

    def _gen_dir(self, generation: int) -> Path:
        return self.tables_dir / f"gen-{generation:06d}"

    def _table(self, name: str, columns: dict[str, pl.DataType]) -> pl.DataFrame:
        for _ in range(5):
            gen = self.generation
            cached = self._cache.get(name)
            if cached and cached[0] == gen:
                return cached[1]
            if gen == 0:
                return pl.DataFrame(schema=dict(columns))
            try:
                df = pl.read_parquet(self._gen_dir(gen) / f"{name}.parquet")
            except FileNotFoundError:
                # Our generation was pruned by two newer imports: move to the latest, whole.
                self.refresh()
                continue
            self._cache[name] = (gen, df)
            return df
        raise WorkbenchError(f"Could not read the {name} table of {self.label}: it keeps changing. Try again.")

    @property
    def calls(self) -> pl.DataFrame:
        return self._table("calls", schema.CALLS_REQUIRED)

    @property
    def utterances(self) -> pl.DataFrame:
        return self._table("utterances", schema.UTTERANCES_STORED)

    @property
    def sentences(self) -> pl.DataFrame:
        return self._table("sentences", schema.SENTENCES)

    def sentence_row(self, sentence_id: int) -> int | None:
        """The row of ``sentence_id`` in ``sentences`` (None when it is not there), by a binary
        search in the ids sorted once per generation: a tag looked its sentence up with a
        filter over every sentence (a million rows, once per tag)."""
        sentences = self.sentences
        if self._sentence_rows is None or self._sentence_rows[0] is not sentences:  # another generation
            ids = sentences["sentence_id"].to_numpy()
            rows = np.argsort(ids, kind="stable")
            self._sentence_rows = (sentences, ids[rows], rows)
        _, ids, rows = self._sentence_rows
        at = int(np.searchsorted(ids, sentence_id))
        return int(rows[at]) if at < ids.size and ids[at] == sentence_id else None

    def write_lock(self):
        """One writer of the tables at a time, across processes."""
        return file_lock(self.data_dir / ".write.lock")

    def write_generation(self, calls: pl.DataFrame, utterances: pl.DataFrame, sentences: pl.DataFrame) -> int:
        """Write a new generation and make it the live one (callers hold the write lock)."""
        return self.publish(self.stage_generation(calls, utterances, sentences))

    def stage_generation(self, calls: pl.DataFrame, utterances: pl.DataFrame,
                         sentences: pl.DataFrame) -> StagedGeneration:
        """Write a complete new generation that no reader sees until ``publish`` (callers hold
        the write lock until they publish or discard it)."""
        self.discard_abandoned()
        tmp = Path(tempfile.mkdtemp(prefix=".gen-tmp-", dir=self.tables_dir))
        try:
            calls.write_parquet(tmp / "calls.parquet")
            utterances.write_parquet(tmp / "utterances.parquet")
            sentences.write_parquet(tmp / "sentences.parquet")
            for f in tmp.iterdir():  # make the data durable before the pointer names it
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return StagedGeneration(self.latest_generation() + 1, tmp)

    def publish(self, staged: StagedGeneration) -> int:
        """Make a staged generation the live one: one rename, then the CURRENT pointer."""
        os.replace(staged.folder, self._gen_dir(staged.number))
        atomic_write_text(self.tables_dir / "CURRENT",
                          json.dumps({"generation": staged.number, "written_at": now_iso()}))
        self._prune(staged.number)
        self.refresh()
        return staged.number

    def discard(self, staged: StagedGeneration) -> None:
        shutil.rmtree(staged.folder, ignore_errors=True)

    def discard_abandoned(self) -> None:
        """Remove what a killed import staged and never published (callers hold the write lock):
        temporary folders, and a generation folder newer than CURRENT (killed between the two
        steps of ``publish``). No reader ever opened them: readers follow CURRENT."""
        live = self.latest_generation()
        for d in self.tables_dir.glob("gen-*"):
            if _generation_number(d) > live:
                shutil.rmtree(d, ignore_errors=True)
        for d in self.tables_dir.glob(".gen-tmp-*"):
            shutil.rmtree(d, ignore_errors=True)

    def _prune(self, live: int) -> None:
        for d in self.tables_dir.glob("gen-*"):
            if 0 < _generation_number(d) <= live - _KEEP_GENERATIONS:
                shutil.rmtree(d, ignore_errors=True)


def _generation_number(folder: Path) -> int:
    """The number in a ``gen-000042`` folder's name; 0 for a name that has none."""
    try:
        return int(folder.name.split("-")[1])
    except (IndexError, ValueError):
        return 0
