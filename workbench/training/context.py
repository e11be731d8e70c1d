"""What was said just before: a sentence's features joined with the previous turn's.

Dialogue acts such as rejecting, committing or accepting answer what was said before ("no,
that won't work" after a proposal), and in transcribed speech the sentence alone is often a
bare "no" or "sure". ``with_previous_turn`` gives each sentence its embedding plus ``weight``
times the embedding of the last sentence of the turn before it in the same call (whoever
said it), renormalised, so the features stay unit vectors and a dot product stays a cosine.
A turn that opens its call has nothing before it and keeps its own embedding.

An option measured on the quality benchmark (benchmarks/tracker_quality.py --previous-turn
W; benchmarks/tracker_quality_history.md, session 11); the product scores sentences alone.
"""
from __future__ import annotations

import numpy as np


def previous_turn_rows(call_ids, turns) -> np.ndarray:
    """(n,) for each row, the row of the last sentence of the previous turn in its call, or -1.

    call_ids: (n,) each row's call; turns: (n,) each row's turn, increasing in the order the
    turns were said within a call. Rows of one turn are taken in their given order (the last
    one is the turn's last sentence).
    """
    call_ids, turns = np.asarray(call_ids), np.asarray(turns)
    if call_ids.shape != turns.shape or call_ids.ndim != 1:
        raise ValueError(f"call_ids and turns must be 1-d of one length, got {call_ids.shape} and {turns.shape}")
    n = len(turns)
    order = np.lexsort((np.arange(n), turns, call_ids))
    c, t = call_ids[order], turns[order]
    new_turn = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])]
    start = np.maximum.accumulate(np.where(new_turn, np.arange(n), 0))
    before = start - 1  # sorted position of the previous turn's last sentence
    ok = (before >= 0) & (c[np.maximum(before, 0)] == c)
    out = np.full(n, -1, np.int64)
    out[order[ok]] = order[before[ok]]
    return out


def with_previous_turn(embeddings, call_ids, turns, weight: float) -> np.ndarray:
    """(n, d) float32: each row's embedding plus ``weight`` x its previous turn's last
    sentence (``previous_turn_rows``), renormalised to unit length."""
    X = np.asarray(embeddings, dtype=np.float32)
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight}")
    prev = previous_turn_rows(call_ids, turns)
    if prev.shape != (len(X),):
        raise ValueError(f"call_ids and turns must give each of the {len(X)} rows, got {prev.shape}")
    out = X.copy()
    has = prev >= 0
    out[has] += np.float32(weight) * X[prev[has]]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)
