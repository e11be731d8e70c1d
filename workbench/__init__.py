from workbench.workspace import Workspace

__all__ = ["Workspace"]
