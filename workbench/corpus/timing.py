"""Fill in missing utterance times from word counts.

A row without ``start_s`` or ``end_s`` lasts ``round(words / WORDS_PER_SECOND, 1)``
seconds (at least 0.1 s) and starts ``PAUSE_S`` after the end of the previous utterance
of the same call (the first at 0.0). Known times are kept, so estimates continue after
the last real time; a row with only ``end_s`` starts one estimated duration before it.
This is the rule the shared datasets were made with, so dropping their times and
estimating them gives the same numbers back.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from workbench.core.schema import WORDS_PER_SECOND

PAUSE_S = 0.6


def estimate_timings(utterances: pl.DataFrame) -> pl.DataFrame:
    """Return ``utterances`` with start_s/end_s filled and ``timing_estimated`` set.

    Rows must be grouped by call and ordered within each call. An input
    ``timing_estimated`` column (a re-import of stored rows) is kept as true where set.
    """
    given = (utterances["timing_estimated"] if "timing_estimated" in utterances.columns
             else pl.repeat(False, utterances.height, eager=True))
    missing = utterances["start_s"].is_null() | utterances["end_s"].is_null()
    if not missing.any():
        return utterances.with_columns(given.alias("timing_estimated"))

    words = utterances["text"].str.count_matches(r"\S+").to_numpy()
    duration = np.maximum(np.round(words / WORDS_PER_SECOND, 1), 0.1).tolist()
    # Plain lists: the walk below is sequential, and list indexing is far cheaper than numpy's.
    start = utterances["start_s"].to_list()
    end = utterances["end_s"].to_list()
    call = utterances["call_id"].to_list()
    todo = missing.to_list()

    # Only calls with a gap need the walk; the rest keep their times as they are.
    calls_with_gaps = {c for c, gap in zip(call, todo) if gap}
    previous_call = None
    cursor = None  # end of the latest utterance so far in this call
    for i, call_id in enumerate(call):
        if call_id != previous_call:
            previous_call, cursor = call_id, None
        if call_id not in calls_with_gaps:
            continue
        if todo[i]:
            if start[i] is None:
                if end[i] is not None:
                    start[i] = max(end[i] - duration[i], 0.0)
                else:
                    start[i] = 0.0 if cursor is None else round(cursor + PAUSE_S, 3)
            if end[i] is None:
                end[i] = round(start[i] + duration[i], 3)
        cursor = end[i] if cursor is None else max(cursor, end[i])
    return utterances.with_columns(
        pl.Series("start_s", start, dtype=pl.Float64),
        pl.Series("end_s", end, dtype=pl.Float64),
        (given | missing).alias("timing_estimated"),
    )
