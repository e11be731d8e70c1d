"""Comparing a run with a stored record (the golden tests): numbers to 1e-12, the rest exactly."""
from __future__ import annotations

import math

import pytest


def assert_same(got, want, path: str, *, new_fields: bool = False) -> None:
    """``got`` equals the record ``want``: the same structure, numbers within 1e-12 (a machine
    whose BLAS sums in another order may differ in the last bits). ``new_fields``: a dict of
    ``got`` may hold keys the record has not (fields added since it was written)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and (new_fields or set(got) == set(want)), path
        for key, value in want.items():
            assert_same(got[key], value, f"{path}.{key}", new_fields=new_fields)
    elif isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]", new_fields=new_fields)
    elif isinstance(want, float):
        assert isinstance(got, (int, float)), path
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12, abs=1e-12), path
    else:
        assert got == want, path
