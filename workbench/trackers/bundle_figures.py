"""A pre-trained tracker's overview: the figures of the version that scores the calls.

Importing a bundle (workbench.activation.bundles) registers the bundle's version with the
figures it was estimated with where it was made, notes the bundle on that version's row
(``metrics["bundle"]``: name, version, how many tags it carried, the sentence ids of those found
in this corpus) and restores those tags. Refitting a model on the few tags found here, as the
tagging session does, describes another model than the live one: on a 120-call workspace, 17
restored tags made a model with hit rate 0.21 beside the live version's 0.74, and one sentence
scored 0.46 in ``detections()`` and 0.90 in live search.

So until a version is trained here, a smart tracker's ``performance()``, ``detections()`` and
sample detections are those of the version that scores the calls (the published one, else the
latest), and ``figures_basis()`` says on which tags they rest. A training here makes a version
of the current tags, and the normal path applies again; the basis still says which of its
tags came with the bundle.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.training.performance import Figure, PerformanceEstimate

if TYPE_CHECKING:
    from workbench.trackers.tracker import Tracker

# Shown where the keyword comparison would be (Tracker.keyword_comparison() is None then).
KEYWORDS_NEED_A_VERSION_HERE = ("Against the keyword baseline: compared once a version is trained here. The "
                                "bundle's version learnt from its tags elsewhere, so no tag here is held out from it.")


@dataclass(frozen=True)
class FiguresBasis:
    """On what a smart tracker's overview figures rest (``Tracker.figures_basis()``).

    version: the version they describe (None: no version yet, the current tags' model).
    from_bundle: they are the bundle version's, as estimated on its tags where it was made
        (no version has been trained here); otherwise the current tags' model's.
    bundle_name / bundle_version: the bundle the tracker was imported from (None: not imported).
    bundle_tags: the tags the bundle carried; bundle_tags_here: those found in this corpus and
        restored as tags; new_tags: tags given here besides them.
    """

    version: int | None
    from_bundle: bool
    bundle_name: str | None = None
    bundle_version: int | None = None
    bundle_tags: int = 0
    bundle_tags_here: int = 0
    new_tags: int = 0
    sample_calls: int | None = None  # the tagging sample's calls (workbench.corpus.sample); None: every call
    corpus_calls: int | None = None

    def lines(self) -> list[str]:
        """The basis in plain words: the tagging sample, the bundle; nothing for a tracker tagged
        on every call that did not come from a bundle."""
        return self._sample_lines() + self._bundle_lines()

    def _sample_lines(self) -> list[str]:
        if self.sample_calls is None:
            return []
        return [f"These figures rest on a sample of {self.sample_calls:,} of {self.corpus_calls:,} calls (the tagging "
                "sample, stratified by month and team); activation applies the tracker to every call."]

    def _bundle_lines(self) -> list[str]:
        if self.bundle_name is None:
            return []
        bundle = f"the bundle '{self.bundle_name}' version {self.bundle_version}"
        here = (f"{self.bundle_tags_here:,} of the bundle's {self.bundle_tags:,} tags are in this corpus; "
                f"{self.new_tags:,} new tag{'s' if self.new_tags != 1 else ''} given here")
        if self.from_bundle:
            return [f"These figures are version {self.version}'s, the model that scores the calls: {bundle}, as "
                    f"estimated on its tags where it was made (detections counted here).",
                    f"{here}; no version trained here yet. Train (t.train()) to have figures from the tags here."]
        return [f"These figures are the model of the current tags (version {self.version or '–'} once trained); "
                f"the tracker came from {bundle}.", f"{here}."]

    def text(self) -> str:
        return "\n".join(self.lines())


def bundle_origin(stored_versions: list[dict]) -> dict | None:
    """The bundle the tracker was imported from (the first version's ``metrics["bundle"]``)."""
    for v in stored_versions:
        origin = v["metrics"].get("bundle")
        if origin:
            return origin
    return None


def pretrained_version(tracker: "Tracker") -> int | None:
    """The version that scores the calls while every version came from a bundle (none was
    trained here); None otherwise, when the current tags' model is the tracker's."""
    stored = tracker._records.versions()
    if not stored or not all(v["metrics"].get("bundle") for v in stored):
        return None
    return tracker.published_version or stored[-1]["version"]


def figures_basis(tracker: "Tracker") -> FiguresBasis:
    stored = tracker._records.versions()
    live = pretrained_version(tracker)
    origin = bundle_origin(stored)
    version = live if live is not None else (stored[-1]["version"] if stored else None)
    sample = tracker.ws.tagging_sample()
    sampled = {} if sample is None or sample.is_everything else {"sample_calls": sample.calls,
                                                                "corpus_calls": sample.corpus_calls}
    if origin is None:
        return FiguresBasis(version=version, from_bundle=False, **sampled)
    tagged = tracker.tags()["sentence_id"]
    from_bundle = int(tagged.is_in(origin.get("sentence_ids") or []).sum())
    return FiguresBasis(version=version, from_bundle=live is not None, bundle_name=origin.get("name"),
                        bundle_version=origin.get("version"), bundle_tags=int(origin.get("tags") or 0),
                        bundle_tags_here=from_bundle, new_tags=tagged.len() - from_bundle, **sampled)


def version_decision(tracker: "Tracker", version: int, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
    """The registered version's decision values (0 at its threshold) as live scoring computes
    them: over the workspace's embeddings, or a deep version's own encoder's."""
    ws = tracker.ws
    model = ws.registry.linear_model(tracker.name, version=version)
    encoder = ws.registry.encoder_path(tracker.name, version=version)
    if encoder is not None:
        from workbench.embedding.embedder import Embedder, embed_texts

        embeddings = embed_texts(texts, ws.embeddings_dir, Embedder(encoder), progress=False)
    return model.decision(embeddings)


def live_estimate(tracker: "Tracker", version: int) -> PerformanceEstimate:
    """The version's stored figures (as estimated where the bundle was made), with what it
    detects counted in this tracker's scope here."""
    stored = {v["version"]: v["metrics"] for v in tracker._records.versions()}[version]
    est = PerformanceEstimate.from_dict(stored)
    scope = tracker._scope_arrays()
    detected = version_decision(tracker, version, scope.frame["text"].to_list(), scope.embeddings) > 0
    units = int(np.unique(scope.turns[detected]).size) if est.unit == "turn" else int(detected.sum())
    p = est.precision
    right = None if p is None else Figure(p.value * units, p.low * units, p.high * units, p.n,
                                          "the bundle's precision x the detections here")
    note = (f"Version {version}'s precision and hit rate come with the bundle: estimated on its tags where it was "
            "made. The detections are counted here; how many of the mentions here it misses is not known "
            "until tags given here train a version.")
    # The bundle's corpus totals (right / wrong / missed, mentions in all) say nothing of this corpus.
    return dataclasses.replace(
        est, population=len(detected), detected_sentences=int(detected.sum()),
        detected_calls=int(np.unique(scope.frame["call_id"].to_numpy()[detected]).size),
        detected_units=units if est.unit == "turn" else est.detected_units, estimated_true_detections=right,
        estimated_positives=None, honest_tp=None, honest_fp=None, honest_fn=None, notes=(*est.notes, note))
