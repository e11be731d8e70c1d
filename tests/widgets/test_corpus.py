"""The corpus overview of notebook 1."""
from __future__ import annotations

from tests.conftest import tiny_corpus
from workbench import Workspace
from workbench.widgets import CorpusOverview


def test_overview_of_an_imported_corpus(tiny_ws):
    view = CorpusOverview(tiny_ws)
    assert "<th>Calls</th><td>12</td>" in view.summary.value
    assert f"<th>Sentences</th><td>{tiny_ws.sentences.height}</td>" in view.summary.value
    assert view.figures.value.count("<img") == 4
    for title in ("Calls per month", "Calls per team", "Utterances per side", "Sentences per call"):
        assert f'alt="{title}' in view.figures.value


def test_empty_workspace_then_import_through_the_overview(tmp_path):
    view = CorpusOverview(Workspace(tmp_path / "ws"))
    assert "is empty" in view.summary.value and "<img" not in view.figures.value
    calls, utts = tiny_corpus(3)
    result = view.import_calls(calls, utts, embed=False, progress=False)
    assert result.imported_calls == 3
    assert "<th>Calls</th><td>3</td>" in view.summary.value and view.figures.value.count("<img") == 4
    assert "<th>Embedded</th><td>0</td>" in view.summary.value
