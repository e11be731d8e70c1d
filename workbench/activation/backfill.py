"""Activation: a tracker's published version applied to the last N months of calls.

``t.activate(backfill_months=12)`` scores every sentence in the tracker's scope of the calls of
the last N months with the *published* version (the MLflow alias ``published``), stores the
detections (workbench.activation.detections), and marks the tracker active, so that every import
scores the new calls too (workbench.activation.new_calls). Training or editing the tracker
afterwards changes nothing live until ``t.publish()`` (workbench.activation.publishing).
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from workbench.activation.context import LiveContext
from workbench.activation.scoring import KEYWORD_VERSION, VectorLookup, score_scope, scope_rows
from workbench.core.dates import utc_datetime
from workbench.core.errors import ValidationError
from workbench.core.settings import PUBLISHED_ALIAS
from workbench.trackers.records import TrackerRecord

MAX_BACKFILL_MONTHS = 12

TAG_PUBLISHED_DEFINITION = "workbench.published_definition"
# Until a workspace has measured its own rate: the rate benchmarks/backfill.py measured on a
# 2-core machine, rounded down, and the time to load a version's model from MLflow.
DEFAULT_RATE = 400_000  # sentences per second
MODEL_LOAD_S = 2.0
# Embedding, for what a backfill must embed first (a workspace that embedded only its tagging
# sample): the rate measured for issue 16 on 2 cores (540 sentences/s), rounded down.
EMBED_RATE = 500
# What one Spark executor core embeds (``local[1]``, end to end, benchmarks/results/spark_embedding.md):
# the plan states the executors' share of the work in core-hours, as their number is the cluster's.
SPARK_EMBED_RATE_PER_CORE = 147  # sentences per second per core
ENGINES = ("local", "spark")


def months_before(when: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the last day when it has none)."""
    y, m = divmod(when.year * 12 + when.month - 1 - months, 12)
    day = min(when.day, calendar.monthrange(y, m + 1)[1])
    return when.replace(year=y, month=m + 1, day=day)


def as_of_time(as_of: Any) -> dt.datetime:
    """"Now", or the end of the day given (a date means "through the end of that day")."""
    return dt.datetime.now(dt.timezone.utc) if as_of is None else utc_datetime(as_of, "as_of", end=True)


def check_months(backfill_months: Any) -> int:
    if isinstance(backfill_months, bool) or not isinstance(backfill_months, int) or not (
            0 <= backfill_months <= MAX_BACKFILL_MONTHS):
        raise ValidationError("backfill_months", f"{backfill_months!r} is not a whole number of months from 0 to "
                              f"{MAX_BACKFILL_MONTHS}", "Use 0 for upcoming calls only, up to 12 for a year of history.")
    return backfill_months


@dataclass
class BackfillPlan:
    """What a backfill covers and how long it should take; shown before it runs."""

    tracker: str
    version: int | None
    months: int
    window_start: dt.datetime
    calls: int
    sentences: int
    rate: float  # sentences per second, measured on this workspace when it has been
    rate_measured: bool
    unembedded: int = 0  # in-scope sentences with no embedding yet (outside a tagging sample): embedded first
    engine: str = "local"
    executor_texts: int = 0  # engine "spark": sentences its executors embed (those with no vector, or all)
    # The scope rows the plan looked up and those of them with no vector: the backfill that
    # follows embeds these without looking them up again (workbench.activation.scoring).
    looked_up: VectorLookup | None = field(default=None, repr=False, compare=False)

    @property
    def embedded_here(self) -> int:
        """Sentences this machine embeds before scoring: none on Spark, whose executors embed them."""
        return 0 if self.engine == "spark" else self.unembedded

    @property
    def estimated_seconds(self) -> float:
        """Loading the model, scoring, and embedding here what has no vector; a Spark backfill's
        embedding is on the executors, counted apart (``executor_core_hours``)."""
        if not self.sentences:
            return 0.0
        return MODEL_LOAD_S + self.sentences / self.rate + self.embedded_here / EMBED_RATE

    @property
    def executor_core_hours(self) -> float:
        return self.executor_texts / SPARK_EMBED_RATE_PER_CORE / 3600

    def __str__(self) -> str:
        version = f"version {self.version}" if self.version is not None else "its latest version"
        if self.months == 0:
            return (f"Activating '{self.tracker}' ({version}) for upcoming calls only: no history is scored; "
                    "every call imported from now on is.")
        how = "measured on this workspace" if self.rate_measured else "benchmark rate"
        return (f"Backfilling '{self.tracker}' ({version}) over the last {self.months} month"
                f"{'s' if self.months != 1 else ''} (calls since {self.window_start:%Y-%m-%d}): "
                f"{self.calls:,} calls, {self.sentences:,} sentences in scope; "
                f"about {_duration(self.estimated_seconds)} ({self.rate:,.0f} sentences/s, {how})."
                + self._embedding_note())

    def _embedding_note(self) -> str:
        if self.engine == "spark" and self.executor_texts:
            return (f" {self.executor_texts:,} of the sentences go to the Spark executors as texts and are embedded "
                    f"there, not here: about {self.executor_core_hours:,.2g} core-hours at "
                    f"{SPARK_EMBED_RATE_PER_CORE} sentences/s per executor core (benchmarks/results/spark_embedding.md), "
                    "divided among the executors' cores and not in the estimate above.")
        if self.embedded_here:
            return (f" {self.unembedded:,} of the sentences have no embedding yet (outside the tagging sample): "
                    f"they are embedded first, at about {EMBED_RATE} sentences/s.")
        return ""


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _record_rate(ctx: LiveContext, sentences: int, seconds: float) -> None:
    # Tiny runs measure overhead, not throughput: only runs of a real size teach us the rate.
    if sentences < 50_000 or seconds <= 0:
        return
    rate, old = sentences / seconds, ctx.activations.rate()
    ctx.activations.save_rate(rate if old is None else 0.5 * old + 0.5 * rate)


