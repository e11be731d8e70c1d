"""Activation: a tracker's published version applied to the calls, and its stored detections.

``t.activate(backfill_months=12)`` scores every sentence in the tracker's scope of the calls of
the last N months with the *published* version (the MLflow alias ``published``), stores the
detections, and from then on every import scores the new calls too (``score_new_calls``, which
``Workspace._score_new_calls`` calls). Training or editing the tracker afterwards changes nothing
live until ``t.publish()`` (workbench.activation.publishing).

Scoring is a matrix product, not a model run: the published model is a logistic regression over
sentence embeddings, so its weights are read once and applied to the float32 sentence matrix
(workbench.embedding.matrix) block by block. A model that is not linear falls back to its own
``predict_proba``, chunked.

Detections live as parquet files, not in SQLite: a tracker over a year of calls has hundreds of
thousands of them, and the results screens read them as frames::

    data/detections/tracker-<id>/<run>/part-000001.detections.parquet   detected sentences
    data/detections/tracker-<id>/<run>/part-000001.calls.parquet        every call scored, with counts

A run folder holds one published version's results: the backfill is part 1 and each import that
brings calls in scope adds a part. Each file is written to a temporary name and renamed; the calls
file is renamed last, so a part is visible only once both exist. When a call is scored again (a
re-import with ``--replace``), the newest part that scored it wins. Publishing writes a new run
folder, switches the pointer in SQLite in one transaction and then removes the old folder.
"""
from __future__ import annotations

from workbench.core.files import atomic_path
from workbench.core.dates import utc_datetime

import datetime as dt
import fcntl
import json
import math
import os
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import polars as pl

from workbench.core.errors import ValidationError, WorkbenchError
from workbench.core.settings import PUBLISHED_ALIAS
from workbench.storage.store import dumps, loads, now_iso

if TYPE_CHECKING:
    from workbench.trackers.tracker import BaseTracker
    from workbench.workspace import Workspace

