"""Sentence vectors read from the embedding cache for a frame of sentences (what
``Workspace.embeddings`` returns): float32 rows in the frame's order, or an error that says how
many have no embedding and what to run."""
from __future__ import annotations

from typing import Callable

import numpy as np
import polars as pl

from workbench.core.errors import NotFoundError, WorkbenchError
from workbench.embedding.cache import EmbeddingCache, text_keys


def sentence_vectors(cache: EmbeddingCache, sentences: pl.DataFrame, where: str) -> np.ndarray:
    """The vectors of ``sentences`` (a frame with ``text``), float32, in its order; ``where``
    names the sentences in the error raised when some have no embedding."""
    matrix, missing = cache.lookup(sentences["text"].to_list())
    if missing.any():
        raise WorkbenchError(
            f"{int(missing.sum()):,} of {sentences.height:,} sentences {where} have no embedding for model "
            f"{cache.model_id}. Run `workbench embed` or ws.embed() first.")
    return np.ascontiguousarray(matrix, dtype=np.float32)


def rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray | None:
    """The positions of ``wanted`` ids in ``ids``, or None when some are not there."""
    if len(ids) == 0:
        return None if len(wanted) else np.empty(0, dtype=np.int64)
    order = np.argsort(ids)
    pos = np.clip(np.searchsorted(ids, wanted, sorter=order), 0, len(ids) - 1)
    rows = order[pos]
    return rows if np.array_equal(ids[rows], wanted) else None


class KeptVectors:
    """``Workspace.embeddings``: the vectors of the tagging sample's sentences (every sentence
    without a sample) read once per key (generation, model, sample) and kept; others are looked
    up when asked for, so a workspace that embedded only its sample serves it as before."""

    def __init__(self, path: object) -> None:
        self.path = path
        self._kept: tuple | None = None  # (key, sentence ids, float32 vectors)

    def get(self, cache: EmbeddingCache, key: tuple, sentences: pl.DataFrame,
            sample: Callable[[], pl.DataFrame] | None, sentence_ids: np.ndarray | None) -> np.ndarray:
        """Vectors aligned with ``sentences`` (None) or ``sentence_ids``; ``sample``: gives the
        sample's sentences, None when the workspace tags on every call."""
        if self._kept is None or self._kept[0] != key:
            kept = sentences if sample is None else sample()
            where = f"in {self.path}" if sample is None else f"of the tagging sample of {self.path}"
            self._kept = (key, kept["sentence_id"].to_numpy(), sentence_vectors(cache, kept, where))
        _, ids, matrix = self._kept
        elsewhere = f"in {self.path} (`workbench embed --all` embeds every call)"
        if sentence_ids is None:
            return matrix if sample is None else sentence_vectors(cache, sentences, elsewhere)
        rows = rows_of(ids, np.asarray(sentence_ids))
        if rows is not None:
            # Every kept sentence, in order (a tracker whose scope is the whole corpus): the kept
            # array itself, as a copy of a million rows would double the memory for the same values.
            whole = rows.size == len(ids) and bool((rows == np.arange(rows.size)).all())
            return matrix if whole else matrix[rows]
        wanted = pl.DataFrame({"sentence_id": np.asarray(sentence_ids, dtype=np.int64)})
        found = wanted.join(sentences.select(pl.col("sentence_id").cast(pl.Int64), "text")
                            .unique("sentence_id", keep="first"), on="sentence_id", how="left", maintain_order="left")
        if found["text"].null_count():
            raise NotFoundError("Some sentence ids are not in the workspace.")
        return sentence_vectors(cache, found, elsewhere)


def embedded_count(cache: EmbeddingCache, texts: pl.Series) -> int:
    """How many of ``texts`` (one per sentence, repeats counted) have a vector in ``cache``."""
    if texts.len() == 0:
        return 0
    unique, counts = np.unique(texts.to_numpy(), return_counts=True)
    _, missing = cache.lookup_keys(text_keys(list(unique)), dtype=np.float16)
    return int(counts[~missing].sum())
