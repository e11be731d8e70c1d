"""The estimate's figures are those recorded from the code of commit 33fb494 (see
golden_estimate.py): same inputs and seed, same numbers to 1e-12."""
import json

import numpy as np
import pytest

from .golden_estimate import CASES, CASES_PATH, EXPECTED_PATH, run_case
from .records import assert_same


@pytest.fixture(scope="module")
def stored():
    return dict(np.load(CASES_PATH))


@pytest.fixture(scope="module")
def expected():
    return json.loads(EXPECTED_PATH.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_estimate_matches_the_recorded_figures(name, stored, expected):
    assert_same(run_case(name, stored), expected[name], name, new_fields=True)  # fields added since keep no record


def test_the_record_covers_every_path():
    # The cases reach each part of the estimator: both estimates, either one missing, turns,
    # no round record, and options other than the defaults.
    record = json.loads(EXPECTED_PATH.read_text())
    ests = [case["estimate"] for case in record.values()]
    assert {e["unit"] for e in ests} == {"sentence", "turn"}
    assert any(e["reference_precision"] is None and e["honest_precision"] is not None for e in ests)
    assert any(e["honest_precision"] is None for e in ests)
    assert any(e["n_probe_tags"] == 0 and e["honest_precision"] is not None for e in ests)
    assert any(e["confidence"] != 0.9 and e["reference_repeats"] == 5 for e in ests)
