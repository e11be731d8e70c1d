"""The stored tags as the session's arrays over a tracker's scope (``tracker_state.tag_arrays``), and the
session a tracker's settings make (``tracker_state.scope_session``)."""
from __future__ import annotations

import numpy as np
import polars as pl

from workbench.trackers.tracker_state import ScopeArrays, scope_session, tag_arrays
from workbench.training.estimate import configured_estimators


def test_tags_land_on_their_rows_found_by_sorted_ids_and_tags_outside_the_scope_are_left_out():
    ids = np.array([70, 10, 50, 30, 90], np.int64)  # the scope's rows, not in id order
    scope = ScopeArrays(frame=pl.DataFrame({"sentence_id": ids}), embeddings=np.zeros((5, 2), np.float32),
                        turns=np.arange(5), duplicates=np.arange(5))
    tags = pl.DataFrame({"sentence_id": [30, 5, 90, 70, 95, 10], "answer": ["yes", "no", "no", "not_sure", "yes", "no"],
                         "round_number": [1, 1, 2, None, 2, 3], "inclusion_prob": [0.5, None, None, 0.25, 0.1, None]})
    got = tag_arrays(scope, tags)
    np.testing.assert_array_equal(got["labels"], [-1, 0, -1, 1, 0])
    np.testing.assert_array_equal(got["shown"], [True, True, False, True, True])
    np.testing.assert_array_equal(got["tag_round"], [-1, 3, -1, 1, 2])
    np.testing.assert_array_equal(got["inclusion_prob"], [0.25, np.nan, np.nan, 0.5, np.nan])
    assert scope.ids_sorted[0].tolist() == [10, 30, 50, 70, 90]  # sorted once, kept with the scope
    empty = tag_arrays(scope, tags.clear())
    assert not empty["shown"].any() and (empty["labels"] == -1).all()


def test_the_verification_sampler_and_estimate_options_are_tracker_settings():
    scope = ScopeArrays(frame=pl.DataFrame({"sentence_id": np.arange(4), "call_id": ["a", "a", "b", "b"]}),
                        embeddings=np.eye(4, dtype=np.float32), turns=np.arange(4), duplicates=np.arange(4))
    plain = scope_session(scope, scope.embeddings, scope.embeddings[:1], None, {})
    assert plain.verification_samplers["precision"] == "detected_sample" and not plain.estimate_params
    session = scope_session(scope, scope.embeddings, scope.embeddings[:1], None, {
        "keep_model_while_verifying": True, "verification_samplers": {"precision": "detected_turns"},
        "estimate": {"detected_bands": 4}})
    assert session.keep_model_while_verifying and session.verification_samplers["precision"] == "detected_turns"
    assert session.verification_samplers["hit_rate"] == plain.verification_samplers["hit_rate"]
    assert configured_estimators(**session.estimate_params)[1].detected_bands == 4
