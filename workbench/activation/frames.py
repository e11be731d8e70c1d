"""The two frames every scoring engine returns: the detections, and every call it looked in.

Shared by the local engine (workbench.activation.scoring) and Spark (workbench.activation.spark),
so that both store exactly the same columns.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

DETECTION_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "sentence_id": pl.Int64(),
    "utterance_id": pl.Int64(),
    "sentence_index": pl.Int32(),
    "start_s": pl.Float64(),
    "speaker": pl.String(),
    "side": pl.String(),
    "text": pl.String(),
    "score": pl.Float64(),
    "version": pl.Int64(),
}
CALLS_SCORED_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "sentences": pl.Int64(),
    "mentions": pl.Int64(),
    "version": pl.Int64(),
    "scored_at": pl.Datetime("us", "UTC"),
}


def no_results() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two frames when nothing was scored."""
    return pl.DataFrame(schema=DETECTION_SCHEMA), pl.DataFrame(schema=CALLS_SCORED_SCHEMA)


def detection_frames(scope: pl.DataFrame, scores: np.ndarray, detected: np.ndarray, version: int,
                     scored_at: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(detections, calls scored) of in-scope sentences given each one's score and verdict."""
    mask = pl.Series(detected)
    dets = (scope.filter(mask)
            .with_columns(pl.Series("score", scores[detected], dtype=pl.Float64), pl.lit(version, pl.Int64).alias("version"))
            .select([pl.col(c).cast(t) for c, t in DETECTION_SCHEMA.items()]))
    calls = (scope.select("call_id").with_columns(mask.alias("_d"))
             .group_by("call_id", maintain_order=True)
             .agg(pl.len().cast(pl.Int64).alias("sentences"), pl.col("_d").sum().cast(pl.Int64).alias("mentions"))
             .with_columns(pl.lit(version, pl.Int64).alias("version"),
                           pl.lit(scored_at, pl.Datetime("us", "UTC")).alias("scored_at")))
    return dets, calls
