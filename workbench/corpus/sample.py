"""The tagging sample: the calls a workspace embeds and tags on, drawn stratified over month and team.

A tracker is taught on a sample of the calls (Gong-like: 1,500 by default) and then applied to
every call (activation embeds and scores the rest). The sample is opt-in
(``ws.import_calls(..., sample=1500)``, ``workbench import --sample``); a workspace without one
tags on every call, as before.

How it is drawn (``draw_sample``):

- strata are the calls' (month of ``started_at``, ``team``) cells;
- each stratum gets a share of the sample proportional to its calls (Hamilton's largest
  remainder), and at least one call where the sample is at least as large as the number of
  strata, so no team's month is left out;
- within a stratum, the calls with the smallest keys are taken, a call's key being a keyed hash
  (BLAKE2b, keyed by the seed) of its call_id.

Why a keyed hash rather than ``numpy.random.Generator.permutation`` or scikit-learn's
``train_test_split(stratify=...)``: a call's key depends only on the seed and its own id, not
on the row order or on which other calls were imported, so the same seed and corpus always give
the same sample, and a larger sample (``ws.set_tagging_sample(3000)``) keeps nearly every call of
the smaller one (and so the tags given on them). ``train_test_split`` also refuses strata of
one call and does not guarantee a call per stratum.

The sample is recorded in the workspace's store (``SampleRecord``): its size, seed and call ids.
Calls imported later are not added, except to top up a sample that holds fewer calls than its
size (a corpus that had no more calls than that): tags on the sample's calls must not drop out
of the tracker's scope because calls came in.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from workbench.core.errors import ValidationError
from workbench.storage.sample import SampleStore
from workbench.storage.store import loads

DEFAULT_SAMPLE = 1_500  # calls: what Gong-like tools tag on before applying a tracker everywhere
DEFAULT_SEED = 0


@dataclass(frozen=True, repr=False)
class TaggingSample:
    """The recorded sample: ``size`` asked for, ``seed``, the sampled ``call_ids`` and how many calls
    the corpus held (``corpus_calls``, counted now)."""

    size: int
    seed: int
    call_ids: tuple[str, ...]
    corpus_calls: int

    @property
    def calls(self) -> int:
        return len(self.call_ids)

    @property
    def is_everything(self) -> bool:
        return self.calls >= self.corpus_calls

    def describe(self) -> str:
        if self.is_everything:
            return (f"The tagging sample holds every call ({self.corpus_calls:,}; sample size {self.size:,}, "
                    f"seed {self.seed}).")
        return (f"The tagging sample: {self.calls:,} of {self.corpus_calls:,} calls (stratified by month and team, "
                f"seed {self.seed}); trackers are tagged and estimated on it, and activation applies them to "
                "every call.")

    def __str__(self) -> str:
        return self.describe()

    __repr__ = __str__  # a notebook shows the sentence, not 1,500 call ids


def check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValidationError("sample", f"{size!r} is not a number of calls",
                              f"Use a whole number of calls of at least 1 (Gong-like: {DEFAULT_SAMPLE:,}).")
    return int(size)


def call_keys(call_ids: list[str], seed: int) -> np.ndarray:
    """Each call's key in [0, 2**64): the BLAKE2b hash of its id, keyed by the seed."""
    key = int(seed).to_bytes(8, "little", signed=True)
    return np.array([int.from_bytes(hashlib.blake2b(c.encode(), digest_size=8, key=key).digest(), "little")
                     for c in call_ids], dtype=np.uint64)


def allocate(sizes: np.ndarray, n: int, tie_keys: np.ndarray) -> np.ndarray:
    """Calls to take from each stratum: proportional to ``sizes`` (largest remainder), at least one
    each when ``n`` allows, never more than a stratum holds; sums to ``min(n, sizes.sum())``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    n = min(n, total)
    quota = n * sizes / total
    take = np.floor(quota).astype(np.int64)
    if n >= len(sizes):
        take = np.maximum(take, 1)
    # Give or take back one call at a time by the remainder (ties by the strata's keys, so that
    # the draw depends on the seed and the corpus only).
    remainder = quota - take
    while take.sum() < n:
        room = np.where(take < sizes, remainder, -np.inf)
        i = int(np.lexsort((tie_keys, -room))[0])
        take[i] += 1
        remainder[i] -= 1
    while take.sum() > n:
        room = np.where(take > 1, remainder, np.inf)
        i = int(np.lexsort((tie_keys, room))[0])
        take[i] -= 1
        remainder[i] += 1
    return take


def draw_sample(calls: pl.DataFrame, size: int, seed: int = DEFAULT_SEED) -> list[str]:
    """The call ids of a sample of ``size`` calls, stratified over month and team (see the module);
    every call when the corpus has no more than ``size``. In the calls' table order."""
    size = check_size(size)
    if calls.height <= size:
        return calls["call_id"].to_list()
    frame = calls.select(
        "call_id",
        pl.col("started_at").dt.strftime("%Y-%m").fill_null("").alias("_month"),
        pl.col("team").cast(pl.String).fill_null("").alias("_team"),
    ).with_columns(pl.Series("_key", call_keys(calls["call_id"].to_list(), seed)))
    strata = (frame.group_by("_month", "_team").agg(pl.len().alias("_n"), pl.col("_key").min().alias("_first"))
              .sort("_month", "_team"))
    take = allocate(strata["_n"].to_numpy(), size, strata["_first"].to_numpy())
    quota = strata.select("_month", "_team", pl.Series("_take", take))
    chosen = (frame.join(quota, on=["_month", "_team"])
              .filter(pl.col("_key").rank("ordinal").over("_month", "_team") <= pl.col("_take")))
    keep = set(chosen["call_id"].to_list())
    return [c for c in calls["call_id"].to_list() if c in keep]


