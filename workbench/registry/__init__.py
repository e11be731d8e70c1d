"""MLflow runs, registered versions and aliases; a version's model as plain data; bundles' versions.

Nearly every module here imports mlflow (relocation.py only sqlite3), which reads its environment when it is imported: the package
sets it first, once (``core.settings``), whichever of its modules is imported first.
"""
from workbench.core.settings import use_quiet_mlflow_environment

use_quiet_mlflow_environment()
