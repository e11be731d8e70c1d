"""The notebooks are run by nbval, not here (see tests/notebook_checks.py and the README's Tests).

These tests check what nbval compares against: each notebook stores the outputs of its cells
tagged `nbval-check-output`, and those outputs say what each screen must show on the fixture
workspace (nbval fails a run whose sanitised output differs, or whose cell raises). They also
check that the README's test command runs nbval, and that nbval with the sanitiser fails on a
changed output and on an error while letting run-to-run noise through.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat

from tests.demo_workspace import DEMO_TRACKER
from tests.notebook_checks import CHECK_TAG, TAGGING_TRACKER, WIDGET_VIEW

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SANITISER = REPO / "tests" / "nbval_sanitize.cfg"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

# What each notebook's checked cells show on the fixture workspace (in the stored reference,
# which every run must match): the screens' text, not only that their cells ran.
SHOWN = {
    "01_import_calls.ipynb": ["Workspace", "Calls", "Embedded", "[figure: Calls per month]", "Imported 0 calls",
                              "Every sentence is embedded already"],
    "02_create_tracker.ipynb": [f"Name\n{DEMO_TRACKER}", "[Create tracker]", f"Tracker('{TAGGING_TRACKER}'"],
    "03_tag_rounds.ipynb": [", round 1", "[YES]", "[NO]"],
    "04_performance_overview.ipynb": [DEMO_TRACKER, "Precision: detections that are right", "Activate",
                                      "[figure: "],
    "05_tracker_results.ipynb": [DEMO_TRACKER, "[figure: "],
    "06_activate_and_publish.ipynb": ["is active with version", "Create stream", "No streams yet", "mentions",
                                      "Diff of", "<PlainTextFigure"],
    "07_initiative_board.ipynb": ["Per team", DEMO_TRACKER, "[figure: ", "Deal: Choose a deal (or DEAL-"],
}


def code_cells(name: str) -> list:
    return [c for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells if c.cell_type == "code"]


def shown_text(cell) -> str:
    return "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def test_notebooks_store_what_nbval_compares():
    assert ALL == list(SHOWN)
    for name in ALL:
        nbformat.validate(nbformat.read(NOTEBOOKS / name, as_version=4))
        code = code_cells(name)
        assert 'os.environ.get("WORKBENCH_WORKSPACE", "..")' in code[0].source
        assert all(len(c.source.splitlines()) <= 4 for c in code[1:]), f"{name}: keep cells to a line or two"
        checked = [c for c in code if CHECK_TAG in c.metadata.get("tags", [])]
        assert checked, f"{name}: no cell is tagged {CHECK_TAG}, so nbval compares nothing in it"
        for n, cell in enumerate(code):
            if cell in checked:  # nbval skips a cell with no execution count: it would check nothing
                assert cell.execution_count == n + 1 and cell.outputs, f"{name}, cell {n}: refresh its outputs"
            else:  # nothing stale for a reader: a cell nbval does not compare keeps no output
                assert cell.execution_count is None and not cell.outputs, f"{name}, cell {n} has outputs"
            assert WIDGET_VIEW not in json.dumps(cell.outputs), f"{name}, cell {n} stores a widget model id"
            assert "Traceback" not in json.dumps(cell.outputs) and "/tmp/" not in shown_text(cell)
        text = "\n".join(shown_text(c) for c in checked)
        missing = [s for s in SHOWN[name] if s not in text]
        assert not missing, f"{name}: the stored outputs do not show {missing}"


def test_the_readme_test_command_runs_the_notebooks_under_nbval():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks" in config["testpaths"]
    assert "--nbval-lax" in config["addopts"] and f"--nbval-sanitize-with {SANITISER.relative_to(REPO)}" in config[
        "addopts"]
    assert (REPO / ".ci" / "run").read_text().rstrip().endswith(".venv/bin/python -m pytest -n 2")
    assert "nbval" in (REPO / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]


CASES = [  # (source, stored output, tagged): what nbval with our sanitiser must pass and fail
    ('print("Saved /tmp/pytest-of-ci/pytest-7/ws in 0.4 s, run 3f2a9c0e5b6d4e1f8a7b6c5d4e3f2a1b")',
     "Saved /tmp/pytest-of-me/pytest-1/ws in 12 s, run 0123456789abcdef0123456789abcdef\n", True),  # noise: passes
    ('print("27 calls, 1,136 sentences")', "28 calls, 1,136 sentences\n", True),  # a changed count: fails
    ('print("anything")', "something else\n", False),  # untagged: output not compared, passes
    ('raise ValueError("a cell that raises")', "", False),  # fails, tagged or not
]


def test_nbval_with_the_sanitiser_fails_on_changed_output_and_errors(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    for n, (source, stored, tagged) in enumerate(CASES):
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [CHECK_TAG]} if tagged else {})
        if stored:
            cell.execution_count = n + 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
        nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "check.ipynb")
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-current-env", "--nbval-sanitize-with", str(SANITISER), "-rf", "check.ipynb"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "2 failed, 2 passed" in run.stdout, run.stdout[-3000:]
    assert "Cell 1" in run.stdout and "28 calls" in run.stdout and "ValueError" in run.stdout
