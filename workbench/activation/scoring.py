"""Scoring in-scope sentences locally: a smart tracker's published version, or a keyword
tracker's phrases.

Scoring is a matrix product, not a model run: the published model is a logistic regression over
sentence embeddings, so its weights are read once (the Scorer) and applied to the cached float16
vectors through the scoring index (workbench.embedding.matrix), block by block. A model that is not linear falls back to its
own ``predict_proba``, chunked.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from workbench.activation.context import LiveContext
from workbench.activation.frames import detection_frames, no_results
from workbench.activation.scorer import Scorer, load_scorer
from workbench.core.errors import WorkbenchError
from workbench.embedding.backend import same_vectors
from workbench.trackers.records import TrackerRecord, definition_from_snapshot

KEYWORD_VERSION = 0  # keyword trackers have no trained versions: their phrases are the model


@dataclass(frozen=True, eq=False)
class VectorLookup:
    """Scope rows already looked up in the embedding cache (``rows``) and those of them with no
    vector (``missing``): a backfill's plan does the lookup, the scoring after it does not redo it."""

    rows: np.ndarray
    missing: np.ndarray


def scope_rows(ctx: LiveContext, snapshot: dict, call_ids: pl.Series | list | None = None,
               window_start: dt.datetime | None = None) -> pl.DataFrame:
    """The in-scope sentences (with ``_row``, their position in the sentences table) of the given
    calls and/or of the calls started at or after ``window_start``."""
    keep = pl.lit(False)
    if window_start is not None:
        keep |= pl.col("started_at") >= window_start
    if call_ids is not None:
        keep |= pl.col("call_id").is_in(pl.Series(list(call_ids), dtype=pl.String).implode())
    return definition_from_snapshot(snapshot).scope(ctx.calls.filter(keep), ctx.sentences.with_row_index("_row"))


def score_frame(ctx: LiveContext, scorer: Scorer, scope: pl.DataFrame, *, progress: bool = False,
                desc: str = "Scoring", embed: bool = False,
                looked_up: VectorLookup | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score in-scope sentences (a frame with ``_row``): (detections, calls scored). ``embed``:
    embed those without a vector first (a backfill does; new calls wait for ``workbench embed``);
    ``looked_up``: the backfill plan's lookup of the scope's vectors, not repeated."""
    from workbench.embedding.matrix import SentenceMatrix

    scored_at = dt.datetime.now(dt.timezone.utc)
    if scope.height == 0:
        return no_results()
    if scorer.encoder is not None:  # deep-trained: its own encoder, not the workspace's matrix
        scores, detected = scorer.score_texts(scope["text"].to_list(), ctx.embeddings_dir, progress=progress)
        return detection_frames(scope, scores, detected, scorer.version, scored_at)
    model_id = ctx.embedder.model_id
    if scorer.embedding_model and not same_vectors(scorer.embedding_model, model_id):
        raise WorkbenchError(
            f"Version {scorer.version} of '{scorer.tracker}' was trained on {scorer.embedding_model} embeddings, but "
            f"{ctx.path} uses {model_id}. Open the workspace with that model, or train the tracker here.")
    rows = scope["_row"].to_numpy()
    matrix = SentenceMatrix(ctx)
    if embed:
        embed_unembedded(ctx, unembedded_rows(matrix, rows, looked_up), progress=progress)
    view = matrix.view(rows=rows, progress=progress)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=scope.height, desc=desc, unit="sentence", unit_scale=True)
    try:
        scores, detected = scorer.score(view, rows, on_block=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return detection_frames(scope, scores, detected, scorer.version, scored_at)


def unembedded_rows(matrix, rows: np.ndarray,
                    looked_up: VectorLookup | None = None) -> np.ndarray:
    """``matrix.unembedded(rows)`` (sorted, unique), where the rows a backfill's plan already
    looked up (``looked_up``) are not hashed and looked up in the cache a second time: at a
    tagging sample's scale that is nearly every row."""
    if looked_up is None:
        return matrix.unembedded(rows)
    missing = looked_up.missing
    rest = rows[~np.isin(rows, looked_up.rows)]  # e.g. calls scored earlier, dated before the plan's window
    found = matrix.unembedded(rest) if len(rest) else np.empty(0, dtype=np.int64)
    return np.union1d(missing[np.isin(missing, rows)], found).astype(np.int64, copy=False)


def embed_unembedded(ctx: LiveContext, rows: np.ndarray, *, progress: bool = False) -> int:
    """Embed the sentences at ``rows`` of ws.sentences (``SentenceMatrix.unembedded``: those of
    a scope without a vector) through the workspace's embedder and cache, with a bar under
    ``progress``; returns how many texts were computed. A workspace with a tagging sample
    (workbench.corpus.sample) embedded only the sample: a backfill embeds the rest of its scope here."""
    if not len(rows):
        return 0
    from workbench.embedding.cache import EmbeddingCache
    from workbench.embedding.embedder import embed_texts

    texts = ctx.sentences["text"].gather(rows).unique(maintain_order=True).to_list()
    cache = EmbeddingCache(ctx.embeddings_dir, ctx.embedder.model_id)
    before = len(cache)
    embed_texts(texts, cache, ctx.embedder, progress=progress)
    return len(cache) - before


def keyword_score_frame(record: TrackerRecord, scope: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A keyword tracker's matches over in-scope sentences: (detections, calls scored); score 1.0 per match."""
    scored_at = dt.datetime.now(dt.timezone.utc)
    if scope.height == 0:
        return no_results()
    detected = record.matcher().matches(scope["text"])
    return detection_frames(scope, detected.astype(np.float64), detected, KEYWORD_VERSION, scored_at)


def score_scope(ctx: LiveContext, record: TrackerRecord, version: int, scope: pl.DataFrame, *,
                progress: bool, embed: bool = False,
                looked_up: VectorLookup | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tracker's detections over ``scope`` with ``version`` (its phrases, for a keyword
    tracker); ``embed`` and ``looked_up``: see score_frame."""
    if record.kind == "keyword":
        return keyword_score_frame(record, scope)
    scorer = load_scorer(ctx.registry, record.name, version)
    return score_frame(ctx, scorer, scope, progress=progress, desc=f"Scoring '{record.name}'", embed=embed,
                       looked_up=looked_up)
