"""Deep training of a smart tracker (``t.train(deep=True)``): its own encoder, a head on it, a version.

The frozen tracker's classifier sits on the workspace's embeddings. Deep training fine-tunes a
copy of that encoder on the tracker's tags and examples (workbench.training.deep, SetFit's
contrastive step), re-embeds the tracker's scope with it (through the embedding cache, keyed by
the new encoder's fingerprint, so activation later finds every vector there), and fits the
tracker's usual head in the tracker's usual session over those embeddings: same rows, same tags,
same settings, same estimate. The result is logged as a new MLflow version whose pyfunc carries
the encoder, so it scores text without the workbench, and activation embeds with it.

The frozen model's figures on the same tags are stored with the deep version, so the overview
can set the two side by side (``deep_comparison``). Both rest on the same tags, but the deep
figures are flattering: the encoder was tuned on every tag, the held-out and random ones
included, so a held-out tag is not unseen by it. The benchmark (benchmarks/deep_training.py)
measures the gain on the true labels instead.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import polars as pl

from workbench.registry.linear_model import LinearTrackerModel
from workbench.trackers import tracker_state
from workbench.trackers.tracker_state import TrainingResult
from workbench.training.deep import DeepTrainingTime, EncoderFineTuning
from workbench.training.performance import Figure, PerformanceEstimate

if TYPE_CHECKING:
    from workbench.trackers.tracker import Tracker

DEEP = "deep"  # the "training" entry of a deep version's stored figures
# The encoder's folder name; it is part of its model id, which keys the embedding cache, so the
# training and the version's copy in MLflow (artifacts/deep-encoder) share one cache.
ENCODER_FOLDER = "deep-encoder"
CAVEAT = ("The deep version's figures are flattering: its encoder was tuned on every tag, the held-out "
          "and random ones included. Trust the gain only as far as the benchmark measured it.")


@dataclass(frozen=True)
class DeepComparison:
    """A deep version beside the frozen model on the same tags (those of its training)."""

    version: int
    round_number: int
    frozen: PerformanceEstimate
    deep: PerformanceEstimate
    frozen_held_out_f1: float | None  # F1 on the tags, each judged by a head fitted without it
    deep_held_out_f1: float | None
    caveat: str = CAVEAT

    def to_frame(self) -> pl.DataFrame:
        """One row per model: precision, hit rate and F1 (honest where there are random tags, with
        their intervals), the held-out F1 on the tags and the detected sentences."""
        rows = []
        for name, est, held in (("frozen", self.frozen, self.frozen_held_out_f1),
                                ("deep", self.deep, self.deep_held_out_f1)):
            p, h = est.precision, est.hit_rate
            rows.append({"model": name, "precision": p.value if p else None, "hit_rate": h.value if h else None,
                         "f1": est.honest_f1.value if est.honest_f1 else _f1(p, h),
                         "held_out_f1_on_tags": held, "detected_sentences": est.detected_sentences})
        return pl.DataFrame(rows)

    def text(self) -> str:
        """The two rows as a small plain-text table, with the summary and the caveat."""
        head = f"{'':8}{'precision':>11}{'hit rate':>10}{'F1':>7}{'held-out F1 on tags':>21}{'detected':>10}"
        lines = [head]
        for r in self.to_frame().iter_rows(named=True):
            lines.append(f"{r['model']:8}{_fmt(r['precision']):>11}{_fmt(r['hit_rate']):>10}{_fmt(r['f1']):>7}"
                         f"{_fmt(r['held_out_f1_on_tags']):>21}{r['detected_sentences']:>10,}")
        return "\n".join([*lines, self.summary(), self.caveat])

    def summary(self) -> str:
        """One line for the overview."""
        f = self.to_frame()
        frozen, deep = f.row(0, named=True), f.row(1, named=True)
        return (f"Deep version {self.version} (round {self.round_number}): F1 {_fmt(deep['f1'])} against "
                f"{_fmt(frozen['f1'])} frozen on the same tags; held-out F1 on the tags {_fmt(deep['held_out_f1_on_tags'])} "
                f"against {_fmt(frozen['held_out_f1_on_tags'])}.")


def fine_tuning(tracker: "Tracker") -> EncoderFineTuning:
    """The tracker's fine-tuning settings: its ``settings["deep"]`` over the defaults, its seed."""
    params = dict(tracker.settings.get("deep") or {})
    params.setdefault("seed", tracker.settings.get("seed", 0))
    return EncoderFineTuning(base_model=tracker.ws.embedder.model_path, **params)


def time_estimate(tracker: "Tracker") -> DeepTrainingTime:
    """How long ``train(deep=True)`` should take here (measured; see EncoderFineTuning.estimate_time)."""
    texts, labels, to_embed = _work(tracker)
    return fine_tuning(tracker).estimate_time(texts, labels, tracker.examples, to_embed)


