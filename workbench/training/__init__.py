"""The training core: pools, query strategies, round planning, the model and its estimate,
and the active-learning session that runs them as one loop.

Pure functions and small objects over numpy arrays; the Tracker owns storage.
"""
from workbench.training.curve import (
    CurveAssessment,
    RoundRecord,
    assess_learning_curve,
    detection_change,
)
from workbench.training.estimate import estimate_performance, sample_detections
from workbench.training.model import TrackerModel, best_f1_threshold, turn_mates
from workbench.training.performance import Figure, PerformanceEstimate
from workbench.training.pool import NO, UNKNOWN, YES, Pool
from workbench.training.rounds import EARLY_MIX, LATE_MIX, PlannedRound, RoundPlanner
from workbench.training.session import ActiveLearningSession
from workbench.training.strategies import STRATEGIES, Strategy, get_strategy, register_strategy

__all__ = [
    "ActiveLearningSession", "CurveAssessment", "EARLY_MIX", "Figure", "LATE_MIX", "NO", "PerformanceEstimate",
    "PlannedRound", "Pool", "RoundPlanner", "RoundRecord", "STRATEGIES", "Strategy",
    "TrackerModel", "UNKNOWN", "YES", "assess_learning_curve", "best_f1_threshold",
    "detection_change", "estimate_performance", "get_strategy", "register_strategy",
    "sample_detections", "turn_mates",
]