def top_up(calls: pl.DataFrame, current: list[str], size: int, seed: int) -> list[str]:
    """``current`` with calls added (a stratified draw among the others) until it holds ``size``
    calls or every call: what an import does to a sample smaller than its size."""
    if len(current) >= size:
        return list(current)
    held = set(current)
    others = calls.filter(~pl.col("call_id").is_in(pl.Series(list(held), dtype=pl.String).implode()))
    added = set(draw_sample(others, size - len(current), seed)) if others.height else set()
    return [c for c in calls["call_id"].to_list() if c in held or c in added]


def recorded_sample(store, calls: pl.DataFrame) -> TaggingSample | None:
    """The workspace's sample as recorded (its calls still in the corpus), or None without one."""
    return _sample_of(SampleStore(store).get(), calls)


def _sample_of(row: dict | None, calls: pl.DataFrame) -> TaggingSample | None:
    if row is None:
        return None
    present = set(calls["call_id"].to_list())
    ids = tuple(c for c in row["call_ids"] if c in present)
    return TaggingSample(size=int(row["size"]), seed=int(row["seed"]), call_ids=ids, corpus_calls=calls.height)


class KeptSample:
    """The recorded sample, kept per (tables generation, stored row): read again only when the
    calls change (an import, a refresh) or the stored sample does (a redraw, a top-up, a removal,
    by this process or another), not on each ``ws.embeddings()``, which would otherwise build a
    set of every call id each time. Checking the stored row is one small SQLite read."""

    def __init__(self) -> None:
        self._kept: tuple[tuple, TaggingSample | None] | None = None

    def get(self, store, calls: pl.DataFrame, generation: int) -> TaggingSample | None:
        raw = SampleStore(store).raw()
        key = (generation, raw)
        if self._kept is None or self._kept[0] != key:
            self._kept = (key, _sample_of(loads(raw), calls))
        return self._kept[1]


class TaggingSampleMixin:
    """The Workspace's tagging-sample methods (workbench.workspace): they need its ``store``,
    ``calls``, ``generation`` and a ``_kept_sample`` (KeptSample)."""

    store: Any
    calls: pl.DataFrame
    generation: int
    _kept_sample: KeptSample

    def tagging_sample(self) -> TaggingSample | None:
        """The calls trackers are tagged on (workbench.corpus.sample), or None: every call."""
        return self._kept_sample.get(self.store, self.calls, self.generation)

    def set_tagging_sample(self, size: int | None, *, seed: int | None = None) -> TaggingSample | None:
        """Draw (again) the tagging sample of ``size`` calls, stratified over month and team (``seed``:
        the recorded one, else 0); ``None`` removes it. Tags on calls that leave it count again on return."""
        return record_sample(self.store, self.calls, size, seed)

    @property
    def tagging_calls(self) -> pl.DataFrame:
        """The tagging sample's calls (every call without one): what rounds and estimates draw on."""
        return sample_calls(self.calls, self.tagging_sample())


def record_sample(store, calls: pl.DataFrame, size: int | None, seed: int | None = None) -> TaggingSample | None:
    """Draw the sample of ``size`` calls (with ``seed``, else the recorded one, else 0) and record
    it; ``size=None`` removes the recorded sample (trackers tag on every call)."""
    if size is None:
        SampleStore(store).clear()
        return None
    size = check_size(size)
    old = SampleStore(store).get()
    seed = int(seed) if seed is not None else int(old["seed"]) if old else DEFAULT_SEED
    ids = draw_sample(calls, size, seed)
    SampleStore(store).save(size=size, seed=seed, call_ids=ids)
    return TaggingSample(size=size, seed=seed, call_ids=tuple(ids), corpus_calls=calls.height)


def sample_size(sample: int | bool | None) -> int | None:
    """The size an import's ``sample`` argument asks for: None (keep the recorded sample), 1,500
    for ``True``, else the number given, checked."""
    if sample is None or sample is False:
        return None
    return DEFAULT_SAMPLE if sample is True else check_size(sample)


def sample_after_import(store, calls: pl.DataFrame, size: int | None, *, imported: bool) -> None:
    """What an import does to the sample: with a ``size``, draw it anew over ``calls``, the whole
    corpus; otherwise new calls (``imported``) top up a recorded sample that holds fewer calls
    than its size (a corpus that had no more calls than that)."""
    if size is not None:
        record_sample(store, calls, size)
        return
    old = SampleStore(store).get() if imported else None
    if old is None or len(old["call_ids"]) >= int(old["size"]):
        return
    ids = top_up(calls, list(old["call_ids"]), int(old["size"]), int(old["seed"]))
    if len(ids) != len(old["call_ids"]):
        SampleStore(store).save(size=int(old["size"]), seed=int(old["seed"]), call_ids=ids)


def sample_calls(calls: pl.DataFrame, sample: TaggingSample | None) -> pl.DataFrame:
    """The calls of ``sample`` (every call without one, or when it holds them all)."""
    if sample is None or sample.is_everything:
        return calls
    return calls.filter(pl.col("call_id").is_in(pl.Series(sample.call_ids, dtype=pl.String).implode()))


def sample_sentences(sentences: pl.DataFrame, sample: TaggingSample | None,
                     more_calls: list[str] | None = None) -> pl.DataFrame:
    """The sentences of the sample's calls and of ``more_calls``, in table order (every sentence
    without a sample, or when it holds every call)."""
    if sample is None or sample.is_everything:
        return sentences
    keep = pl.Series([*sample.call_ids, *(more_calls or [])], dtype=pl.String).implode()
    return sentences.filter(pl.col("call_id").is_in(keep))
