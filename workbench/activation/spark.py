"""The backfill through Apache Spark, for corpora that outgrow one machine.

A published tracker version is an MLflow pyfunc that takes sentence embeddings or texts and
returns ``score`` and ``detected``, so ``mlflow.pyfunc.spark_udf`` applies it on the executors.
``workbench backfill TRACKER --engine spark`` (or ``t.activate(engine="spark")``) runs the same
backfill as the local engine through it, and stores the same detections:

1. the in-scope sentences are written as Parquet to a staging folder: each with its cached
   embedding, or with its text where the workspace has none (``--from-texts``: all as texts),
2. Spark reads them and applies the version's UDF, which embeds the texts with the version's
   encoder (the frozen one the workspace uses, or a deep-trained version's own) and scores them
   in the same pass, then writes the scores back as Parquet,
3. the workbench reads the scores and stores the detections as the local engine does.

Embedding alone (filling the workspace's cache on the executors) is workbench.activation.spark_embed.

Locally (the default, ``local[*]``) the staging folder is under the workspace. On a cluster, pass
``master`` (e.g. ``spark://host:7077``, ``yarn``) and a ``staging`` URI every executor can read
and write (``hdfs://…``, ``s3a://…``, or a shared mount); the executors need Python with mlflow,
numpy and pandas (the version's ``requirements.txt``), plus sentence-transformers, torch and the
encoder's weights when they embed texts; not the workbench (docs/activation.md, "Spark").
Needs the optional extra ``spark`` (``pip install 'smart-tracker-workbench[spark]'``) and Java 17.
"""
from __future__ import annotations

import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from workbench.activation.frames import detection_frames
from workbench.core.errors import WorkbenchError
from workbench.core.processes import owner_token
from workbench.embedding.backend import same_vectors
from workbench.embedding.cache import EmbeddingCache, text_keys

if TYPE_CHECKING:
    from workbench.activation.context import LiveContext

OWNER_FILE = "owner.json"  # the process staging in a local staging folder
STAGING_FOLDER = ".spark-staging"  # under the workspace's data/
_STAGE_ROWS = 200_000  # rows per staged Parquet file: a partition each when Spark reads them
# Texts per Spark task when the executors embed: about half a minute on one core, so a lost task
# costs little and every core of a cluster gets work.
TEXT_TASK_ROWS = 8_192


def require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise WorkbenchError(
            "The Spark engine needs pyspark: pip install 'smart-tracker-workbench[spark]' (and Java 17), "
            "or use the local engine (the default).") from exc
    return pyspark


def session(master: str | None = None, *, app_name: str = "workbench-backfill", config: dict | None = None):
    """A SparkSession: ``master`` (default ``$SPARK_MASTER``, else ``local[*]``), small defaults for a
    laptop and executors running this interpreter when local."""
    require_pyspark()
    from pyspark.sql import SparkSession

    master = master or os.environ.get("SPARK_MASTER") or "local[*]"
    if master.startswith("local"):
        # Local executors are this machine: run this interpreter, which has mlflow and numpy.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.driver.memory", os.environ.get("WORKBENCH_SPARK_DRIVER_MEMORY", "2g"))
               # Spark runs a Python worker per task slot; torch and BLAS would start a thread per
               # core in each (N workers x N threads on N cores) when they embed. One thread per
               # slot's cores instead, so throughput grows with executors.
               .config("spark.executorEnv.OMP_NUM_THREADS", str((config or {}).get("spark.task.cpus", 1))))
    for k, v in (config or {}).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def staged(data_dir: Path, staging: str | Path | None = None) -> Iterator[tuple[str, bool]]:
    """A fresh staging folder for one Spark job: (its URI, whether it is a local folder).

    ``staging`` (default ``$WORKBENCH_SPARK_STAGING``) is a URI every executor reads and writes
    (``hdfs://...``, ``s3a://...``, a shared mount): the job gets a folder of its own under it,
    written and read through Spark and left in place after; without one, a folder under the
    workspace's ``data/.spark-staging/``, removed after (and, when the process is killed, by the
    next open: workbench.activation.recovery)."""
    staging = staging or os.environ.get("WORKBENCH_SPARK_STAGING") or None
    if staging is not None:
        # A folder per job: two jobs sharing the URI must not read each other's input.
        yield f"{str(staging).rstrip('/')}/{uuid.uuid4().hex}", False
        return
    stage = Path(data_dir) / STAGING_FOLDER / uuid.uuid4().hex
    stage.mkdir(parents=True)
    try:
        (stage / OWNER_FILE).write_text(owner_token(), encoding="utf-8")
        yield str(stage), True
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_parts(spark: Any, frames: Iterable[pl.DataFrame], folder: str, local: bool, *, schema: str) -> None:
    """Frames as Parquet files under ``folder``: written here when local, through Spark otherwise."""
    if local:
        Path(folder).mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        if local:
            frame.write_parquet(f"{folder}/part-{i:05d}.parquet")
        else:  # a remote URI: let Spark write it
            spark.createDataFrame(frame.to_pandas(), schema=schema).write.mode("append").parquet(folder)


def read_parts(spark: Any, folder: str, local: bool) -> Iterator[pl.DataFrame]:
    """The Parquet files Spark wrote under ``folder``: file by file when local, else collected
    through Spark in one frame (scores are small; embeddings are read in row ranges by the caller)."""
    if local:
        for file in sorted(Path(folder).glob("*.parquet")):
            yield pl.read_parquet(file)
    else:
        yield pl.from_pandas(spark.read.parquet(folder).toPandas())