def train_deep(tracker: "Tracker", progress: Callable[[str, int, int], None] | None = None) -> TrainingResult:
    """Fine-tune, re-embed the scope, fit the head, log the version (see the module docstring).
    ``progress(stage, done, total)``: stage "fine-tuning" (steps) then "embedding" (sentences)."""
    from workbench.embedding.embedder import Embedder, embed_texts

    frozen = tracker._session_with_model()
    texts, labels, _ = _work(tracker)
    tuning = fine_tuning(tracker).fit(texts, labels, tracker.examples, progress=progress)
    scope = tracker._scope_arrays()
    description = tracker.description
    with tempfile.TemporaryDirectory(prefix="workbench-deep-") as tmp:
        # No text normalisation, whatever the workspace's: the encoder was tuned on the raw tag
        # texts, and its version's pyfunc and scorer embed raw text too, so all three agree.
        encoder = Embedder(tuning.save(Path(tmp, ENCODER_FOLDER)))
        report = None if progress is None else (lambda done, total: progress("embedding", done, total))
        vectors = embed_texts(list(scope.frame["text"]) + tracker.examples + ([description] if description else []),
                              tracker.ws.embeddings_dir, encoder, progress=False, callback=report)
        n, k = scope.frame.height, len(tracker.examples)
        session = tracker_state.scope_session(scope, vectors[:n], vectors[n : n + k],
                                              vectors[n + k] if description else None, tracker.settings)
        # Without the verification rounds: fine-tuning is an explicit retrain, the encoder and
        # the head learn from every tag (``_work``), those of verification rounds included.
        session.set_tags(*frozen.recorded_tags)
        return _log_version(tracker, tuning, encoder, session, frozen)


def _work(tracker: "Tracker") -> tuple[list[str], list[int], list[str]]:
    """The YES/NO tags in scope (texts, labels; each text once) and the distinct texts to re-embed."""
    session = tracker._session()
    frame = tracker._scope_arrays().frame
    tagged = np.flatnonzero(session.answers >= 0)
    texts = frame["text"].to_numpy()
    return [str(t) for t in texts[tagged]], session.answers[tagged].astype(int).tolist(), \
        list(dict.fromkeys(texts.tolist()))


def _log_version(tracker: "Tracker", tuning: EncoderFineTuning, encoder, session, frozen) -> TrainingResult:
    """Register the deep model as the tracker's next version, with its encoder and the frozen figures."""
    from workbench.trackers.plots import performance_figure

    model, est, frozen_est = session.model(), session.estimate(), frozen.estimate()
    round_number = tracker._trained_round_number()
    tags = tracker.tags()
    held = {"held_out_f1_on_tags": _held_out_f1(session), "frozen_held_out_f1_on_tags": _held_out_f1(frozen)}
    params = {**tracker_state.training_params(tracker, session, est, round_number, tags, encoder.model_id),
              "training": DEEP, "base_embedding_model": tracker.ws.embedder.model_id,
              "fine_tuning": tuning.get_params(), "fine_tuning_pairs": tuning.n_pairs_}
    n_not_sure = params["n_not_sure"]
    metrics = {**est.flat_metrics(), **{f"frozen_{k}": v for k, v in frozen_est.flat_metrics().items()}, **held,
               "fine_tuning_seconds": tuning.fit_seconds_,
               # How far the deep model's detections are from the frozen model's on the same tags.
               "detection_change": session.detection_change(frozen.scores())}
    learnt_from = tracker_state.learnt_from_table(tracker._scope_arrays().frame, *session.learnt_from())
    record = tracker.ws.registry.log_training(
        tracker.name, model=LinearTrackerModel.from_estimator(model, encoder.model_id), params=params,
        metrics=metrics, tags_table=tags.rename({"answer": "label"}).join(learnt_from, on="sentence_id", how="left"),
        figures={"performance.png": performance_figure(est)},
        extra_artifacts={"estimate.json": est.as_dict(), "frozen_estimate.json": frozen_est.as_dict()},
        description=tracker.description, encoder=encoder.model_path,
    )
    tracker._records.add_version(record.version, record.run_id, round_number, {
        **est.as_dict(), "detection_change": metrics["detection_change"], "training": DEEP,
        "frozen": frozen_est.as_dict(), **held})
    return TrainingResult(version=record.version, run_id=record.run_id, round_number=round_number,
                          n_yes=session.n_yes, n_no=session.n_no, n_not_sure=n_not_sure,
                          threshold=float(model.threshold_), deep=True)


def deep_comparison(stored_versions: list[dict]) -> DeepComparison | None:
    """The latest deep version beside the frozen figures stored with it; None without one."""
    deep = [v for v in stored_versions if is_deep(v)]
    if not deep:
        return None
    v = deep[-1]
    m = v["metrics"]
    return DeepComparison(version=v["version"], round_number=v["round_number"], frozen=_estimate(m["frozen"]),
                          deep=_estimate(m), frozen_held_out_f1=m.get("frozen_held_out_f1_on_tags"),
                          deep_held_out_f1=m.get("held_out_f1_on_tags"))


def is_deep(stored_version: dict) -> bool:
    return stored_version["metrics"].get("training") == DEEP


def _estimate(stored: dict) -> PerformanceEstimate:
    return PerformanceEstimate.from_dict(stored)


def _held_out_f1(session) -> float | None:
    """F1 on the YES/NO tags, each scored by the head refitted without it (the session's folds)."""
    held = session.held_out()
    if held is None:
        return None
    rows = np.flatnonzero(~np.isnan(held) & (session.answers >= 0))
    truth, found = session.answers[rows] == 1, held[rows] > 0
    tp = int((truth & found).sum())
    denominator = int(truth.sum() + found.sum())
    return None if denominator == 0 else 2 * tp / denominator


def _f1(p: Figure | None, h: Figure | None) -> float | None:
    if p is None or h is None or p.value + h.value == 0:
        return None
    return 2 * p.value * h.value / (p.value + h.value)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"
