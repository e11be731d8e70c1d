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


# Seconds the longest scopes take in a fresh clone with `-n 2` on an idle 2-core machine:
# session 13's whole run under load (-p no:cacheprovider), each scope's wall time scaled by 0.517,
# the ratio of session 12's idle seconds to that run's for the dashboards, Spark, deep-version and
# trackers files (a file renamed since simply loses its place). pytest-xdist hands scopes out in
# order, by default the ones with the most tests first, which left the few-but-long files (browser
# dashboards, import kills, Spark) for the end, one worker running them while the other sat idle.
# Longest first, the two workers finish together.
# tests/trackers/test_tracker.py carries the 150-call fixture's build (tests/conftest.py), which
# its first test pays while the other worker's dashboards build the 60-call one. The other files
# of tests/trackers/ that use the 150-call fixture are short, so they are handed out after the
# long scopes, when it is built, and no worker waits on the other's build.
LONG_SCOPES = {
    "tests/trackers/test_tracker.py": 184, "tests/browser/test_dashboards.py": 176,
    "tests/activation/test_spark.py": 74, "tests/reliability/test_import_kills.py": 61,
    "tests/activation/test_deep_version.py": 55, "tests/widgets/test_tagging.py": 54, "notebooks/": 41,
    "tests/browser/test_serve.py": 38, "tests/test_registry.py": 35, "tests/trackers/test_shared_end_to_end.py": 35,
    "tests/test_embedding.py": 33, "tests/reliability/test_stale_state.py": 31, "tests/training/test_deep.py": 21,
    "tests/test_empty_store.py": 19, "tests/browser/test_reviewer.py": 19, "tests/reliability/test_artefacts.py": 15,
    "tests/activation/test_relocation.py": 15, "tests/trackers/test_figures_later.py": 14,
    "tests/test_workspace.py": 14, "tests/activation/test_scorer.py": 13, "tests/trackers/test_cli_trackers.py": 11,
    "tests/trackers/test_truth.py": 11, "tests/reliability/test_concurrency.py": 11, "tests/test_serve.py": 10,
    "tests/test_demo.py": 10,
}


def _scope(nodeid: str) -> str:
    """The unit a worker takes whole: a test file, or all of notebooks/."""
    path = nodeid.split("::", 1)[0]
    return "notebooks/" if path.startswith("notebooks/") else path


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
    the tracker notebook 6 activated)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFileNotebooksTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    # The workers' collection is already in the order wanted (pytest_collection_modifyitems).
    config.option.loadscopereorder = False
    return ByFileNotebooksTogether(config, log)
