"""The sentence encoder on ONNX Runtime: the same local weights, exported once on this machine.

Nothing comes from a model hub. :func:`exported_model` traces the local sentence-transformers
model (transformer, mean pooling, L2 normalisation: one graph) with ``torch.onnx`` and, with
``fused=True``, fuses its attention, GELU and layer norms with ONNX Runtime's transformer
optimiser. The file is cached in the user's cache folder under the weights' fingerprint and the
torch and ONNX Runtime versions, so a new model or a new exporter never reuses an old graph; an
export costs ~10 s once. Before a graph is kept, its vectors are checked against torch's on a few
sentences, so a bad trace fails there and then rather than in a tracker's scores.

:class:`OnnxEncoder` tokenises with the model's own tokenizer and runs the graph with
``threads`` intra-op threads. It needs ``onnxruntime`` and ``onnx`` (``pip install onnxruntime
onnx``); :func:`onnx_missing` says which is absent.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.core.errors import InputError
from workbench.core.settings import use_offline_environment, user_cache_dir

__all__ = ["OnnxEncoder", "exported_model", "onnx_missing"]

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Below this, the traced graph is not the model it was traced from (a float32 export agrees to
# ~1e-6; int8 weights drop to ~0.95 on some sentences, and are rejected by this check).
EXPORT_MIN_COSINE = 0.999
_CHECK_SENTENCES = ("Can we lower the price if we sign this quarter?", "ok",
                    "I'll send the proposal to legal next week and get back to you about the seats. " * 12)
_export_lock = threading.Lock()


def onnx_missing() -> str | None:
    """None when the ONNX backend can run; otherwise which packages are missing and how to get them."""
    missing = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed: pip install 'smart-tracker-workbench[onnx]'"


def _sentence_model(model_path: Path):
    """The local sentence-transformers model with eager attention: its traced graph is the one
    ONNX Runtime's optimiser recognises and fuses (the SDPA trace is left unfused)."""
    use_offline_environment()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True,
                                model_kwargs={"attn_implementation": "eager"})
    kinds = [type(m).__name__ for m in model]
    mean_pooling = len(model) > 1 and getattr(model[1], "pooling_mode", None) == "mean"
    if kinds[:2] != ["Transformer", "Pooling"] or not mean_pooling or len(kinds) > 3 or \
            (len(kinds) == 3 and kinds[2] != "Normalize"):
        raise InputError(
            f"the ONNX backend exports Transformer + mean Pooling (+ Normalize) models; this one is {kinds}",
            source=str(model_path), fix="Embed this model with the torch backend (backend='torch')",
        )
    return model.eval()


def _export(model, target: Path) -> None:
    """Trace transformer + mean pooling + normalisation into one ONNX graph at ``target``."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    features = model.preprocess(list(_CHECK_SENTENCES[:2]))
    args = tuple(features[name] for name in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS} | {"sentence_embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about Python-side shape checks in transformers' masking code; the
        # check against torch's vectors below is what proves the trace holds for other shapes.
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(model[0].auto_model).eval(), args, str(target), input_names=list(INPUTS),
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)


def _fuse(source: Path, target: Path, config: dict) -> None:
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=int(config["num_attention_heads"]),
                                     hidden_size=int(config["hidden_size"]), opt_level=1)
    fused.save_model_to_file(str(target))


def exported_model(model_path: str | Path, weights: str, *, fused: bool = True) -> Path:
    """The ONNX graph of the model at ``model_path``, exported on first use into the user's cache
    folder and checked against torch. ``weights`` names the weights in the file name (the model's
    name and fingerprint, e.g. ``all-MiniLM-L6-v2-618819fe``)."""
    import onnxruntime
    import torch

    model_path = Path(model_path)
    name = f"{weights}-torch{torch.__version__.split('+')[0]}-ort{onnxruntime.__version__}"
    target = user_cache_dir() / "onnx" / f"{name}{'-fused' if fused else ''}.onnx"
    if target.is_file():
        return target
    with _export_lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        model = _sentence_model(model_path)
        with tempfile.TemporaryDirectory(prefix=".export-", dir=target.parent) as tmp:
            traced = Path(tmp, "traced.onnx")
            _export(model, traced)
            staged = traced
            if fused:
                config = json.loads((model_path / "config.json").read_text())
                staged = Path(tmp, "fused.onnx")
                _fuse(traced, staged, config)
            _check_against_torch(staged, model, model_path)
            # Written whole, then renamed: a reader never sees half a graph, and two processes
            # exporting at once each put a complete file in place.
            os.replace(staged, target)
    return target


def _check_against_torch(graph: Path, model, model_path: Path) -> None:
    expected = model.encode(list(_CHECK_SENTENCES), normalize_embeddings=True, convert_to_numpy=True)
    got = OnnxEncoder(graph, model_path, threads=1).encode(list(_CHECK_SENTENCES))
    cosine = (expected * got).sum(1)
    if cosine.min() < EXPORT_MIN_COSINE:
        raise InputError(
            f"the ONNX export of the model disagrees with torch (cosine {cosine.min():.4f} < {EXPORT_MIN_COSINE})",
            source=str(model_path), fix="Embed this model with the torch backend (backend='torch')",
        )


class OnnxEncoder:
    """Runs an exported sentence encoder: ``encode(texts)`` gives unit-length float32 rows."""

    def __init__(self, graph: str | Path, model_path: str | Path, *, threads: int | None = None) -> None:
        use_offline_environment()
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # As many threads as torch would use: a comparison or a deployment gets the same share.
        options.intra_op_num_threads = int(threads or _torch_threads())
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        bert_config = Path(model_path, "sentence_bert_config.json")
        self.max_length = int(json.loads(bert_config.read_text()).get("max_seq_length", 256)) \
            if bert_config.is_file() else 256
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One batch, padded to its longest text (the caller sorts texts by length)."""
        if not len(texts):
            return np.zeros((0, self.dimension), dtype=np.float32)
        features = self.tokenizer([t.strip() for t in texts], padding=True, truncation=True,
                                  max_length=self.max_length, return_tensors="np")
        feed = {name: features[name].astype(np.int64) for name in INPUTS}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def _torch_threads() -> int:
    with contextlib.suppress(ImportError):
        import torch

        return torch.get_num_threads()
    return os.cpu_count() or 1
