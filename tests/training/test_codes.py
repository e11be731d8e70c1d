import numpy as np
import pytest

from workbench.training.codes import in_codes


@pytest.mark.parametrize("seed", range(5))
def test_in_codes_is_np_isin(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 5000, 20_000)
    for wanted in (values[rng.choice(values.size, 25)], rng.integers(0, 9000, 40), values[:0],
                   np.array([4999, 0, 0]), np.array([-3, 7]), np.array([10**12, 7])):
        got = in_codes(values, wanted)
        assert got.dtype == bool and got.shape == values.shape
        assert np.array_equal(got, np.isin(values, wanted))
    signed = values - 100  # negative codes go to np.isin
    assert np.array_equal(in_codes(signed, signed[:30]), np.isin(signed, signed[:30]))
    assert np.array_equal(in_codes(values.astype(np.uint32), [5, 6]), np.isin(values, [5, 6]))
    assert in_codes(values[:0], [1]).shape == (0,)