MAX_BACKFILL_MONTHS = 12
TAG_PUBLISHED_DEFINITION = "workbench.published_definition"
# Until a workspace has measured its own rate: the rate benchmarks/backfill.py measured on a
# 2-core machine, rounded down, and the time to load a version's model from MLflow.
DEFAULT_RATE = 400_000  # sentences per second
MODEL_LOAD_S = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS activations (
    tracker_id INTEGER PRIMARY KEY REFERENCES trackers(id) ON DELETE CASCADE,
    active INTEGER NOT NULL,           -- 1: new calls are scored on import
    version INTEGER NOT NULL,          -- the published version whose detections are stored
    definition TEXT NOT NULL,          -- JSON: the scope the stored detections were made with
    backfill_months INTEGER NOT NULL,
    window_start TEXT NOT NULL,        -- ISO: calls from here on were backfilled
    run_dir TEXT NOT NULL,             -- folder under data/detections/tracker-<id>/
    activated_at TEXT NOT NULL,
    deactivated_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activation_pending (
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    call_id TEXT NOT NULL,             -- imported while its sentences had no embedding
    PRIMARY KEY (tracker_id, call_id)
);
"""

DETECTION_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "sentence_id": pl.Int64(),
    "utterance_id": pl.Int64(),
    "sentence_index": pl.Int32(),
    "start_s": pl.Float64(),
    "speaker": pl.String(),
    "side": pl.String(),
    "text": pl.String(),
    "score": pl.Float64(),
    "version": pl.Int64(),
}
CALLS_SCORED_SCHEMA: dict[str, pl.DataType] = {
    "call_id": pl.String(),
    "sentences": pl.Int64(),
    "mentions": pl.Int64(),
    "version": pl.Int64(),
    "scored_at": pl.Datetime("us", "UTC"),
}


def ensure_schema(store) -> None:
    """Create the activation tables; idempotent (the lead calls it from Store init)."""
    if getattr(store, "_activation_schema", False):
        return
    store._connection().executescript(SCHEMA)
    store._activation_schema = True


# ---------------------------------------------------------------------------------------------
# Scoring with a published version
# ---------------------------------------------------------------------------------------------
@dataclass
class Scorer:
    """One registered version, reduced to what scoring needs.

    Linear models (the workbench's own) become ``weights``/``bias`` on the decision scale where
    0 is the version's threshold; anything else is scored through its pyfunc.
    """

    tracker: str
    version: int
    weights: np.ndarray | None
    bias: float
    python_model: Any
    embedding_model: str

    def score(self, view, rows: np.ndarray, *, on_block=None) -> tuple[np.ndarray, np.ndarray]:
        """(score, detected) for the given rows of ws.sentences; score is 0.5 at the threshold."""
        from workbench.embedding.matrix import linear_scores

        if self.weights is not None:
            d = linear_scores(view, rows, self.weights, self.bias, on_block=on_block)
            return _sigmoid(d), d >= 0
        scores = np.empty(len(rows), dtype=np.float64)
        for lo in range(0, len(rows), 65_536):
            part = rows[lo : lo + 65_536]
            scores[lo : lo + len(part)] = self.python_model.score_embeddings(view.embeddings(part))
            if on_block is not None:
                on_block(len(part))
        return scores, scores >= self.python_model.threshold


def _sigmoid(d: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-d.astype(np.float64)))


_scorers: dict[tuple[str, str, int], Scorer] = {}


def load_scorer(ws: "Workspace", tracker_name: str, version: int) -> Scorer:
    """The scorer of a registered version; memoised per store and version (versions never change)."""
    key = (str(ws.registry.root), tracker_name, int(version))
    if key in _scorers:
        return _scorers[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's notes on model-from-code and signatures
        pm = ws.registry.load_model(tracker_name, version=int(version)).unwrap_python_model()
    weights, bias = _linear_form(pm)
    scorer = Scorer(tracker=tracker_name, version=int(version), weights=weights, bias=bias, python_model=pm,
                    embedding_model=str(pm.config.get("embedding_model", "")))
    _scorers[key] = scorer
    return scorer


def _linear_form(pm) -> tuple[np.ndarray | None, float]:
    """(w, b) with ``pm.score_embeddings(X) >= pm.threshold  <=>  X @ w + b >= 0``, or (None, 0).

    Read from the classifier's logistic regression and then checked against the pyfunc itself on
    random vectors, so a classifier that only looks linear is scored the slow, right way.
    """
    clf = pm.classifier
    inner = getattr(clf, "model", clf)  # the workbench registers TrackerModel inside a wrapper
    lr = getattr(inner, "lr_", inner)
    coef, intercept = getattr(lr, "coef_", None), getattr(lr, "intercept_", None)
    if coef is None or intercept is None or np.shape(coef)[0] != 1:
        return None, 0.0
    shift = float(getattr(inner, "threshold_", 0.0)) if inner is not lr else 0.0
    p = float(pm.threshold)
    if not 0.0 < p < 1.0:
        return None, 0.0
    w = np.asarray(coef, dtype=np.float64).ravel()
    b = float(np.ravel(intercept)[0]) - shift - math.log(p / (1.0 - p))
    rng = np.random.default_rng(0)
    probe = rng.standard_normal((64, w.shape[0])).astype(np.float32)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    expected = pm.score_embeddings(probe)
    got = 1.0 / (1.0 + np.exp(-(probe.astype(np.float64) @ w + b + math.log(p / (1.0 - p)))))
    if not np.allclose(expected, got, atol=1e-5):
        return None, 0.0
    return w.astype(np.float32), b


# ---------------------------------------------------------------------------------------------
# The detection store
# ---------------------------------------------------------------------------------------------
def detections_root(ws: "Workspace") -> Path:
    return ws.data_dir / "detections"


@contextmanager
def _detections_lock(ws: "Workspace") -> Iterator[None]:
    root = detections_root(ws)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tracker_dir(ws: "Workspace", tracker_id: int) -> Path:
    return detections_root(ws) / f"tracker-{tracker_id}"


def _write_atomic_parquet(frame: pl.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)


def _parts(run: Path) -> list[int]:
    out = []
    for f in run.glob("part-*.calls.parquet"):
        try:
            out.append(int(f.name.split(".")[0].split("-")[1]))
        except (IndexError, ValueError):
            continue
    return sorted(out)


def _write_part(run: Path, detections: pl.DataFrame, calls: pl.DataFrame) -> int:
    """Append one part to a run folder (callers hold the detections lock); returns its number."""
    run.mkdir(parents=True, exist_ok=True)
    number = (max(_parts(run)) + 1) if _parts(run) else 1
    _write_atomic_parquet(detections.select(list(DETECTION_SCHEMA)), run / f"part-{number:06d}.detections.parquet")
    _write_atomic_parquet(calls.select(list(CALLS_SCORED_SCHEMA)), run / f"part-{number:06d}.calls.parquet")
    return number


@dataclass
class LiveResults:
    """A tracker's stored results: the detections and every call they were looked for in."""

    tracker: str
    version: int | None
    detections: pl.DataFrame  # DETECTION_SCHEMA
    calls: pl.DataFrame  # CALLS_SCORED_SCHEMA: every call scored, mentions may be 0


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def read_run(ws: "Workspace", tracker_id: int, run_dir: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The detections and scored calls of one run folder, newest part per call, calls still in the workspace."""
    run = _tracker_dir(ws, tracker_id) / run_dir
    for _ in range(3):
        parts = _parts(run)
        if not parts:
            return _empty(DETECTION_SCHEMA), _empty(CALLS_SCORED_SCHEMA)
        try:
            calls = pl.concat([
                pl.read_parquet(run / f"part-{p:06d}.calls.parquet").with_columns(pl.lit(p, pl.Int32).alias("part"))
                for p in parts])
            dets = pl.concat([
                pl.read_parquet(run / f"part-{p:06d}.detections.parquet").with_columns(pl.lit(p, pl.Int32).alias("part"))
                for p in parts])
        except FileNotFoundError:  # a publish replaced the run folder while we read it
            continue
        latest = calls.sort("part").unique("call_id", keep="last", maintain_order=True)
        # A call re-imported out of scope is recorded with 0 sentences: it drops out here.
        latest = latest.filter(pl.col("call_id").is_in(ws.calls["call_id"].implode()) & (pl.col("sentences") > 0))
        dets = dets.join(latest.select("call_id", "part"), on=["call_id", "part"], how="semi")
        return dets.drop("part"), latest.drop("part")
    raise WorkbenchError(f"The detections in {run} keep changing; try again.")


def activation_row(ws: "Workspace", tracker_id: int):
    ensure_schema(ws.store)
    return ws.store.query_one("SELECT * FROM activations WHERE tracker_id=?", (tracker_id,))


def live_results(ws: "Workspace", tracker: "BaseTracker | str") -> LiveResults:
    """The stored results of an activated tracker (active or deactivated: history is kept)."""
    tracker = _tracker(ws, tracker)
    row = activation_row(ws, tracker.id)
    if row is None:
        raise ValidationError("tracker", f"'{tracker.name}' has never been activated, so it has no results",
                              f"Activate it first: ws.tracker({tracker.name!r}).activate(backfill_months=12).")
    dets, calls = read_run(ws, tracker.id, row["run_dir"])
    return LiveResults(tracker=tracker.name, version=row["version"], detections=dets, calls=calls)


def _tracker(ws: "Workspace", tracker) -> "BaseTracker":
    return ws.tracker(tracker) if isinstance(tracker, str) else tracker


# ---------------------------------------------------------------------------------------------
# Planning and running a backfill
# ---------------------------------------------------------------------------------------------
def months_before(when: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the last day when it has none)."""
    import calendar

    y, m = divmod(when.year * 12 + when.month - 1 - months, 12)
    day = min(when.day, calendar.monthrange(y, m + 1)[1])
    return when.replace(year=y, month=m + 1, day=day)


def _as_of(as_of: Any) -> dt.datetime:
    # A date means "through the end of that day".
    return dt.datetime.now(dt.timezone.utc) if as_of is None else utc_datetime(as_of, "as_of", end=True)


def check_months(backfill_months: Any) -> int:
    if isinstance(backfill_months, bool) or not isinstance(backfill_months, int) or not (
            0 <= backfill_months <= MAX_BACKFILL_MONTHS):
        raise ValidationError("backfill_months", f"{backfill_months!r} is not a whole number of months from 0 to "
                              f"{MAX_BACKFILL_MONTHS}", "Use 0 for upcoming calls only, up to 12 for a year of history.")
    return backfill_months


def definition_of(tracker: "BaseTracker") -> dict:
    d = tracker.definition
    return {"name": d.name, "description": d.description, "mentioned_by": d.mentioned_by, "filters": d.filters,
            "call_part": list(d.call_part), "channels": d.channels}


def _definition(snapshot: dict):
    from workbench.trackers.definition import TrackerDefinition

    return TrackerDefinition(**{**snapshot, "call_part": tuple(snapshot["call_part"])})


def scope_rows(ws: "Workspace", snapshot: dict, call_ids: pl.Series | list | None = None,
               window_start: dt.datetime | None = None) -> pl.DataFrame:
    """The in-scope sentences (with ``_row``, their position in ws.sentences) of the given calls
    and/or of the calls started at or after ``window_start``."""
    calls = ws.calls
    keep = pl.lit(False)
    if window_start is not None:
        keep |= pl.col("started_at") >= window_start
    if call_ids is not None:
        keep |= pl.col("call_id").is_in(pl.Series(list(call_ids), dtype=pl.String).implode())
    calls = calls.filter(keep)
    return _definition(snapshot).scope(calls, ws.sentences.with_row_index("_row"))


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

    @property
    def estimated_seconds(self) -> float:
        return MODEL_LOAD_S + self.sentences / self.rate if self.sentences else 0.0

    def __str__(self) -> str:
        version = f"version {self.version}" if self.version is not None else "its latest version"
        if self.months == 0:
            return (f"Activating '{self.tracker}' ({version}) for upcoming calls only: no history is scored; "
                    "every call imported from now on is.")
        how = "measured on this workspace" if self.rate_measured else "benchmark rate"
        return (f"Backfilling '{self.tracker}' ({version}) over the last {self.months} month"
                f"{'s' if self.months != 1 else ''} (calls since {self.window_start:%Y-%m-%d}): "
                f"{self.calls:,} calls, {self.sentences:,} sentences in scope; "
                f"about {_duration(self.estimated_seconds)} ({self.rate:,.0f} sentences/s, {how}).")


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _rate(ws: "Workspace") -> tuple[float, bool]:
    row = ws.store.query_one("SELECT value FROM meta WHERE key='activation.rate'")
    return (float(row["value"]), True) if row else (float(DEFAULT_RATE), False)


def _record_rate(ws: "Workspace", sentences: int, seconds: float) -> None:
    # Tiny runs measure overhead, not throughput: only runs of a real size teach us the rate.
    if sentences < 50_000 or seconds <= 0:
        return
    rate = sentences / seconds
    old, measured = _rate(ws)
    new = rate if not measured else 0.5 * old + 0.5 * rate
    with ws.store.transaction() as con:
        con.execute("INSERT INTO meta(key, value) VALUES ('activation.rate', ?) ON CONFLICT(key) DO UPDATE SET"
                    " value=excluded.value", (f"{new:.0f}",))


def backfill_plan(tracker: "BaseTracker", backfill_months: int = 12, *, as_of: Any = None) -> BackfillPlan:
    """How many calls and sentences a backfill of ``backfill_months`` covers, and how long it takes."""
    ws = tracker.ws
    months = check_months(backfill_months)
    start = months_before(_as_of(as_of), months)
    if months == 0:
        scope = pl.DataFrame({"call_id": []}, schema={"call_id": pl.String})
    else:
        scope = scope_rows(ws, definition_of(tracker), window_start=start)
    rate, measured = _rate(ws)
    version = KEYWORD_VERSION if tracker.kind == "keyword" else _published_or_latest(tracker, required=False)
    return BackfillPlan(tracker=tracker.name, version=version, months=months, window_start=start,
                        calls=scope["call_id"].n_unique(), sentences=scope.height, rate=rate, rate_measured=measured)


def _published_or_latest(tracker: "BaseTracker", *, required: bool = True) -> int | None:
    ws = tracker.ws
    version = ws.registry.get_alias(tracker.name, PUBLISHED_ALIAS)
    if version is not None:
        return version
    versions = ws.registry.versions(tracker.name) if tracker.kind == "smart" else []
    if versions:
        return versions[-1].version
    if required:
        raise ValidationError(
            "version", f"'{tracker.name}' has no trained version to apply",
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


def score_frame(ws: "Workspace", scorer: Scorer, scope: pl.DataFrame, *, progress: bool = False,
                desc: str = "Scoring") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score in-scope sentences (a frame with ``_row``): (detections, calls scored)."""
    from workbench.embedding.matrix import SentenceMatrix

    scored_at = dt.datetime.now(dt.timezone.utc)
    if scope.height == 0:
        return _empty(DETECTION_SCHEMA), _empty(CALLS_SCORED_SCHEMA)
    if scorer.embedding_model and scorer.embedding_model != ws.embedder.model_id:
        raise WorkbenchError(
            f"Version {scorer.version} of '{scorer.tracker}' was trained on {scorer.embedding_model} embeddings, but "
            f"{ws.path} uses {ws.embedder.model_id}. Open the workspace with that model, or train the tracker here.")
    view = SentenceMatrix(ws).view(progress=progress)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=scope.height, desc=desc, unit="sentence", unit_scale=True)
    try:
        scores, detected = scorer.score(view, scope["_row"].to_numpy(), on_block=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return _frames(scope, scores, detected, scorer.version, scored_at)


KEYWORD_VERSION = 0  # keyword trackers have no trained versions: their phrases are the model


def keyword_score_frame(ws: "Workspace", tracker_name: str, scope: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A keyword tracker's matches over in-scope sentences: (detections, calls scored); score 1.0 per match."""
    tracker = ws.tracker(tracker_name)
    scored_at = dt.datetime.now(dt.timezone.utc)
    if scope.height == 0:
        return _empty(DETECTION_SCHEMA), _empty(CALLS_SCORED_SCHEMA)
    detected = tracker.matcher.matches(scope["text"])
    return _frames(scope, detected.astype(np.float64), detected, KEYWORD_VERSION, scored_at)


def _score_scope(ws: "Workspace", tracker_name: str, kind: str, version: int, scope: pl.DataFrame, *,
                 progress: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    if kind == "keyword":
        return keyword_score_frame(ws, tracker_name, scope)
    scorer = load_scorer(ws, tracker_name, version)
    return score_frame(ws, scorer, scope, progress=progress, desc=f"Scoring '{tracker_name}'")


def _frames(scope: pl.DataFrame, scores: np.ndarray, detected: np.ndarray, version: int,
            scored_at: dt.datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    mask = pl.Series(detected)
    dets = (scope.filter(mask)
            .with_columns(pl.Series("score", scores[detected], dtype=pl.Float64), pl.lit(version, pl.Int64).alias("version"))
            .select([pl.col(c).cast(t) for c, t in DETECTION_SCHEMA.items()]))
    calls = (scope.select("call_id").with_columns(mask.alias("_d"))
             .group_by("call_id", maintain_order=True)
             .agg(pl.len().cast(pl.Int64).alias("sentences"), pl.col("_d").sum().cast(pl.Int64).alias("mentions"))
             .with_columns(pl.lit(version, pl.Int64).alias("version"),
                           pl.lit(scored_at, pl.Datetime("us", "UTC")).alias("scored_at")))
    return dets, calls


def activate(tracker: "BaseTracker", backfill_months: int = 12, *, as_of: Any = None, progress: bool = True,
             engine: str = "local", spark: Any = None, verbose: bool = True) -> ActivationResult:
    """Apply the tracker's published version to the last ``backfill_months`` months of calls (0 to
    12; 0 = upcoming calls only) and to every call imported from now on.

    Without a published version, the latest trained version is published first. Prints what the
    backfill covers and how long it should take before it starts (``verbose=False`` to keep
    quiet). Activating an active tracker again re-scores its history (e.g. with more months).
    ``engine="spark"`` runs the scoring through Spark (workbench.activation.spark; needs pyspark).
    """
    ws = tracker.ws
    ensure_schema(ws.store)
    if engine not in ("local", "spark"):
        raise ValidationError("engine", f"{engine!r} is not an engine", "Use 'local' (default) or 'spark'.")
    if tracker.kind == "keyword" and engine == "spark":
        raise ValidationError("engine", "keyword trackers match text locally; Spark scores smart trackers' models",
                              "Use engine='local' for a keyword tracker.")
    months = check_months(backfill_months)
    if tracker.kind == "keyword":
        version = KEYWORD_VERSION
    else:
        version = _published_or_latest(tracker)
        if ws.registry.get_alias(tracker.name, PUBLISHED_ALIAS) is None:
            _set_published(tracker, version)
    plan = backfill_plan(tracker, months, as_of=as_of)
    if verbose:
        print(plan)
    snapshot = definition_of(tracker)
    if tracker.kind == "smart":
        record_definition(ws, tracker.name, version, snapshot)
    t0 = time.perf_counter()
    scope, dets, calls = apply_version(tracker, version, snapshot, months=months, window_start=plan.window_start,
                                       progress=progress, engine=engine, spark=spark, activate=True)
    seconds = time.perf_counter() - t0
    _record_rate(ws, scope.height, seconds)
    tracker.refresh()
    result = ActivationResult(
        tracker=tracker.name, version=version, plan=plan, calls_scored=calls.height, sentences_scored=scope.height,
        detections=dets.height, calls_with_mention=int((calls["mentions"] > 0).sum()) if calls.height else 0,
        seconds=seconds, engine=engine)
    if verbose:
        print(result)
    return result


def apply_version(tracker: "BaseTracker", version: int, snapshot: dict, *, months: int,
                  window_start: dt.datetime, progress: bool = True, engine: str = "local", spark: Any = None,
                  activate: bool = False) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Score the tracker's history with ``version`` and ``snapshot`` into a new run folder and make
    it the live one: (scope, detections, calls). The history is the calls of the window plus the
    calls scored earlier as they arrived (they may be dated before it). ``activate=True`` also
    marks the tracker active; otherwise its active flag is kept (publish re-applies)."""
    ws = tracker.ws
    with _detections_lock(ws):
        old = activation_row(ws, tracker.id)
        earlier = read_run(ws, tracker.id, old["run_dir"])[1]["call_id"] if old is not None else []
        scope = scope_rows(ws, snapshot, call_ids=earlier, window_start=window_start if months else None)
        if engine == "spark":
            from workbench.activation.spark import spark_score

            dets, calls = spark_score(ws, tracker.name, version, scope, spark=spark)
        else:
            dets, calls = _score_scope(ws, tracker.name, tracker.kind, version, scope, progress=progress)
        run_dir = f"v{version}-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(3).hex()}"
        _write_part(_tracker_dir(ws, tracker.id) / run_dir, dets, calls)
        now = now_iso()
        active = 1 if activate or old is None else int(old["active"])
        with ws.store.transaction() as con:
            con.execute(
                "INSERT INTO activations(tracker_id, active, version, definition, backfill_months, window_start,"
                " run_dir, activated_at, deactivated_at, updated_at) VALUES (?,?,?,?,?,?,?,?,NULL,?)"
                " ON CONFLICT(tracker_id) DO UPDATE SET active=excluded.active, version=excluded.version,"
                " definition=excluded.definition, backfill_months=excluded.backfill_months,"
                " window_start=excluded.window_start, run_dir=excluded.run_dir, updated_at=excluded.updated_at",
                (tracker.id, active, version, dumps(snapshot), months, window_start.isoformat(), run_dir, now, now))
            if activate:
                con.execute("UPDATE activations SET activated_at=?, deactivated_at=NULL WHERE tracker_id=?",
                            (now, tracker.id))
                con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (tracker.id,))
            status = "active" if active else "inactive"
            con.execute("UPDATE trackers SET status=?, published_version=?, updated_at=? WHERE id=?",
                        (status, version, now, tracker.id))
        if old is not None and old["run_dir"] != run_dir:
            shutil.rmtree(_tracker_dir(ws, tracker.id) / old["run_dir"], ignore_errors=True)
    return scope, dets, calls


def record_definition(ws: "Workspace", tracker_name: str, version: int, definition: dict) -> None:
    """Write the scope a version goes live with onto the registered version, so a published
    version is reproducible from MLflow alone even when the filters changed after its training."""
    from workbench.registry.versions import registered_model_name

    ws.registry.client.set_model_version_tag(
        registered_model_name(tracker_name), str(int(version)), TAG_PUBLISHED_DEFINITION,
        json.dumps(definition, sort_keys=True, default=str))


def _set_published(tracker: "BaseTracker", version: int) -> None:
    tracker.ws.registry.set_alias(tracker.name, PUBLISHED_ALIAS, version)
    with tracker.ws.store.transaction() as con:
        con.execute("UPDATE trackers SET published_version=?, updated_at=? WHERE id=?", (version, now_iso(), tracker.id))


def deactivate(tracker: "BaseTracker") -> None:
    """Stop scoring new calls; the results so far stay readable (and exportable)."""
    ws = tracker.ws
    row = activation_row(ws, tracker.id)
    if row is None or not row["active"]:
        raise ValidationError("tracker", f"'{tracker.name}' is not active", "Nothing to deactivate.")
    now = now_iso()
    with ws.store.transaction() as con:
        con.execute("UPDATE activations SET active=0, deactivated_at=?, updated_at=? WHERE tracker_id=?",
                    (now, now, tracker.id))
        con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (tracker.id,))
        con.execute("UPDATE trackers SET status='inactive', updated_at=? WHERE id=?", (now, tracker.id))
    tracker.refresh()


def is_active(tracker: "BaseTracker") -> bool:
    row = activation_row(tracker.ws, tracker.id)
    return bool(row is not None and row["active"])


def delete(tracker: "BaseTracker", *, confirm: bool = False) -> None:
    """Delete the tracker with its stored results, tags and versions. Needs ``confirm=True``."""
    ws = tracker.ws
    if not confirm:
        raise ValidationError("confirm", f"deleting '{tracker.name}' removes its results, tags and versions for good",
                              "Call again with confirm=True.")
    forget(ws, tracker.id)
    ws.delete_tracker(tracker.name, confirm=True)


def forget(ws: "Workspace", tracker_id: int) -> None:
    """Remove a tracker's stored results (the lead calls this from Workspace.delete_tracker)."""
    ensure_schema(ws.store)
    with _detections_lock(ws):
        with ws.store.transaction() as con:
            con.execute("DELETE FROM activations WHERE tracker_id=?", (tracker_id,))
            con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (tracker_id,))
        shutil.rmtree(_tracker_dir(ws, tracker_id), ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Upcoming calls
# ---------------------------------------------------------------------------------------------
def active_trackers(ws: "Workspace") -> list:
    ensure_schema(ws.store)
    rows = ws.store.query("SELECT t.name FROM activations a JOIN trackers t ON t.id = a.tracker_id"
                          " WHERE a.active = 1 ORDER BY t.id")
    return [ws.tracker(r["name"]) for r in rows]


def score_new_calls(ws: "Workspace", call_ids: list[str] | None = None, *, progress: bool = False) -> dict[str, int]:
    """Apply every active tracker's published version to newly imported calls; returns the
    mentions found per tracker. ``Workspace._score_new_calls`` calls this after each import.

    Calls whose sentences are not embedded yet (``import --no-embed``) are remembered and scored
    by the next call of this function (e.g. ``ws.score_pending()`` after ``ws.embed()``). An
    import never fails because scoring did: the problem is reported as a warning.
    """
    ensure_schema(ws.store)
    rows = ws.store.query("SELECT a.*, t.name, t.kind FROM activations a JOIN trackers t ON t.id = a.tracker_id"
                          " WHERE a.active = 1 ORDER BY t.id")
    out: dict[str, int] = {}
    if not rows:
        return out
    call_ids = list(call_ids or [])
    with _detections_lock(ws):
        for row in rows:
            pending = [r["call_id"] for r in ws.store.query(
                "SELECT call_id FROM activation_pending WHERE tracker_id=?", (row["tracker_id"],))]
            todo = sorted(set(call_ids) | set(pending))
            if not todo:
                continue
            snapshot = loads(row["definition"])
            scope = scope_rows(ws, snapshot, call_ids=todo)
            try:
                dets, calls = _score_scope(ws, row["name"], row["kind"], row["version"], scope, progress=progress)
            except WorkbenchError as exc:
                with ws.store.transaction() as con:
                    con.executemany("INSERT OR IGNORE INTO activation_pending(tracker_id, call_id) VALUES (?,?)",
                                    [(row["tracker_id"], c) for c in todo])
                warnings.warn(f"'{row['name']}' could not score {len(todo):,} new calls yet: {exc} They are kept and "
                              "scored by ws.score_pending() (or the next import).", stacklevel=2)
                continue
            # Calls in the import that are out of scope are recorded too (0 sentences), so a call
            # re-imported out of scope no longer shows its old mentions.
            out_of_scope = sorted(set(todo) - set(calls["call_id"].to_list()))
            if out_of_scope:
                calls = pl.concat([calls, pl.DataFrame({
                    "call_id": out_of_scope, "sentences": [0] * len(out_of_scope), "mentions": [0] * len(out_of_scope),
                    "version": [row["version"]] * len(out_of_scope),
                    "scored_at": [dt.datetime.now(dt.timezone.utc)] * len(out_of_scope)}, schema=CALLS_SCORED_SCHEMA)])
            _write_part(_tracker_dir(ws, row["tracker_id"]) / row["run_dir"], dets, calls)
            with ws.store.transaction() as con:
                con.execute("DELETE FROM activation_pending WHERE tracker_id=?", (row["tracker_id"],))
            out[row["name"]] = dets.height
    return out
