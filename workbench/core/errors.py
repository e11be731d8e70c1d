"""Errors the workbench raises for bad input.

Every message names where the problem is (file, row, column or field) and what to do,
so a user can fix their data without reading our code.
"""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base class for errors the user can act on."""


class InputError(WorkbenchError, ValueError):
    """Bad input data: names the source, the rows and the column at fault, and the fix."""

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        rows: list[int] | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.rows = list(rows or [])
        self.column = column
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
            where.append(f"row{'s' if len(self.rows) > 1 else ''} {shown}{more}")
        if self.column:
            where.append(f"column '{self.column}'")
        msg = (", ".join(where) + ": " if where else "") + self.problem
        if self.fix:
            msg += f". {self.fix}"
        return msg


class ValidationError(WorkbenchError, ValueError):
    """A tracker definition, example or setting that cannot be accepted; names the field."""

    def __init__(self, field: str, problem: str, fix: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}" + (f". {fix}" if fix else ""))


class NotFoundError(WorkbenchError, LookupError):
    """A tracker, call or sentence that does not exist in the workspace."""


class ConcurrentChangeError(WorkbenchError):
    """Another process changed the same record of the workspace at the same moment, or held the
    database for longer than we wait. Nothing of this call was written: it is safe to retry."""

    retryable = True

    def __init__(self, where: str, what: str) -> None:
        self.where = where
        self.what = what
        super().__init__(f"{where}: {what}. Nothing of this change was written; run it again.")


class ArtefactChanged(WorkbenchError, ValueError):
    """A version's model file that is not the one the workbench recorded when it trained or
    imported the version (replaced through MLflow's artifact API, or by hand). Loading it could run
    whatever it now holds, so the workbench refuses; names the tracker, version and file."""

    def __init__(self, tracker: str, version: int, file: str, problem: str, fix: str | None = None) -> None:
        self.tracker = tracker
        self.version = version
        self.file = file
        self.problem = problem
        self.fix = fix
        super().__init__(f"tracker '{tracker}' version {version}: {file} {problem}" + (f". {fix}" if fix else ""))