def _input_frames(scope: pl.DataFrame, cache: EmbeddingCache | None) -> Iterator[pl.DataFrame]:
    """The scope as the pyfunc's input, _STAGE_ROWS rows a frame: each sentence's cached vector
    when ``cache`` is given and holds it, else its text (the executors embed it)."""
    for lo in range(0, scope.height, _STAGE_ROWS):
        part = scope.slice(lo, _STAGE_ROWS)
        if cache is None:
            yield part.select(pl.col("sentence_id").cast(pl.Int64), "text")
            continue
        vectors, missing = cache.lookup_keys(text_keys(part["text"].to_list()))
        if not vectors.shape[1]:  # an empty cache: every row goes as text
            vectors = np.zeros((part.height, 1), dtype=np.float32)
        lists = pl.Series("embedding", vectors.astype(np.float64), dtype=pl.List(pl.Float64))
        missing = pl.Series("missing", missing)
        yield pl.DataFrame({"sentence_id": part["sentence_id"].cast(pl.Int64), "missing": missing,
                            "text": part["text"], "embedding": lists}).select(
            "sentence_id",
            pl.when(pl.col("missing")).then(pl.col("text")).otherwise(None).alias("text"),
            pl.when(pl.col("missing")).then(None).otherwise(pl.col("embedding")).alias("embedding"))


def spark_score(ctx: "LiveContext", tracker_name: str, version: int, scope: pl.DataFrame, *, spark: Any = None,
                staging: str | Path | None = None, from_texts: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score in-scope sentences (a frame with ``_row``) with a registered version through Spark;
    returns (detections, calls scored) exactly as the local engine's score_frame does.
    What goes to the executors, embeddings or texts: see :func:`spark_sentence_scores`."""
    import datetime as dt

    if scope.height == 0:
        return detection_frames(scope, np.zeros(0), np.zeros(0, dtype=bool), version, dt.datetime.now(dt.timezone.utc))
    scores = spark_sentence_scores(ctx, tracker_name, version, scope, spark=spark, staging=staging,
                                   from_texts=from_texts)
    return detection_frames(scope, scores["score"].to_numpy(), scores["detected"].to_numpy(), int(version),
                            dt.datetime.now(dt.timezone.utc))


def spark_sentence_scores(ctx: "LiveContext", tracker_name: str, version: int, scope: pl.DataFrame, *,
                          spark: Any = None, staging: str | Path | None = None,
                          from_texts: bool = False) -> pl.DataFrame:
    """``score`` and ``detected`` of every sentence of ``scope`` (a frame with ``sentence_id`` and
    ``text``), in its order, from the version's pyfunc applied on Spark's executors.

    The executors get each sentence's cached embedding, or its text where the workspace has no
    embedding of it (e.g. calls outside the sample the workspace embedded), and embed those
    texts with the version's encoder in the same pass. ``from_texts=True`` sends every sentence
    as text: a backfill that needs no local embedding at all. A deep-trained version (its own
    encoder) always gets texts. ``spark``: a session (default: :func:`session`, stopped after)."""
    require_pyspark()
    own_session = spark is None
    spark = spark or session()
    try:
        cache = None
        if not from_texts and not ctx.registry.encoder_path(tracker_name, version=int(version)):
            model_id = ctx.registry.linear_model(tracker_name, version=int(version)).embedding_model
            # The workspace's own vectors where they stand for the version's (torch and ONNX
            # Runtime fp32 of the same weights): those the local engine scores with.
            if same_vectors(model_id, ctx.embedder.model_id):
                model_id = ctx.embedder.model_id
            cache = EmbeddingCache(ctx.embeddings_dir, model_id)
        texts = 0  # rows that go as text

        def frames() -> Iterator[pl.DataFrame]:
            nonlocal texts
            for frame in _input_frames(scope, cache):
                texts += frame.height - frame["text"].null_count()
                yield frame

        with staged(ctx.data_dir, staging) as (stage, local):
            inp, out = f"{stage}/input", f"{stage}/scores"
            write_parts(spark, frames(), inp, local,
                        schema="sentence_id long, text string" + (", embedding array<double>" if cache else ""))
            # Embedding is the work: spread the texts over every core (one staged file would be one task).
            tasks = text_tasks(spark, texts) if texts else None
            _apply_version(spark, ctx.registry.model_path(tracker_name, version=int(version)), inp, out,
                           columns=["text", "embedding"] if cache else ["text"], tasks=tasks)
            result = pl.concat(list(read_parts(spark, out, local)))
    finally:
        if own_session:
            spark.stop()
    joined = scope.select(pl.col("sentence_id").cast(pl.Int64)).join(
        result, on="sentence_id", how="left", maintain_order="left")
    if joined["score"].null_count():
        raise WorkbenchError(f"Spark returned no score for {joined['score'].null_count():,} sentences; see its log.")
    return joined


def text_tasks(spark: Any, texts: int) -> int:
    """Tasks for ``texts`` texts to embed: TEXT_TASK_ROWS each, and at least two per core."""
    return max(2 * spark.sparkContext.defaultParallelism, -(-texts // TEXT_TASK_ROWS))


def _apply_version(spark: Any, model_uri: str, inp: str, out: str, *, columns: list[str],
                   tasks: int | None = None) -> None:
    """Spark reads the staged input (in ``tasks`` round-robin partitions when given), applies the
    version's pyfunc and writes (sentence_id, score, detected) as Parquet under ``out``."""
    import logging

    # env_manager="local" is the point (executors run this environment); MLflow warns about it.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow.pyfunc
        from pyspark.sql import functions as F

        udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="score double, detected boolean",
                                      env_manager="local")
        df = spark.read.parquet(inp)
        if tasks:
            df = df.repartition(tasks)
        scored = df.select("sentence_id", udf(F.struct(*[F.col(c) for c in columns])).alias("r")).select(
            "sentence_id", F.col("r.score").alias("score"), F.col("r.detected").alias("detected"))
        scored.write.mode("overwrite").parquet(out)
