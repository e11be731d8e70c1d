"""Keyword trackers go live too: their phrases score the history and every new call."""
from __future__ import annotations

import polars as pl
import pytest

from tests.activation.conftest import AS_OF, new_calls
from workbench.core.errors import ValidationError


def test_keyword_tracker_backfills_scores_new_calls_and_feeds_search(live_ws):
    kt = live_ws.create_keyword_tracker("Better price", ["better price"], mentioned_by="customer")
    result = kt.activate(12, as_of=AS_OF, progress=False, verbose=False)
    assert kt.is_active and result.version == 0
    live = kt.results()
    expected = kt.detections(all_sentences=False)
    assert set(live.detections["sentence_id"]) == set(expected["sentence_id"])
    assert all("better price" in t.lower() for t in live.detections["text"])

    calls, utts = new_calls(2)  # each says "Can you do a better price?"
    scored = live_ws.import_calls(calls, utts, progress=False)
    assert scored.scored.get("Better price") == 2
    found = live_ws.search("Better price", date_from="2026-07-01")
    assert set(calls["call_id"]) <= set(found.calls["call_id"])

    with pytest.raises(ValidationError, match="Spark"):
        kt.activate(12, as_of=AS_OF, engine="spark", verbose=False)
    kt.deactivate()
    assert not kt.is_active
    later, later_utts = new_calls(1, start=950)
    assert "Better price" not in live_ws.import_calls(later, later_utts, progress=False).scored
    assert kt.results().detections.filter(pl.col("call_id").is_in(later["call_id"].implode())).height == 0


def test_the_calls_api_names_each_trackers_kind(live_ws, tracker):
    kt = live_ws.create_keyword_tracker("Better price", ["better price"], mentioned_by="customer")
    kt.activate(12, as_of=AS_OF, progress=False, verbose=False)
    tracker.activate(12, as_of=AS_OF, progress=False, verbose=False)
    doc = live_ws.calls_api()
    kinds = {t["name"]: t["type"] for c in doc["calls"] for t in c["content"]["trackers"]}
    assert kinds == {"Better price": "keyword", tracker.name: "smart"}
