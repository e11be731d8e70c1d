"""KeywordTracker: a tracker of exact words and phrases, with the smart tracker's contract."""
from __future__ import annotations

import polars as pl

from workbench.trackers.base import BaseTracker


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

