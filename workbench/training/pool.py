"""The state a tagging round is planned from: the tracker's sentences as arrays, nothing stored.

The Tracker keeps tags in its database; before each round it builds a `Pool` from them and
hands it to the planner. Rows are the sentences in the tracker's scope (its side), in a
fixed order the caller maps back to sentence ids.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from workbench.training.duplicates import representatives

YES, NO, UNKNOWN = 1, 0, -1


@dataclass(eq=False)
class Pool:
    """Sentences of one tracker's scope and what is known about them.

    embeddings: (n, d) float32, L2-normalised, so a dot product is a cosine similarity.
    labels: (n,) int8: 1 YES, 0 NO, -1 untagged or NOT SURE (NOT SURE is never a label).
    excluded: (n,) bool: the sentence was shown in some round (any answer, NOT SURE
        included) and must not be offered again. Defaults to "labels != -1".
    example_embeddings: (k, d) the tracker's example sentences.
    description_embedding: (d,) the tracker's description, or None.
    round_number: rounds already answered (0 before the first round).
    scores: (n,) decision values of the current model, or None before a model exists.
    threshold: the current model's decision threshold on `scores`.
    groups: (n,) non-negative int codes of the speaker turn (utterance) each row belongs
        to, or None. With groups the probability samplers state, for each row, the chance
        that its turn was reached, so that the honest estimate can speak about mentions (a
        turn is a mention when any of its sentences says the concept) rather than about
        single sentences.
    """

    embeddings: np.ndarray
    labels: np.ndarray
    example_embeddings: np.ndarray
    description_embedding: np.ndarray | None = None
    excluded: np.ndarray | None = None
    round_number: int = 0
    scores: np.ndarray | None = None
    threshold: float = 0.0
    groups: np.ndarray | None = None
    texts: np.ndarray | None = None
    # Weight of the description against the best-matching example in seed similarity.
    description_weight: float = field(default=0.3)
    # Each row's best similarity to the references of an earlier pool over the same
    # embeddings (the session's, kept between rounds): a round then multiplies only by the
    # YES tags that are new since. None: computed from scratch.
    similarity_memo: "SimilarityMemo | None" = None
    # The random share draws a text in proportion to its copies on offer, at most this many
    # (0: no cap). A cap keeps "Okay." said 2,000 times from taking a stratum's draws; every
    # copy's chance stays known (``sampling.draw_sizes``, ``sampling.per_copy``).
    copy_cap: int = 0
    # The learning (non-random) slots of a round skip a text said at least this many times
    # unless the model scores it at or above its threshold (0: off). Frequent short texts
    # ("Okay.", "Thank you.") then cost a learning slot only once the model detects them;
    # the random share still draws them, with its chances unchanged (``held_back``).
    frequent_copies: int = 0

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings, dtype=np.float32)
        if self.embeddings.ndim != 2:
            raise ValueError(f"embeddings must be 2-d (n, d), got shape {self.embeddings.shape}")
        n, d = self.embeddings.shape
        self.labels = np.asarray(self.labels, dtype=np.int8)
        if self.labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {self.labels.shape}")
        if not np.isin(self.labels, (YES, NO, UNKNOWN)).all():
            raise ValueError("labels must be 1 (YES), 0 (NO) or -1 (untagged / NOT SURE)")
        if self.excluded is None:
            self.excluded = self.labels != UNKNOWN
        else:
            self.excluded = np.asarray(self.excluded, dtype=bool) | (self.labels != UNKNOWN)
        if self.excluded.shape != (n,):
            raise ValueError(f"excluded must have shape ({n},), got {self.excluded.shape}")
        self.example_embeddings = np.asarray(self.example_embeddings, dtype=np.float32).reshape(-1, d)
        if self.description_embedding is not None:
            self.description_embedding = np.asarray(
                self.description_embedding, dtype=np.float32
            ).reshape(d)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float64)
            if self.scores.shape != (n,):
                raise ValueError(f"scores must have shape ({n},), got {self.scores.shape}")

        for name in ("copy_cap", "frequent_copies"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer (0: off), got {value!r}")
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if (self.groups.shape != (n,) or not np.issubdtype(self.groups.dtype, np.integer)
                    or (self.groups.size and self.groups.min() < 0)):
                raise ValueError(f"groups must be non-negative integer codes of shape ({n},), "
                                 f"got {self.groups.dtype} {self.groups.shape}")
        # Rows not offered because another row stands for their text (fixed for the pool's
        # life: a planner marking a representative taken leaves its copies out too).
        self.copies = np.zeros(n, bool)
        if self.texts is not None:
            self.texts = np.asarray(self.texts, dtype=np.int64)
            if self.texts.shape != (n,) or (self.texts.size and self.texts.min() < 0):
                raise ValueError(f"texts must be non-negative integer codes of shape ({n},), got {self.texts.shape}")
            self.copies = ~self.excluded & ~representatives(self.texts, ~self.excluded)

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def available(self) -> np.ndarray:
        """Boolean mask of rows that may still be offered: not excluded, and each text once."""
        return ~self.excluded & ~self.copies

    def held_back(self) -> np.ndarray:
        """(n,) bool: rows of texts said at least ``frequent_copies`` times that the current
        model scores below its threshold, which the learning slots do not offer (all False
        when the option is off, without texts or before a model)."""
        if not self.frequent_copies or self.texts is None or self.scores is None:
            return np.zeros(len(self), bool)
        frequent = np.bincount(self.texts)[self.texts] >= self.frequent_copies
        return frequent & (self.scores < self.threshold)

    @property
    def n_positive(self) -> int:
        return int((self.labels == YES).sum())

    @property
    def has_model(self) -> bool:
        return self.scores is not None

    @cached_property
    def seed_similarity(self) -> np.ndarray:
        """How much each row looks like the concept as the user described it.

        Max cosine to any example blended with cosine to the description: the max keeps a
        concept with several phrasings from being averaged away, and the description lets a
        tracker start from words alone when the examples are few or narrow.
        """
        sims = []
        if len(self.example_embeddings):
            sims.append(((1.0 - self.description_weight), self._max_sim(self.example_embeddings)))
        if self.description_embedding is not None:
            w = self.description_weight if sims else 1.0
            sims.append((w, self.embeddings @ self.description_embedding))
        if not sims:
            return np.zeros(len(self), dtype=np.float32)
        total = sum(w for w, _ in sims)
        return sum(w * s for w, s in sims) / total

    @cached_property
    def positive_similarity(self) -> np.ndarray:
        """Max cosine to anything known positive: the examples and the YES tags."""
        refs = positive_references(self.embeddings, self.labels, self.example_embeddings)
        if refs is None:
            return self.seed_similarity
        return self._max_sim(refs)

    def _max_sim(self, refs: np.ndarray) -> np.ndarray:
        if self.similarity_memo is None:
            return _max_sim(self.embeddings, refs)
        return self.similarity_memo.max_sim(self.embeddings, refs)

    def relevance(self) -> np.ndarray:
        """The best available ranking of rows by how likely they are positive."""
        return self.scores if self.scores is not None else self.seed_similarity


def positive_references(embeddings: np.ndarray, labels: np.ndarray, example_embeddings: np.ndarray) -> np.ndarray | None:
    """What ``Pool.positive_similarity`` measures against: the examples, then the YES rows in row
    order (None when there are neither)."""
    refs = [example_embeddings, embeddings[labels == YES]]
    return np.concatenate([r for r in refs if len(r)]) if any(len(r) for r in refs) else None


class SimilarityMemo:
    """Each row's max cosine to a set of reference vectors, kept so that a bigger set costs
    only its new vectors.

    A round's similarity to the examples and YES tags multiplied every row by every
    reference (a third of a round at a million rows); tags only add up between rounds, so the
    max over the last set is kept, and a superset multiplies only the references not in it.
    References are keyed by their content (the vector's bytes), as the session keys its
    cache by the tags' content: a YES changed to NO or removed leaves a set that is no
    superset, and the max is computed again from scratch. The values equal the full
    computation's within float rounding (the same dot products, taken in smaller products).
    """

    def __init__(self) -> None:
        self._embeddings: np.ndarray | None = None
        self._keys: frozenset[bytes] = frozenset()
        self._max: np.ndarray | None = None
        self.last_multiplied = 0  # references multiplied by the last call (what the memo spared)
        # One computation at a time (a round planned ahead on a worker, a verification round
        # planned meanwhile): the second waits, then finds its references known.
        self._lock = threading.Lock()

    def max_sim(self, embeddings: np.ndarray, refs: np.ndarray) -> np.ndarray:
        """``_max_sim(embeddings, refs)``, from the last call's result where it can."""
        with self._lock:
            return self._max_sim_locked(embeddings, refs)

    def _max_sim_locked(self, embeddings: np.ndarray, refs: np.ndarray) -> np.ndarray:
        refs = np.ascontiguousarray(refs, dtype=np.float32)
        keys = [r.tobytes() for r in refs]
        wanted = frozenset(keys)
        if self._embeddings is embeddings and self._max is not None and self._keys <= wanted:
            new = [i for i, k in enumerate(keys) if k not in self._keys and keys.index(k) == i]
            best = self._max if not new else _raise_max(self._max, embeddings, refs[new])
        else:
            new = list(range(len(refs)))
            best = _max_sim(embeddings, refs)
        # Shared between pools (and kept here): read-only, and replaced rather than updated.
        best.flags.writeable = False
        self._embeddings, self._keys, self._max, self.last_multiplied = embeddings, wanted, best, len(new)
        return best


# Up to this many new references, matrix-vector products by slab (below); more, one matrix
# product. Measured on a million 384-d rows (CPU s, 2 cores under load): a matrix product with
# few columns packs its operands and costs 0.43-0.60 s for 5 to 6 references, 0.49-0.61 for
# 14, whatever the count; the slabs cost 0.30-0.36 for 6 and 0.58-0.71 for 14.
_ONE_BY_ONE = 10
# Rows per slab of those products: every new reference is multiplied by a slab while it is
# in cache, so the rows are read from memory once, not once per reference (1.5 GB at a
# million rows). 1,024 rows of 384 floats (1.5 MB) stay in cache and below the size at which
# the BLAS splits a product between threads, which on a busy machine costs more than it
# saves: measured here, 0.17 against 0.24-0.28 CPU s for two references, 0.23-0.26 against
# 0.49-0.51 for four; the values are bit for bit those of whole-column products.
_SLAB = 1024


def _raise_max(best: np.ndarray, x: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """A copy of ``best`` raised to each row's similarity to ``refs`` where higher."""
    if len(refs) > _ONE_BY_ONE:
        return np.maximum(best, _max_sim(x, refs))
    out = best.copy()
    sims = np.empty(_SLAB, dtype=np.float32)
    for s in range(0, x.shape[0], _SLAB):
        slab, top = x[s : s + _SLAB], out[s : s + _SLAB]
        for ref in refs:
            np.dot(slab, ref, out=sims[: len(top)])
            np.maximum(top, sims[: len(top)], out=top)
    return out


def _max_sim(x: np.ndarray, refs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    # Chunked so 100k x k similarities never materialise more than a slab at a time.
    out = np.empty(x.shape[0], dtype=np.float32)
    for s in range(0, x.shape[0], chunk):
        out[s : s + chunk] = (x[s : s + chunk] @ refs.T).max(axis=1)
    return out
