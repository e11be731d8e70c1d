import numpy as np
import pytest

from workbench.training import Pool


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def clustered():
    """600 rows in 3 tight clusters around orthogonal directions; cluster 0 is the concept."""
    rng = np.random.default_rng(0)
    d = 16
    centres = np.eye(d, dtype=np.float32)[:3]
    which = np.repeat([0, 1, 2], [60, 240, 300])
    X = unit(centres[which] + 0.25 * rng.normal(size=(600, d)))
    truth = (which == 0).astype(np.int8)
    examples = unit(centres[[0]] + 0.1 * rng.normal(size=(5, d)))
    return X, truth, examples, which


def make_pool(X, examples, labels=None, scores=None, excluded=None, description=None, round_number=0,
              groups=None):
    labels = np.full(len(X), -1, np.int8) if labels is None else labels
    return Pool(X, labels, examples, description, excluded=excluded, scores=scores,
                round_number=round_number, threshold=0.0, groups=groups)


def answer_rounds(session, truth, rounds=3):
    """Plan and answer ``rounds`` rounds of ``session`` from ``truth``, as the benchmark's user does."""
    for number in range(1, rounds + 1):
        plan = session.plan_round(number)
        session.tag(plan.indices, truth[plan.indices], number, plan.inclusion_prob)
    return session
