"""What every `workbench` subcommand shares: the workspace it works on."""
from __future__ import annotations

from typing import Any


def open_workspace(args: Any):
    """The workspace named by --workspace (else $WORKBENCH_WORKSPACE, else the repository),
    embedding with --model when one is given."""
    from workbench.workspace import Workspace

    return Workspace(args.workspace, model=getattr(args, "model", None))
