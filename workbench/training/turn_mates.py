"""The other sentences of a tagged sentence's speaker turn: what a YES tag is learnt from
(``TrackerModel(yes_sentence="best_of_turn")``) and what a turn-level threshold counts."""
from __future__ import annotations

import numpy as np

from workbench.training.codes import in_codes


def turn_mates(groups, rows) -> tuple[np.ndarray, np.ndarray]:
    """The other sentences of each tagged row's speaker turn, for ``fit(mate_embeddings=...)``.

    groups: (n,) turn code of every row; rows: the tagged rows (positions into groups), in
    the order they are passed to ``fit``. Returns (mate_rows, mate_of): rows sharing a turn
    with a tagged row and not tagged themselves, and for each the position in ``rows`` of
    that tag. A turn with two tags gives its other sentences to both.
    """
    groups = np.asarray(groups)
    rows = np.asarray(rows, dtype=np.int64).ravel()
    tagged = np.zeros(len(groups), bool)
    tagged[rows] = True
    order = np.argsort(groups[rows], kind="stable")
    tag_groups = groups[rows][order]
    cand = np.flatnonzero(~tagged & in_codes(groups, tag_groups))
    lo = np.searchsorted(tag_groups, groups[cand], "left")
    counts = np.searchsorted(tag_groups, groups[cand], "right") - lo
    mate_rows = np.repeat(cand, counts)
    # For each repeated mate, the next of its turn's tags: lo, lo + 1, ... lo + count - 1.
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return mate_rows, order[np.repeat(lo, counts) + within].astype(np.int64)
