"""Fixtures for activation, results and publishing: a private copy of the session's trained demo
workspace (60 calls, tracker "Asking for a discount" with versions 1 and 2) per test, and small
batches of new calls to import."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.conftest import tiny_corpus
from tests.demo_workspace import DEMO_TRACKER, END_DATE, demo_workspace, private_copy

AS_OF = END_DATE  # the demo calls are dated in the 12 months before it


@pytest.fixture
def live_ws(tmp_path_factory, tmp_path, embedder, request):
    from workbench import Workspace

    template = demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))
    return Workspace(private_copy(template, tmp_path / "ws"), model=embedder)


@pytest.fixture
def tracker(live_ws):
    return live_ws.tracker(DEMO_TRACKER)


def new_calls(n: int = 2, *, start: int = 900, when: dt.datetime | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """n external calls dated after the demo corpus, each with the customer asking for a better
    price ("Can you do a better price?") among ordinary lines."""
    calls, utts = tiny_corpus(n, start=start)
    base = when or dt.datetime(2026, 7, 6, 15, 0, tzinfo=dt.timezone.utc)
    calls = calls.with_columns(
        pl.Series("started_at", [base + dt.timedelta(days=i) for i in range(n)], dtype=pl.Datetime("us", "UTC")),
        pl.lit(True).alias("is_external"), pl.lit("SMB").alias("team"))
    return calls, utts
