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


# Seconds the longest scopes took in a fresh clone with `-n 2` (session 11's durations, less what
# session 12 measured it saved; a file renamed since simply loses its place). pytest-xdist hands scopes out in order, by default the
# ones with the most tests first, which left the few-but-long files (browser dashboards, import
# kills, Spark) for the end, one worker running them while the other sat idle: the idle runs
# used 83-90% of the two cores. Longest first, the two workers finish together.
LONG_SCOPES = {
    "tests/trackers/": 225, "tests/browser/test_dashboards.py": 110, "notebooks/": 100,
    "tests/reliability/test_import_kills.py": 73, "tests/activation/test_spark.py": 71,
    "tests/browser/test_serve.py": 56, "tests/test_registry.py": 35, "tests/widgets/test_tagging.py": 49,
    "tests/activation/test_deep_version.py": 45, "tests/test_text_normalisation.py": 31,
    "tests/test_embedding.py": 28, "tests/browser/test_reviewer.py": 25,
    "tests/reliability/test_stale_state.py": 25, "tests/reliability/test_artefacts.py": 22,
    "tests/test_demo.py": 22,
}


def _scope(nodeid: str) -> str:
    """The unit a worker takes whole: a test file, or all of notebooks/ or tests/trackers/."""
    path = nodeid.split("::", 1)[0]
    for folder in ("notebooks/", "tests/trackers/"):
        if path.startswith(folder):
            return folder
    return path


def pytest_collection_modifyitems(config, items):
    """On xdist workers: the longest scopes first (LONG_SCOPES), then the others by their number
    of tests, as xdist would; a scope's own tests keep their order (the notebooks run 01 to 07)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    sizes: dict[str, int] = {}
    for item in items:
        sizes[_scope(item.nodeid)] = sizes.get(_scope(item.nodeid), 0) + 1
    items.sort(key=lambda item: (-LONG_SCOPES.get(_scope(item.nodeid), 0), -sizes[_scope(item.nodeid)],
                                 _scope(item.nodeid)))


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
            return _scope(nodeid)

    # The workers' collection is already in the order wanted (pytest_collection_modifyitems).
    config.option.loadscopereorder = False
    return ByFileNotebooksTogether(config, log)
