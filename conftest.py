"""The suite's plugins that reach beyond tests/: the notebooks' checks (nbval over notebooks/,
against a fixture workspace, see tests/notebook_checks.py), and how pytest-xdist shares the
tests out between its workers (the README's test command runs two)."""
import os

import pytest

from workbench.core.settings import use_offline_environment

use_offline_environment()  # before any kernel starts: the notebooks' kernels inherit it

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One compute thread per worker (and per process it starts: kernels, CLI runs), set before
    # torch or numpy is imported. Two workers each running torch's default two threads on two
    # cores spin against each other: two processes embedding 3,000 sentences took 38 s each
    # with two threads and 21-23 s with one (one process alone, two threads: 11 s).
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")

pytest_plugins = ["tests.notebook_checks"]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, called only when it runs workers
def pytest_xdist_make_scheduler(config, log):
    """A test file's tests go to one worker together, so a module's fixtures are built once; the
    notebooks all go to one worker, in order, because they share one workspace (notebook 7 shows
    the tracker notebook 6 activated). tests/trackers/ goes whole to one worker: it alone uses the
    150-call fixture, so one worker builds it while the other builds the 60-call one, and no
    worker sits waiting on another's build (a second trackers file had waited 57 s)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFileNotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            for folder in ("notebooks/", "tests/trackers/"):
                if path.startswith(folder):
                    return folder
            return path

    return ByFileNotebooksTogether(config, log)
