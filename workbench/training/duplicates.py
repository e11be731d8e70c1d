"""Copies of one text in a tracker's scope: one candidate, answered once.

Short sentences repeat across calls ("yeah", "Okay.", "thank you"); the demo's scope holds
24,732 sentences but only some hundreds of distinct texts. Each text is one candidate: the
planner offers one row for it (``representatives``), a tag on that row answers every copy
(``answer_copies``), the classifier learns it once, and the probability samplers draw texts,
so a drawn text reveals all its copies at once (the honest estimate treats it as one cluster).
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np

_SPACES = re.compile(r"\s+")


class _PunctuationToSpace(dict):
    """A ``str.translate`` table mapping every Unicode punctuation character (categories Pc Pd
    Pe Pf Pi Po Ps) to a space and any other to itself, filled as characters are met."""

    def __missing__(self, ordinal: int):
        value = " " if unicodedata.category(chr(ordinal)).startswith("P") else ordinal
        self[ordinal] = value
        return value


_PUNCTUATION_TO_SPACE = _PunctuationToSpace()


def text_key(text: str) -> str:
    """The form in which two sentences count as the same text.

    Folds compatibility forms (Unicode NFKC: full-width letters, ligatures), case
    (``str.casefold``), punctuation (every Unicode punctuation character becomes a space:
    "Okay." "okay!" "o-kay" are "okay", "okay", "o kay") and spaces (runs of white space become
    one, the ends are stripped). Keeps letters, digits and symbols: "$5" and "5" differ.
    """
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_PUNCTUATION_TO_SPACE)
    return _SPACES.sub(" ", folded).strip()


def text_codes(texts) -> np.ndarray:
    """(n,) int64 code of each text: equal exactly when their ``text_key`` is, numbered
    0, 1, ... in the keys' sorted order."""
    key_of: dict[str, str] = {}
    keys = [key_of[t] if t in key_of else key_of.setdefault(t, text_key(t)) for t in map(str, texts)]
    code_of = {k: i for i, k in enumerate(sorted(set(key_of.values())))}
    return np.fromiter((code_of[k] for k in keys), np.int64, len(keys))


def representatives(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n,) bool: the first row of each text code among the rows of ``mask``, the one row
    that stands for its text when the text is offered."""
    rows = np.flatnonzero(mask)
    of = np.asarray(codes)[rows]
    if of.size and of.min() < 0:  # not codes 0, 1, ...: the sort
        out = np.zeros(len(codes), bool)
        out[rows[np.unique(of, return_index=True)[1]]] = True
        return out
    # The smallest row per code: what np.unique(return_index=True) finds, without its stable
    # sort (a sixth of the time on a million rows, planned every round).
    first = np.full(int(of.max()) + 1 if of.size else 0, len(codes), np.int64)
    np.minimum.at(first, of, rows)
    out = np.zeros(len(codes), bool)
    out[first[first < len(codes)]] = True
    return out


def answer_copies(codes: np.ndarray, labels: np.ndarray, shown: np.ndarray, tag_round: np.ndarray,
                  inclusion_prob: np.ndarray) -> tuple[np.ndarray, ...]:
    """The tags as recorded (on the sentences shown) extended to every copy of their text.

    Returns (labels, shown, tag_round, inclusion_prob, source): each row of a shown text
    takes its text's tag, from ``source``, the one shown row per text that answers for it:
    the latest tagged YES/NO row, else the latest NOT SURE one (a NOT SURE makes the copies
    shown, so never offered, and never a label). A copy gets the source's round and
    inclusion probability, since it was revealed by the same draw. Rows shown themselves
    keep their own answers (older tags may disagree between copies).
    """
    codes = np.asarray(codes)
    shown_rows = np.flatnonzero(shown)
    # Order shown rows so that each code's source comes last: NOT SURE before YES/NO, then by round.
    order = np.lexsort((tag_round[shown_rows], labels[shown_rows] >= 0, codes[shown_rows]))
    ranked = shown_rows[order]
    last = np.r_[codes[ranked][1:] != codes[ranked][:-1], True] if ranked.size else np.zeros(0, bool)
    source = np.zeros(len(codes), bool)
    source[ranked[last]] = True
    source_of_code = np.full(int(codes.max()) + 1 if codes.size else 0, -1, np.int64)
    source_of_code[codes[ranked[last]]] = ranked[last]
    src = source_of_code[codes]
    copy = (src >= 0) & ~np.asarray(shown, bool)
    out = [np.array(labels, copy=True), np.array(shown, copy=True), np.array(tag_round, copy=True),
           np.array(inclusion_prob, dtype=np.float64, copy=True)]
    for a in out:
        a[copy] = a[src[copy]]
    return (*out, source)
