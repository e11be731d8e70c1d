"""The suite's plugins that reach beyond tests/: the notebooks' checks (nbval over notebooks/,
against a fixture workspace), see tests/notebook_checks.py."""
from workbench.core.settings import use_offline_environment

use_offline_environment()  # before any kernel starts: the notebooks' kernels inherit it

pytest_plugins = ["tests.notebook_checks"]
