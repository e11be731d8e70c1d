"""The suite's plugins that reach beyond tests/: the notebooks' checks (nbval over notebooks/,
against a fixture workspace, see tests/notebook_checks.py), and how pytest-xdist shares the
tests out between its workers (the README's test command runs two)."""
import pytest

from workbench.core.settings import use_offline_environment

use_offline_environment()  # before any kernel starts: the notebooks' kernels inherit it

pytest_plugins = ["tests.notebook_checks"]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, called only when it runs workers
def pytest_xdist_make_scheduler(config, log):
    """A test file's tests go to one worker together, so a module's fixtures are built once; the
    notebooks all go to one worker, in order, because they share one workspace (notebook 7 shows
    the tracker notebook 6 activated)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFileNotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.startswith("notebooks/") else path

    return ByFileNotebooksTogether(config, log)
