"""Malformed imports are refused with a clear message and change nothing (issue 14, item 9)."""
from __future__ import annotations

from tests.reliability.input_cases import malformed_cases, run_input_cases


def test_every_malformed_import_is_refused_and_leaves_the_workspace_byte_identical(tmp_path, embedder):
    counts = run_input_cases(tmp_path, embedder)
    assert counts["cases"] == len(malformed_cases(tmp_path)) >= 10
    assert counts["refused"] == counts["cases"], counts["details"]
    assert counts["workspace_changed"] == counts["unclear_messages"] == 0, counts["details"]
