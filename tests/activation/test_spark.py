"""The Spark engine: the same backfill through a real local Spark session gives the same results."""
from __future__ import annotations

import shutil

import pytest

from tests.activation.conftest import AS_OF

pytest.importorskip("pyspark", reason="the optional extra 'spark' (pyspark) is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 (not found on PATH)")
    from workbench.activation.spark import session

    s = session("local[2]")
    yield s
    s.stop()


def test_spark_backfill_equals_the_local_engine(live_ws, tracker, spark):
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    local = tracker.results()
    result = tracker.activate(12, as_of=AS_OF, progress=False, verbose=False, engine="spark", spark=spark)
    assert result.engine == "spark" and result.sentences_scored == int(local.calls["sentences"].sum())
    remote = tracker.results()
    a, b = local.detections.sort("sentence_id"), remote.detections.sort("sentence_id")
    assert a.height > 0 and a["sentence_id"].to_list() == b["sentence_id"].to_list()
    assert (a["score"] - b["score"]).abs().max() < 1e-6
    cols = ["call_id", "sentences", "mentions"]
    assert local.calls.select(cols).sort("call_id").equals(remote.calls.select(cols).sort("call_id"))
    assert not (live_ws.data_dir / ".spark-staging").exists() or not any((live_ws.data_dir / ".spark-staging").iterdir())
