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
# The seed's guidance: the best results come from 1,500 calls or more in scope; with fewer, a
# concept that comes up often still gives the rounds enough mentions to learn from.
BEST_RESULTS_CALLS = 1_500


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
    advice = scope_advice(scope["call_id"].n_unique(), definition.name)
    if advice is not None:
        warnings.warn(advice, SmallCorpusWarning, stacklevel=3)
    return scope


def scope_advice(n_calls: int, name: str) -> str | None:
    """What the number of calls in a tracker's scope means for it, or None from 1,500 calls on."""
    if n_calls < MIN_CALLS_FOR_SMART:
        return (f"Only {n_calls:,} calls are in scope of '{name}'. A smart tracker needs about "
                f"{MIN_CALLS_FOR_SMART} calls to find enough examples; consider a keyword tracker "
                "(ws.create_keyword_tracker) or a pre-trained one (ws.import_pretrained) for a corpus this small.")
    if n_calls < BEST_RESULTS_CALLS:
        return (f"{n_calls:,} calls are in scope of '{name}': the best results come from {BEST_RESULTS_CALLS:,} "
                "calls or more. With fewer, choose a concept that comes up often, so that the rounds find "
                "enough mentions to learn from.")
    return None
