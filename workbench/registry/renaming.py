"""Renaming a tracker in MLflow: its experiment and its registered model follow the new name.

Versions, aliases (``published``) and runs are kept: MLflow renames a registered model with its
versions and aliases, and an experiment with its runs. The runs' ``workbench.tracker`` tag keeps
the name they were trained under, as a record of history.
"""
from __future__ import annotations

from workbench.registry.names import TAG_MODEL_NAME, TAG_NOTE, TAG_TRACKER, experiment_name, registered_model_name


def rename_tracker(registry, old_name: str, new_name: str) -> None:
    """Move a tracker's experiment and registered model from ``old_name`` to ``new_name``
    (either may not exist yet: a tracker before its first training has neither)."""
    client = registry.client
    old_model, new_model = registered_model_name(old_name), registered_model_name(new_name)
    experiment = registry.store.experiment(old_name)
    if experiment is not None:
        client.rename_experiment(experiment.experiment_id, experiment_name(new_name))
        client.set_experiment_tag(experiment.experiment_id, TAG_TRACKER, new_name)
        client.set_experiment_tag(experiment.experiment_id, TAG_MODEL_NAME, new_model)
        client.set_experiment_tag(experiment.experiment_id, TAG_NOTE,
                                  f"Trainings of the tracker “{new_name}”, one run per round "
                                  f"(called “{old_name}” before).")
    if old_model == new_model:
        return
    from mlflow.exceptions import MlflowException  # here: opening a workspace must not load MLflow

    try:
        client.rename_registered_model(old_model, new_model)
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    # The versions' recorded model hashes follow, so they keep being checked under the new name.
    registry.artefacts.rename(old_model, new_model)
