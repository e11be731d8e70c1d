"""The numbered notebooks under nbval, against a fixture workspace (never the user's).

pyproject's addopts run nbval in its lax mode over notebooks/ (see the README's Tests): every
code cell must run without raising, and the cells tagged `nbval-check-output` (the dashboards,
whose stored text/plain is what they show, see workbench/widgets/_text.py, and the printed
results) must show what the notebook stores, after tests/nbval_sanitize.cfg has blanked what
changes from run to run. These hooks (loaded by the root conftest.py) give each notebook's
kernel a private copy of the session's demo workspace (tests/demo_workspace.py) through the
notebooks' own variables, and `--nbval-refresh` rewrites the stored outputs from a run.
"""
from __future__ import annotations

import os
import re
import types
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from tests.demo_workspace import copy_with_tracker, session_embedder
from workbench.registry.relocation import relocate

CHECK_TAG = "nbval-check-output"
# Checked cells whose numbers are not compared, only their words (numbers_blanked).
WORDS_TAG = "nbval-compare-words"
_NUMBER = re.compile(r"\d[\d,.]*")
TAGGING_TRACKER = "Notebook tagging"  # notebook 3 tags this one, so the demo tracker stays as trained
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WORKSPACE = pytest.StashKey[Path]()
_REFRESHED = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--nbval-refresh", action="store_true",
                     help="run the notebooks (with --nbval-lax) and store the outputs of their cells tagged "
                          f"'{CHECK_TAG}' as the new reference, instead of comparing them")


def pytest_configure(config: pytest.Config) -> None:
    # nbval opens the sanitiser relative to the working folder; addopts name it from the root.
    name = config.getoption("nbval_sanitize_with", None)
    if name and not Path(name).is_absolute() and not Path(name).exists():
        config.option.nbval_sanitize_with = str(config.rootpath / name)


def is_notebook_cell(item: pytest.Item) -> bool:
    from nbval.plugin import IPyNbCell

    return isinstance(item, IPyNbCell)


def notebook_workspace(config: pytest.Config) -> Path:
    """One private copy of the demo workspace for all the notebooks of a session, in order:
    notebook 7's board shows the tracker notebook 6 activated."""
    if _WORKSPACE not in config.stash:
        request = types.SimpleNamespace(config=config)  # what copy_with_tracker reads: the cache
        # config._tmp_path_factory is the session's tmp_path_factory: the demo workspace is built
        # once under its base temp, for the widget, browser and notebook tests alike.
        path = copy_with_tracker(config._tmp_path_factory, session_embedder(), request, "notebooks", TAGGING_TRACKER)
        # Point the copied MLflow store at its own folder now, so that no notebook shows the
        # one-time notice (with the fixture's paths) of the first opener of a moved store.
        relocate(path / "mlruns")
        config.stash[_WORKSPACE] = path
    return config.stash[_WORKSPACE]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """nbval starts a notebook's kernel in the setup of its first cell: the kernel inherits the
    workspace and tracker set here, and the test process gets its own environment back."""
    if not is_notebook_cell(item) or item.parent.kernel is not None:
        return (yield)
    names = ("WORKBENCH_WORKSPACE", "WORKBENCH_TRACKER")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["WORKBENCH_WORKSPACE"] = str(notebook_workspace(item.config))
    if item.path.name.startswith("03"):
        os.environ["WORKBENCH_TRACKER"] = TAGGING_TRACKER
    else:
        os.environ.pop("WORKBENCH_TRACKER", None)  # the notebook's default: the demo tracker
    try:
        return (yield)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    refreshing = config.getoption("nbval_refresh")
    for item in items:
        if not is_notebook_cell(item):
            continue
        if refreshing:
            item.options["check"] = False  # run and record; the old outputs are being replaced
        elif WORDS_TAG in item.cell.metadata.get("tags", []):
            item.sanitize = numbers_blanked(item.sanitize)


def numbers_blanked(sanitise: Callable[[str], str]) -> Callable[[str], str]:
    """``sanitise``, then every number written as N: for a cell tagged WORDS_TAG, whose figures
    come from a model fitted on two rounds of the fixture and so move with the machine's floating
    point (the same code and fixture gave notebook 4's hit-rate bound as 23% on one machine and
    27% on another). Its wording, sections, warnings and advice are still compared, the stored
    outputs keep their numbers, and the figures themselves are tested in tests/training/."""
    def blank(text: str) -> str:
        return _NUMBER.sub("N", sanitise(text))
    return blank


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    result = yield
    if is_notebook_cell(item) and item.config.getoption("nbval_refresh"):
        outputs = [stored_output(out, item.sanitize) for out in item.test_outputs]
        item.config.stash.setdefault(_REFRESHED, {}).setdefault(item.path, {})[item.cell_num] = outputs
    return result


def stored_output(out, sanitise) -> nbformat.NotebookNode:
    """An output as the notebook keeps it: its text sanitised (no machine paths, timings or
    window-dependent counts in the repository; the comparison blanks them anyway), without
    widget model ids (meaningless once the kernel is gone; the text beside them stays) and
    without pictures (nbval does not compare them, and they would bloat every refresh's diff)."""
    out = nbformat.from_dict(dict(out))
    if "text" in out:
        out["text"] = sanitise(out["text"])
    if "data" in out:
        out["data"] = {k: sanitise(v) for k, v in out["data"].items() if k.startswith("text/")}
        out["metadata"] = {}
    return out


def refresh(path: Path, cell_outputs: dict[int, list]) -> None:
    """Store the run's outputs in the tagged cells; every other cell is kept without outputs."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if sorted(cell_outputs) != list(range(len(code))):
        raise pytest.UsageError(f"--nbval-refresh: {path.name} did not run every cell; run the whole notebook")
    for n, cell in enumerate(code):
        tagged = CHECK_TAG in cell.metadata.get("tags", [])
        cell.execution_count = n + 1 if tagged else None
        cell.outputs = cell_outputs[n] if tagged else []
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out["execution_count"] = n + 1
    nbformat.validate(nb)
    nbformat.write(nb, path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    runs = session.config.stash.get(_REFRESHED, {})
    if exitstatus != 0 and runs:
        print("\nnbval-refresh: a notebook cell failed; no stored output was changed")
        return
    for path, cell_outputs in runs.items():
        refresh(Path(path), cell_outputs)
        print(f"\nnbval-refresh: stored the outputs of {path.name}")
