"""Names and numbers the whole workbench agrees on, and the environment a model loads in.

Each is defined here once; every module imports it from here. Nothing in this module changes
the process when it is imported: ``use_offline_environment()`` is called by the code that
loads a model, right before it does.
"""
from __future__ import annotations

import os
from pathlib import Path

# The MLflow alias of the version a tracker scores calls with (activation, publishing, bundles).
PUBLISHED_ALIAS = "published"

# Four rounds of 25 tags make a basic model; ten is the most the workflow asks for.
BASIC_MODEL_ROUNDS = 4
MAX_ROUNDS = 10

# The workspace a command, a notebook or a served dashboard uses when none is named.
ENV_WORKSPACE = "WORKBENCH_WORKSPACE"
# A local sentence-transformers model folder to embed with instead of the bundled one.
ENV_MODEL = "WORKBENCH_MODEL"
# What runs the embedding model for a process: "torch" or "onnx" (ONNX Runtime, same weights). Each
# workspace records its own (workbench.embedding.backend: onnx for new ones where it is installed);
# this setting chooses for a new workspace, and a workspace recorded otherwise refuses it.
ENV_EMBEDDING_BACKEND = "WORKBENCH_EMBEDDING_BACKEND"

# The workbench runs without a network: a model file that is missing must be an error, never a
# silent download attempt. huggingface_hub and transformers read these when they are imported.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
}

# Tools that would phone home (MLflow's telemetry) and then stall or log errors without a route
# to the internet; set for the servers the workbench starts.
NO_TELEMETRY_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


def user_cache_dir() -> Path:
    """Where derived files shared by all workspaces of this user live ($XDG_CACHE_HOME/workbench):
    files rebuilt from installed packages (an empty MLflow store, an exported ONNX graph)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "workbench"


def use_offline_environment() -> None:
    """Set the offline variables, keeping any value the user set (an environment that wants the
    hub says so itself). Call it before the first import of transformers or huggingface_hub."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


# MLflow as the registry runs it: no telemetry, and no progress bar for copying two small files.
MLFLOW_ENVIRONMENT = {**NO_TELEMETRY_ENVIRONMENT, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def use_quiet_mlflow_environment() -> None:
    """Set MLflow's variables, keeping any value the user set. MLflow reads them when it is
    imported, so ``workbench.registry`` calls this before any of its modules imports mlflow."""
    for name, value in MLFLOW_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