def backfill_plan(ctx: LiveContext, record: TrackerRecord, backfill_months: int = 12, *,
                  as_of: Any = None, engine: str = "local", from_texts: bool = False) -> BackfillPlan:
    """How many calls and sentences a backfill of ``backfill_months`` covers, and how long it
    takes with ``engine`` (``from_texts``: a Spark backfill whose executors embed every sentence)."""
    check_engine(record, engine, from_texts)
    months = check_months(backfill_months)
    start = months_before(as_of_time(as_of), months)
    if months == 0:
        scope = pl.DataFrame({"call_id": []}, schema={"call_id": pl.String})
    else:
        scope = scope_rows(ctx, record.snapshot(), window_start=start)
    rate = ctx.activations.rate()
    version = KEYWORD_VERSION if record.kind == "keyword" else published_or_latest(ctx, record, required=False)
    looked_up = _lookup(ctx, scope) if record.kind == "smart" else None
    unembedded = 0 if looked_up is None else len(looked_up.missing)
    texts = 0
    if engine == "spark":  # what goes as texts: see workbench.activation.spark.spark_sentence_scores
        own_encoder = version is not None and ctx.registry.encoder_path(record.name, version=version) is not None
        texts = scope.height if from_texts or own_encoder else unembedded
    return BackfillPlan(tracker=record.name, version=version, months=months, window_start=start,
                        calls=scope["call_id"].n_unique(), sentences=scope.height,
                        rate=rate if rate is not None else float(DEFAULT_RATE), rate_measured=rate is not None,
                        unembedded=unembedded, engine=engine, executor_texts=texts,
                        looked_up=looked_up)


def check_engine(record: TrackerRecord, engine: str, from_texts: bool) -> None:
    if engine not in ENGINES:
        raise ValidationError("engine", f"{engine!r} is not an engine", "Use 'local' (default) or 'spark'.")
    if from_texts and engine != "spark":
        raise ValidationError("from_texts", "only the Spark engine embeds texts on the way",
                              "Use engine='spark' with from_texts=True, or embed first (ws.embed()).")
    if record.kind == "keyword" and engine == "spark":
        raise ValidationError("engine", "keyword trackers match text locally; Spark scores smart trackers' models",
                              "Use engine='local' for a keyword tracker.")


def _lookup(ctx: LiveContext, scope: pl.DataFrame) -> VectorLookup:
    """The scope's rows and those the backfill must embed first: none unless the workspace
    embedded only its tagging sample, workbench.corpus.sample."""
    rows = scope["_row"].to_numpy() if scope.height else np.empty(0, dtype=np.int64)
    if not len(rows):
        return VectorLookup(rows, rows)
    from workbench.embedding.matrix import SentenceMatrix

    return VectorLookup(rows, SentenceMatrix(ctx).unembedded(rows))


def published_or_latest(ctx: LiveContext, record: TrackerRecord, *, required: bool = True) -> int | None:
    version = ctx.registry.get_alias(record.name, PUBLISHED_ALIAS)
    if version is not None:
        return version
    versions = ctx.registry.versions(record.name) if record.kind == "smart" else []
    if versions:
        return versions[-1].version
    if required:
        raise ValidationError(
            "version", f"'{record.name}' has no trained version to apply",
            "Tag a round and call t.train() first, or import a pre-trained tracker (ws.import_bundle).")
    return None


@dataclass
class ActivationResult:
    tracker: str
    version: int
    plan: BackfillPlan
    calls_scored: int
    sentences_scored: int
    detections: int
    calls_with_mention: int
    seconds: float
    engine: str = "local"

    def __str__(self) -> str:
        return (f"'{self.tracker}' is active with version {self.version}: scored {self.sentences_scored:,} sentences "
                f"in {self.calls_scored:,} calls in {self.seconds:.1f} s; {self.detections:,} mentions in "
                f"{self.calls_with_mention:,} calls. New calls are scored on import.")


