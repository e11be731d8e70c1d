"""The previous turn as context (an option measured on the quality benchmark)."""
import numpy as np
import pytest

from workbench.training.context import previous_turn_rows, with_previous_turn

from .conftest import unit


def test_each_sentence_gets_the_last_sentence_of_the_turn_before_in_its_call():
    # Rows out of order: call "b" first in the arrays; turn 7 of call "a" has two sentences.
    call_ids = np.array(["b", "a", "a", "a", "b", "a"])
    turns = np.array([3, 5, 7, 7, 4, 9])
    prev = previous_turn_rows(call_ids, turns)
    # a: turn 5 (row 1) opens the call; turn 7 (rows 2, 3) follows it; turn 9 follows row 3.
    assert prev.tolist() == [-1, -1, 1, 1, 0, 3]
    with pytest.raises(ValueError, match="one length"):
        previous_turn_rows(call_ids, turns[:3])


def test_features_join_the_previous_turn_and_stay_unit_vectors():
    rng = np.random.default_rng(0)
    X = unit(rng.normal(size=(4, 8)))
    call_ids, turns = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0])
    F = with_previous_turn(X, call_ids, turns, 0.5)
    assert np.allclose(np.linalg.norm(F, axis=1), 1, atol=1e-6)
    assert np.allclose(F[0], X[0]) and np.allclose(F[3], X[3])  # nothing said before them
    expected = unit(X[1] + 0.5 * X[0])
    assert np.allclose(F[1], expected, atol=1e-6)
    assert np.allclose(with_previous_turn(X, call_ids, turns, 0.0), X, atol=1e-6)
