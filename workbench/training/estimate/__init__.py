"""Estimating a tracker's precision and hit rate from the user's tags.

Two estimators, each a scikit-learn style object with its parameters in ``__init__``
(``get_params()``, ``set_params()``), compute their part of a ``PerformanceEstimate``
(``workbench.training.performance`` says what the figures mean):

- ``ReferenceEstimate`` (``reference``): the reference product's repeated 90/10 splits of the tags.
- ``HonestEstimate`` (``honest``): corpus totals from the planner's random tags, post-stratified
  by score band (``bands``) under a prior from the calibrated scores (``calibration``),
  counted per speaker turn (``units``).

``estimate_performance`` runs both and combines them; ``held_out`` holds the tags' held-out
scores they share with the keyword comparison, ``samples`` the detections shown to the user.
"""
from workbench.training.estimate.combine import configured_estimators, estimate_performance, estimator_params
from workbench.training.estimate.held_out import detected_where, held_out_detections, held_out_scores
from workbench.training.estimate.honest import HonestEstimate, HonestFigures
from workbench.training.estimate.reference import ReferenceEstimate, ReferenceFigures
from workbench.training.estimate.samples import sample_detections
from workbench.training.estimate.units import RankOrder

__all__ = [
    "HonestEstimate", "HonestFigures", "RankOrder", "ReferenceEstimate", "ReferenceFigures", "configured_estimators",
    "detected_where", "estimate_performance", "estimator_params", "held_out_detections", "held_out_scores",
    "sample_detections",
]
