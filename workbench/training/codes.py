"""Membership among integer codes (rows, texts, speaker turns) over a whole scope, fast.

``np.isin(values, wanted)`` over a million codes, for the few dozen a round picks, took 8-9 ms
(it ranges and indexes the million values several times); a round asked it ten times or more,
the planner most. ``in_codes`` marks the wanted codes in a table and reads each value's mark
once: the same mask, about 6x faster.
"""
from __future__ import annotations

import numpy as np


def in_codes(values, wanted) -> np.ndarray:
    """``np.isin(values, wanted)``, exactly, for non-negative integer codes (anything else,
    or codes far larger than the arrays, goes to ``np.isin``)."""
    values, wanted = np.asarray(values), np.asarray(wanted).ravel()
    if not (values.size and wanted.size and values.dtype.kind in "iu" and wanted.dtype.kind in "iu"):
        return np.isin(values, wanted)
    top = max(int(values.max()), int(wanted.max()))
    if min(int(values.min()), int(wanted.min())) < 0 or top > 4 * (values.size + wanted.size):
        return np.isin(values, wanted)
    table = np.zeros(top + 1, bool)
    table[wanted] = True
    return table[values]
