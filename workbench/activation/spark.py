"""The backfill through Apache Spark, for corpora that outgrow one machine.

A published tracker version is an MLflow pyfunc that takes sentence embeddings (or texts) and
returns ``score`` and ``detected``, so ``mlflow.pyfunc.spark_udf`` applies it on the executors.
``workbench backfill TRACKER --engine spark`` (or ``t.activate(engine="spark")``) runs the same
backfill as the local engine through it, and stores the same detections:

1. the in-scope sentences (id, call and embedding) are written as Parquet to a staging folder,
2. Spark reads them, applies the version's UDF and writes the scores back as Parquet,
3. the workbench reads the scores and stores the detections as the local engine does.

Locally (the default, ``local[*]``) the staging folder is under the workspace. On a cluster, pass
``master`` (e.g. ``spark://host:7077``, ``yarn``) and a ``staging`` URI every executor can read
and write (``hdfs://…``, ``s3a://…``, or a shared mount); the executors need Python with mlflow,
numpy and pandas (the version's ``requirements.txt``), not the workbench.
Needs the optional extra ``spark`` (``pip install 'smart-tracker-workbench[spark]'``) and Java 17.
"""
from __future__ import annotations

import os
import shutil
import sys
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from workbench.activation.frames import detection_frames
from workbench.core.errors import WorkbenchError
from workbench.core.processes import owner_token

if TYPE_CHECKING:
    from workbench.activation.context import LiveContext

OWNER_FILE = "owner.json"  # the process staging in a local staging folder
STAGING_FOLDER = ".spark-staging"  # under the workspace's data/
_STAGE_ROWS = 200_000  # rows per staged Parquet file: a partition each when Spark reads them


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
               .config("spark.driver.memory", os.environ.get("WORKBENCH_SPARK_DRIVER_MEMORY", "2g")))
    for k, v in (config or {}).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_score(ctx: "LiveContext", tracker_name: str, version: int, scope: pl.DataFrame, *, spark: Any = None,
                staging: str | Path | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Score in-scope sentences (a frame with ``_row``) with a registered version through Spark;
    returns (detections, calls scored) exactly as the local engine's score_frame does."""
    import datetime as dt

    from workbench.embedding.matrix import SentenceMatrix

    require_pyspark()
    if scope.height == 0:
        return detection_frames(scope, np.zeros(0), np.zeros(0, dtype=bool), version, dt.datetime.now(dt.timezone.utc))
    own_session = spark is None
    spark = spark or session()
    staging = staging or os.environ.get("WORKBENCH_SPARK_STAGING") or None
    local_stage = staging is None
    stage = Path(staging) if staging is not None else ctx.data_dir / STAGING_FOLDER / uuid.uuid4().hex
    try:
        # A deep-trained version embeds with its own encoder: the executors get the texts, and
        # its pyfunc embeds them; any other version gets the workspace's embeddings.
        column = "text" if ctx.registry.encoder_path(tracker_name, version=int(version)) else "embedding"
        view = SentenceMatrix(ctx).view() if column == "embedding" else None
        rows = scope["_row"].to_numpy()
        inp, out = f"{stage}/input", f"{stage}/scores"
        if local_stage:
            Path(inp).mkdir(parents=True, exist_ok=True)
            # Removed below; a killed backfill cannot, so the next open removes it once this
            # process is gone (workbench.activation.recovery).
            (stage / OWNER_FILE).write_text(owner_token(), encoding="utf-8")
        for i, lo in enumerate(range(0, len(rows), _STAGE_ROWS)):
            part = rows[lo : lo + _STAGE_ROWS]
            frame = pl.DataFrame({
                "sentence_id": scope["sentence_id"][lo : lo + len(part)],
                column: scope["text"][lo : lo + len(part)] if view is None
                else pl.Series(view.embeddings(part).astype(np.float64), dtype=pl.List(pl.Float64)),
            })
            target = f"{inp}/part-{i:05d}.parquet"
            if local_stage:
                frame.write_parquet(target)
            else:  # a remote URI: let Spark write it
                spark.createDataFrame(frame.to_pandas()).write.mode("append").parquet(inp)
        model_uri = ctx.registry.model_path(tracker_name, version=int(version))
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
            scored = df.select("sentence_id", udf(F.struct(F.col(column))).alias("r")).select(
                "sentence_id", F.col("r.score").alias("score"), F.col("r.detected").alias("detected"))
            scored.write.mode("overwrite").parquet(out)
        if local_stage:
            result = pl.read_parquet(f"{out}/*.parquet")
        else:
            result = pl.from_pandas(spark.read.parquet(out).toPandas())
        joined = scope.select("sentence_id").join(result, on="sentence_id", how="left", maintain_order="left")
        if joined["score"].null_count():
            raise WorkbenchError(f"Spark returned no score for {joined['score'].null_count():,} sentences; see its log.")
        return detection_frames(scope, joined["score"].to_numpy(), joined["detected"].to_numpy(), int(version),
                       dt.datetime.now(dt.timezone.utc))
    finally:
        if local_stage:
            shutil.rmtree(stage, ignore_errors=True)
        if own_session:
            spark.stop()
