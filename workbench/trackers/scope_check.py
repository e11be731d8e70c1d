"""Whether a tracker's definition leaves something to track, and enough of it to learn from."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import polars as pl

from workbench.core.errors import ValidationError
from workbench.trackers.definition import TrackerDefinition

if TYPE_CHECKING:
    from workbench.workspace import Workspace

MIN_CALLS_FOR_SMART = 500


class SmallCorpusWarning(UserWarning):
    """Too few calls in scope for a smart tracker to learn from; a keyword tracker is the better tool."""


def check_scope(ws: "Workspace", definition: TrackerDefinition) -> pl.DataFrame:
    """Validate that a definition leaves something to track; warn when the corpus is small."""
    scope = definition.scope(ws.calls, ws.sentences)
    if ws.sentences.height == 0:
        raise ValidationError("workspace", f"{ws.path} holds no calls yet", "Import calls first (ws.import_calls).")
    if scope.height == 0:
        raise ValidationError(
            "filters", f"no sentences are left in scope ({definition.describe_scope()})",
            "Loosen the call filters, the part of the call or who mentions it.",
        )
    n_calls = scope["call_id"].n_unique()
    if n_calls < MIN_CALLS_FOR_SMART:
        warnings.warn(
            f"Only {n_calls:,} calls are in scope of '{definition.name}'. A smart tracker needs about "
            f"{MIN_CALLS_FOR_SMART} calls to find enough examples; consider a keyword tracker "
            "(ws.create_keyword_tracker) for a corpus this small.",
            SmallCorpusWarning,
            stacklevel=3,
        )
    return scope
