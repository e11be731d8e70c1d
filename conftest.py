"""The suite's plugins that reach beyond tests/: the notebooks' checks (nbval over notebooks/,
against a fixture workspace, see tests/notebook_checks.py), and how pytest-xdist shares the
tests out between its workers (the README's test command runs two)."""
import pytest

from workbench.core.settings import use_offline_environment

use_offline_environment()  # before any kernel starts: the notebooks' kernels inherit it

pytest_plugins = ["tests.notebook_checks"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, a test file's tests go to one worker together, so a module's
    fixtures are built once; the notebooks all go to one worker, in order, because they share one
    workspace (notebook 7 shows the tracker notebook 6 activated)."""
    for item in items:
        folder = item.path.parent
        group = "notebooks" if folder.name == "notebooks" else str(item.path.relative_to(config.rootpath))
        item.add_marker(pytest.mark.xdist_group(group))
