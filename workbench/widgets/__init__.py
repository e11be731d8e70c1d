"""The workbench's screens as ipywidgets: each renders workspace and tracker state and forwards
clicks to Workspace / Tracker methods. The notebooks under notebooks/ are one screen each.
"""
from workbench.widgets.activation import ActivationPanel
from workbench.widgets.banner import UnpublishedBanner
from workbench.widgets.corpus import CorpusOverview
from workbench.widgets.initiative import InitiativeBoardView
from workbench.widgets.overview import PerformanceOverview
from workbench.widgets.results import TrackerResults
from workbench.widgets.streams import StreamsPanel
from workbench.widgets.tagging import TaggingView
from workbench.widgets.tracker_form import TrackerForm

__all__ = ["ActivationPanel", "CorpusOverview", "InitiativeBoardView", "PerformanceOverview", "TaggingView", "TrackerForm",
           "StreamsPanel", "TrackerResults", "UnpublishedBanner"]