def activate(ctx: LiveContext, record: TrackerRecord, backfill_months: int = 12, *, as_of: Any = None,
             progress: bool = True, engine: str = "local", spark: Any = None, from_texts: bool = False,
             verbose: bool = True) -> ActivationResult:
    """Apply the tracker's published version to the last ``backfill_months`` months of calls (0 to
    12; 0 = upcoming calls only) and to every call imported from now on.

    Without a published version, the latest trained version is published first. Prints what the
    backfill covers and how long it should take before it starts (``verbose=False`` to keep
    quiet). Activating an active tracker again re-scores its history (e.g. with more months).
    ``engine="spark"`` runs the scoring through Spark (workbench.activation.spark; needs pyspark);
    with ``from_texts=True`` its executors embed every sentence's text themselves (sentences the
    workspace has not embedded go as texts anyway).
    """
    check_engine(record, engine, from_texts)
    months = check_months(backfill_months)
    if record.kind == "keyword":
        version = KEYWORD_VERSION
    else:
        version = published_or_latest(ctx, record)
        if ctx.registry.get_alias(record.name, PUBLISHED_ALIAS) is None:
            set_published(ctx, record, version)
    plan = backfill_plan(ctx, record, months, as_of=as_of, engine=engine, from_texts=from_texts)
    if verbose:
        print(plan)
    snapshot = record.snapshot()
    if record.kind == "smart":
        record_definition(ctx, record.name, version, snapshot)
    t0 = time.perf_counter()
    scope, dets, calls = apply_version(ctx, record, version, snapshot, months=months, window_start=plan.window_start,
                                       progress=progress, engine=engine, spark=spark, from_texts=from_texts,
                                       activate=True, looked_up=plan.looked_up)
    seconds = time.perf_counter() - t0
    if not plan.unembedded and not plan.executor_texts:  # the rate is of scoring, not of embedding
        _record_rate(ctx, scope.height, seconds)
    result = ActivationResult(
        tracker=record.name, version=version, plan=plan, calls_scored=calls.height, sentences_scored=scope.height,
        detections=dets.height, calls_with_mention=int((calls["mentions"] > 0).sum()) if calls.height else 0,
        seconds=seconds, engine=engine)
    if verbose:
        print(result)
    return result


def apply_version(ctx: LiveContext, record: TrackerRecord, version: int, snapshot: dict, *, months: int,
                  window_start: dt.datetime, progress: bool = True, engine: str = "local", spark: Any = None,
                  from_texts: bool = False, activate: bool = False,
                  looked_up: VectorLookup | None = None,
                  ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Score the tracker's history with ``version`` and ``snapshot`` into a new run folder and make
    it the live one: (scope, detections, calls). The history is the calls of the window plus the
    calls scored earlier as they arrived (they may be dated before it). ``activate=True`` also
    marks the tracker active; otherwise its active flag is kept (publish re-applies). ``looked_up``:
    the plan's lookup of the scope's vectors, not repeated (scoring.score_frame)."""
    with ctx.detections.lock():
        old = ctx.activations.get(record.id)
        earlier = ctx.detections.read(record.id, old["run_dir"], ctx.calls["call_id"])[1]["call_id"] if old else []
        scope = scope_rows(ctx, snapshot, call_ids=earlier, window_start=window_start if months else None)
        if engine == "spark":
            from workbench.activation.spark import spark_score

            # Scope rows with no local vector (a workspace that embedded only its tagging sample)
            # go to the executors as texts, and are embedded there with the version's encoder.
            dets, calls = spark_score(ctx, record.name, version, scope, spark=spark, from_texts=from_texts)
        else:
            # Every in-scope call, not only the tagging sample's: what has no vector is embedded now.
            dets, calls = score_scope(ctx, record, version, scope, progress=progress, embed=True, looked_up=looked_up)
        run_dir = f"v{version}-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}"
        ctx.detections.write_part(record.id, run_dir, dets, calls)
        ctx.activations.save(record.id, active=activate or old is None or bool(old["active"]), version=version,
                             definition=snapshot, backfill_months=months, window_start=window_start.isoformat(),
                             run_dir=run_dir, reactivate=activate)
        if old is not None and old["run_dir"] != run_dir:
            ctx.detections.remove_run(record.id, old["run_dir"])
    return scope, dets, calls


def record_definition(ctx: LiveContext, tracker_name: str, version: int, definition: dict) -> None:
    """Write the scope a version goes live with onto the registered version, so a published
    version is reproducible from MLflow alone even when the filters changed after its training."""
    from workbench.registry.versions import registered_model_name

    ctx.registry.client.set_model_version_tag(
        registered_model_name(tracker_name), str(int(version)), TAG_PUBLISHED_DEFINITION,
        json.dumps(definition, sort_keys=True, default=str))


def set_published(ctx: LiveContext, record: TrackerRecord, version: int) -> None:
    """Point the alias ``published`` at ``version`` and note it on the tracker."""
    ctx.registry.set_alias(record.name, PUBLISHED_ALIAS, version)
    ctx.catalog.set_published_version(record.id, version)
