"""The activation tests' fixtures (a private copy of the trained demo workspace, its tracker),
for the reliability tests that change a live workspace."""
from tests.activation.conftest import live_ws, tracker  # noqa: F401  (pytest fixtures)
