"""The tags of one session's rows: as recorded, answered for every copy of their text, and as
the model is fitted on them.

``ActiveLearningSession`` (workbench/training/session.py) is a ``TaggedRows``: this part owns the
tags and the hashes every cached result is kept under; the session makes rounds, the model and
the estimate from them. A tag is recorded on the row shown (``_own``) and answers every copy of
its text (``answer_copies``); with ``keep_model_while_verifying`` the verification rounds after
the last learning round are left out of what the model is fitted on (``_fitted``).
"""
from __future__ import annotations

import hashlib
import json
import threading

import numpy as np

from workbench.training.duplicates import answer_copies
from workbench.training.pool import NO, UNKNOWN, YES
from workbench.training.verification import held_rounds

ROUND_KINDS = ("learning", "verification")


class TaggedRows:
    """The tags of ``n`` rows whose texts are ``duplicates`` (integer codes; None: every row its
    own text). The subclass sets ``keep_model_while_verifying`` and ``_settings_key`` (a digest
    of its settings, part of every key) as parameters of its own."""

    keep_model_while_verifying: bool = False
    _settings_key: str = ""

    def __init__(self, n: int, duplicates: np.ndarray | None = None) -> None:
        self._texts = np.arange(n) if duplicates is None else np.asarray(duplicates, np.int64)
        # The tags as recorded, on the rows shown; _answer_copies extends them to every copy.
        self._own = (np.full(n, UNKNOWN, np.int8), np.zeros(n, bool), np.full(n, -1, np.int64), np.full(n, np.nan))
        self._verification_rounds: frozenset[int] = frozenset()
        # Taken while a round is planned ahead from the tags as they are (the session's
        # plan_ahead): a tag waits for it.
        self._planning = threading.Lock()
        self._answer_copies()

    # ------------------------------------------------------------------ the tags
    # Each row's tag is its text's: a copy of a tagged text reads as tagged.
    labels = property(lambda self: read_only(self._labels),
                      doc="(n,) 1 YES, 0 NO, -1 untagged or NOT SURE (NOT SURE is never a label).")
    shown = property(lambda self: read_only(self._shown), doc="(n,) tagged with any answer, NOT SURE included.")
    tag_round = property(lambda self: read_only(self._tag_round), doc="(n,) the round of each tag, -1 if none.")
    inclusion_prob = property(lambda self: read_only(self._inclusion_prob),
                              doc="(n,) the chance a random sampler had of drawing the tag's text; NaN otherwise.")

    def tag(self, rows, answers, round_number: int, inclusion_prob=None, *, kind: str = "learning") -> None:
        """Record answers (1 YES, 0 NO, -1 NOT SURE) to rows shown in round ``round_number``;
        ``inclusion_prob``: the round's PlannedRound.inclusion_prob for them (NaN: not drawn
        at random); ``kind``: the round's (``PlannedRound.kind``), "verification" for a round
        of ``plan_verification``. Answering a row again changes its answer."""
        if kind not in ROUND_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ROUND_KINDS)}, got {kind!r}")
        rows = np.asarray(rows, dtype=np.int64)
        answers = np.asarray(answers).astype(np.int8)
        if not np.isin(answers, (YES, NO, UNKNOWN)).all():
            raise ValueError("answers must be 1 (YES), 0 (NO) or -1 (NOT SURE)")
        with self._planning:  # not while a round is planned ahead from the tags as they are
            self._tag(rows, answers, round_number, inclusion_prob, kind)

    def _tag(self, rows, answers, round_number, inclusion_prob, kind) -> None:
        labels, shown, tag_round, pi = (a.copy() for a in self._own)
        labels[rows] = answers
        shown[rows] = True
        tag_round[rows] = round_number
        pi[rows] = np.nan if inclusion_prob is None else inclusion_prob
        self._own = (labels, shown, tag_round, pi)
        rounds = self._verification_rounds
        self._verification_rounds = rounds | {round_number} if kind == "verification" else rounds - {round_number}
        self._answer_copies()

    def set_tags(self, labels, shown, tag_round, inclusion_prob, verification_rounds=()) -> None:
        """Replace every tag at once (the Tracker: its stored tags, in row order);
        ``verification_rounds``: the numbers of the rounds that were verification rounds."""
        n = len(self._labels)
        arrays = (np.asarray(labels, np.int8), np.asarray(shown, bool), np.asarray(tag_round, np.int64),
                  np.asarray(inclusion_prob, np.float64))
        if any(a.shape != (n,) for a in arrays):
            raise ValueError(f"every tag array must have shape ({n},)")
        rounds = frozenset(int(r) for r in verification_rounds)
        if rounds == self._verification_rounds and all(
                np.array_equal(a, own, equal_nan=own.dtype.kind == "f") for a, own in zip(arrays, self._own)):
            return  # the same tags (the Tracker sets them on every call): keep what they made
        with self._planning:  # not while a round is planned ahead from the tags as they were
            self._own = tuple(a.copy() for a in arrays)
            self._verification_rounds = rounds
            self._answer_copies()

    def _answer_copies(self) -> None:
        """The one place where a tag answers every copy of its text (``answer_copies``):
        labels, shown, tag_round and inclusion_prob as the rounds and the estimate read them;
        ``_source`` marks the row whose tag stands for each shown text. ``_fitted``: the
        answers and shown rows the model is fitted on, the held verification tags left out."""
        (self._labels, self._shown, self._tag_round, self._inclusion_prob,
         self._source) = answer_copies(self._texts, *self._own)
        held = self.held_rounds
        self._held = held = (np.isin(self._own[2], sorted(held)) & self._own[1]) if held else np.zeros_like(self._shown)
        if held.any():
            own = [a.copy() for a in self._own]
            own[0][held], own[1][held], own[2][held], own[3][held] = UNKNOWN, False, -1, np.nan
            labels, shown, _, _, source = answer_copies(self._texts, *own)
            self._fitted = (np.where(source, labels, UNKNOWN).astype(np.int8), shown, tuple(own))
        else:
            self._fitted = (np.where(self._source, self._labels, UNKNOWN).astype(np.int8), self._shown, self._own)
        self._key = self._fit_key = None

    @property
    def held_rounds(self) -> frozenset[int]:
        """The verification rounds the model is held over (``verification.held_rounds``;
        none without ``keep_model_while_verifying``): the estimate reads their tags, the fit not."""
        if not self.keep_model_while_verifying:
            return frozenset()
        return held_rounds(self._own[2][self._own[1]], self._verification_rounds)

    verification_rounds = property(lambda self: self._verification_rounds, doc="The verification rounds' numbers.")

    @property
    def key(self) -> str:
        """A hash of the tags' content and the session's settings: what every cached result
        depends on. Two reads with the same answers share it, a changed answer changes it."""
        if self._key is None:
            # The tags as recorded determine their copies' too.
            self._key = digest(self._settings_key.encode(), *_tag_parts(self._own),
                                json.dumps(sorted(self._verification_rounds)).encode())
        return self._key

    @property
    def fit_key(self) -> str:
        """A hash of the tags the model is fitted on (the held verification tags left out)
        and the settings: what the model, its scores and the tags' held-out scores depend on.
        A verification round leaves it, and so the model, unchanged."""
        if self._fit_key is None:
            self._fit_key = digest(self._settings_key.encode(), *_tag_parts(self._fitted[2]))
        return self._fit_key

    @property
    def n_yes(self) -> int:
        """YES answers, one per text (its copies are not counted again)."""
        return int((self._labels[self._source] == YES).sum())

    @property
    def n_no(self) -> int:
        """NO answers, one per text."""
        return int((self._labels[self._source] == NO).sum())

    @property
    def answers(self) -> np.ndarray:
        """(n,) the user's answers once per text: on the row that stands for it, -1 on its
        copies (and untagged or NOT SURE). What the model learns from, and what figures
        "on your tags" count."""
        return read_only(np.where(self._source, self._labels, UNKNOWN).astype(np.int8))

    @property
    def recorded_tags(self) -> tuple[np.ndarray, ...]:
        """(labels, shown, tag_round, inclusion_prob) as recorded, on the rows shown only:
        what ``set_tags`` takes to give another session the same tags."""
        return tuple(read_only(a) for a in self._own)


def _tag_parts(own: tuple[np.ndarray, ...]) -> list[bytes]:
    """The tags (labels, shown, tag_round, inclusion_prob as recorded) as the bytes a key hashes:
    the rows holding anything but an untagged row's values, and their values. The same content
    gives the same bytes, as the whole arrays' bytes did; hashing a million rows' 18 MB took
    twice 0.015 CPU s a round, for a few hundred tags."""
    labels, shown, tag_round, pi = own
    rows = np.flatnonzero((labels != UNKNOWN) | shown | (tag_round != -1) | ~np.isnan(pi))
    return [len(labels).to_bytes(8, "little"), rows.astype(np.int64).tobytes(),
            *(np.ascontiguousarray(a[rows]).tobytes() for a in own)]


def digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view
