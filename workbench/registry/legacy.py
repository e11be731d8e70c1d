"""Reading the model of a version written before models were plain data, without running it.

Until linear_model.json, a version's model folder held ``artifacts/classifier.joblib``: a joblib
pickle of ``workbench.trackers.tracker._ProbabilityModel`` wrapping
``workbench.training.model.TrackerModel``, whose ``lr_`` is a scikit-learn LogisticRegression and
whose ``threshold_`` is on the raw decision scale (the wrapper's probability threshold is 0.5).
Workspaces, their mlruns and every bundle made then hold such files.

Unpickling runs whatever the file names, so this reader never imports a class the file asks for:
``find_class`` answers from a short allow-list of numpy's array reconstruction and joblib's array
wrapper, and maps the three model classes to plain stand-ins that only collect their attributes.
Anything else (``os.system`` in a crafted bundle, a class that moved) is refused with an error
naming the file. The coefficients, intercept and threshold are then read off the stand-ins.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

from workbench.core.errors import ValidationError
from workbench.registry.linear_model import LinearTrackerModel

CLASSIFIER_FILE = Path("artifacts", "classifier.joblib")
CONFIG_FILE = Path("artifacts", "tracker_model.json")


class UnsafeModelError(ValidationError):
    """A model file that asks for something outside the legacy reader's allow-list."""


class _Attributes:
    """A stand-in for a pickled object: its state, and nothing it could run."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise TypeError(f"unexpected pickled state {type(state).__name__}")
        self.__dict__.update(state)


class _LegacyProbabilityModel(_Attributes):
    """workbench.trackers.tracker._ProbabilityModel: ``model`` is the TrackerModel."""


class _LegacyTrackerModel(_Attributes):
    """workbench.training.model.TrackerModel: ``lr_`` and ``threshold_``."""


class _LegacyLogisticRegression(_Attributes):
    """sklearn's LogisticRegression: ``coef_`` and ``intercept_``."""


def _numpy_globals() -> dict[tuple[str, str], Any]:
    # numpy 2 moved numpy.core to numpy._core; files written under either name must load.
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(0).__reduce__()[0]
    found = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = reconstruct
        found[(module, "scalar")] = scalar
    return found


_ALLOWED: dict[tuple[str, str], Any] = {
    **_numpy_globals(),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): NumpyArrayWrapper,
    ("workbench.trackers.tracker", "_ProbabilityModel"): _LegacyProbabilityModel,
    ("workbench.training.model", "TrackerModel"): _LegacyTrackerModel,
    ("sklearn.linear_model._logistic", "LogisticRegression"): _LegacyLogisticRegression,
}


class _RestrictedUnpickler(NumpyUnpickler):
    """joblib's unpickler (arrays stored beside the pickle stream) limited to ``_ALLOWED``."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeModelError(
                self.filename, f"asks to load {module}.{name}, which a tracker model never holds",
                "Do not use this file: it is not a model the workbench wrote, and loading it could run code",
            ) from None

    def load_build(self) -> None:
        """BUILD: set an object's state; a joblib array wrapper is then replaced by its array,
        read from the bytes that follow. Unlike joblib's own, an object array is refused: its
        items would be a nested pickle, and a tracker model holds numbers only."""
        pickle._Unpickler.load_build(self)
        wrapper = self.stack[-1]
        if isinstance(wrapper, NumpyArrayWrapper):
            if wrapper.subclass is not np.ndarray or not isinstance(wrapper.dtype, np.dtype) or wrapper.dtype.hasobject:
                raise UnsafeModelError(self.filename, f"holds an array of {wrapper.dtype!r}",
                                       "Do not use this file: tracker models hold numbers only")
            self.stack[-1] = wrapper.read(self, self.ensure_native_byte_order)

    dispatch[pickle.BUILD[0]] = load_build


def read_legacy_model(model_dir: Path | str) -> LinearTrackerModel:
    """The plain model of a version folder written before linear_model.json (see module doc)."""
    model_dir = Path(model_dir)
    path = model_dir / CLASSIFIER_FILE
    obj = _unpickle(path)
    inner = obj.__dict__.get("model") if isinstance(obj, _LegacyProbabilityModel) else None
    lr = inner.__dict__.get("lr_") if isinstance(inner, _LegacyTrackerModel) else None
    if not isinstance(lr, _LegacyLogisticRegression):
        raise ValidationError(str(path), f"holds a {type(obj).__name__.lstrip('_')}, not the workbench's "
                                         "_ProbabilityModel(TrackerModel)", "Retrain the tracker")
    config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    # The wrapper detected at probability 0.5 (its class attribute); anything else is not ours.
    if float(config.get("threshold", 0.5)) != 0.5:
        raise ValidationError(str(model_dir / CONFIG_FILE), f"has threshold {config['threshold']}, expected 0.5")
    coef, intercept = lr.__dict__.get("coef_"), lr.__dict__.get("intercept_")
    if not isinstance(coef, np.ndarray) or not isinstance(intercept, np.ndarray) or coef.shape[0] != 1:
        raise ValidationError(str(path), "holds a logistic regression without binary coefficients")
    return LinearTrackerModel(coef=coef[0], intercept=float(intercept[0]),
                              threshold=float(inner.__dict__["threshold_"]),
                              embedding_model=str(config["embedding_model"]))


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return _RestrictedUnpickler(str(path), fh, ensure_native_byte_order=True).load()
    except UnsafeModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which one
        raise ValidationError(str(path), f"cannot be read as a legacy tracker model ({type(exc).__name__}: {exc})",
                              "Retrain the tracker or export it again") from exc
