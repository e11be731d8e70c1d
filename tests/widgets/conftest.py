"""Fixtures for driving the screens from Python: a trained demo workspace (built once per
session), trackers of its own for each test that tags, and tiny workspaces for the form."""
from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import pytest

from tests.conftest import tiny_corpus
from tests.demo_workspace import EXAMPLES, demo_workspace, private_copy

_names = itertools.count(1)


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory, embedder, request) -> Path:
    return demo_workspace(tmp_path_factory, embedder, getattr(request.config, "cache", None))


@pytest.fixture
def demo_ws(demo_path, embedder, tmp_path):
    """A private copy of the trained demo workspace: what a test tags or creates stays its own."""
    from workbench import Workspace

    return Workspace(private_copy(demo_path, tmp_path / "ws"), model=embedder)


@pytest.fixture
def new_tracker(demo_ws):
    """A tracker of the test's own on the demo corpus: tags from one test never reach another."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return demo_ws.create_tracker(f"Discount asks {next(_names)}", mentioned_by="customer", examples=EXAMPLES)


@pytest.fixture
def tiny_ws(tmp_path):
    """Six imported calls, not embedded: enough for forms and the corpus overview."""
    from workbench import Workspace

    ws = Workspace(tmp_path / "ws")
    calls, utts = tiny_corpus(12)
    ws.import_calls(calls, utts, embed=False, progress=False)
    return ws
