"""The demo corpus's concepts and the scenery they are woven into: deal stages, conversation
topics per stage, call titles, and each demo sentence's ground-truth label.

Data more than code: the phrase banks themselves are in ``workbench.demo.phrases``; the call
builder that draws from all of this is ``workbench.demo.generator``.
"""
from __future__ import annotations

from dataclasses import dataclass

from workbench.demo import phrases
from workbench.demo.wording import unwrapped

HARDNEG_PREFIX = "hardneg:"
TOPIC_PREFIX = "topic:"

DEAL_STAGES: tuple[str, ...] = (
    "Discovery", "Demo", "Proposal", "Negotiation", "Closed Won", "Closed Lost",
)
# None stands for a call not attached to an opportunity (deal_stage null).
STAGE_WEIGHTS: dict[str | None, float] = {
    "Discovery": 0.22, "Demo": 0.20, "Proposal": 0.15, "Negotiation": 0.13,
    "Closed Won": 0.10, "Closed Lost": 0.08, None: 0.12,
}
INTERNAL_SHARE = 0.10
TWO_CUSTOMER_SHARE = 0.2
DISCLOSURE_SHARE = 0.88  # external calls where the rep discloses the recording
MIN_UTTERANCES, MAX_UTTERANCES = 40, 80
HARDNEG_RATE = 0.2  # expected hard negatives of each concept per call
MAX_PER_CALL = 2  # occurrences of one concept in one call


@dataclass(frozen=True)
class Concept:
    """One trackable concept woven into the corpus.

    ``rate`` is the expected number of occurrences in an external call at each deal stage
    (None = no stage): it keeps concepts rare, as in real calls, while the stages where a
    concept naturally belongs carry most of it. ``roles`` weighs who says it in external
    calls; ``window`` is where in the call (as a fraction of its length) it may appear;
    ``topics`` are the conversation blocks it is preferably placed in.
    """

    label: str
    name: str
    description: str
    mentioned_by: str
    roles: dict[str, float]
    window: tuple[float, float]
    rate: dict[str | None, float]
    internal_rate: float = 0.0
    topics: tuple[str, ...] = ()
    strict: bool = False  # only inside ``topics``: a price ask out of nowhere reads wrong


def _flat(value: float) -> dict[str | None, float]:
    return {s: value for s in STAGE_WEIGHTS}


CONCEPTS: tuple[Concept, ...] = (
    Concept(
        "discount_request", "Asking for a discount",
        "The customer asks for a lower price, a discount, free extras or better terms.",
        "customer", {"customer": 1.0}, (0.35, 0.95),
        {"Discovery": 0.1, "Demo": 0.2, "Proposal": 0.7, "Negotiation": 0.9,
         "Closed Won": 0.3, "Closed Lost": 0.4, None: 0.25},
        topics=("pricing", "timeline"), strict=True,
    ),
    Concept(
        "pricing_objection", "Pricing objection",
        "The customer pushes back on the price: too high, not worth it, more than expected.",
        "customer", {"customer": 1.0}, (0.3, 0.95),
        {"Discovery": 0.1, "Demo": 0.3, "Proposal": 0.6, "Negotiation": 0.6,
         "Closed Won": 0.2, "Closed Lost": 0.6, None: 0.3},
        topics=("pricing", "timeline"), strict=True,
    ),
    Concept(
        "budget_constraint", "Budget constraint",
        "The customer says they lack the budget or funds, or that spending is frozen or capped.",
        "customer", {"customer": 1.0}, (0.15, 0.9),
        {"Discovery": 0.3, "Demo": 0.3, "Proposal": 0.4, "Negotiation": 0.3,
         "Closed Won": 0.1, "Closed Lost": 0.5, None: 0.3},
        topics=("pricing", "timeline", "discovery"),
    ),
    Concept(
        "competitor_mention", "Competitor mention",
        "Anyone names a competing vendor (Keystone, Summit, Beacon, Lumina or Quillstack).",
        "any", {"customer": 0.65, "rep": 0.35}, (0.1, 0.9), _flat(0.35),
        internal_rate=0.45, topics=("discovery", "product", "pricing", "deal_review"),
    ),
    Concept(
        "next_steps", "Next steps agreed",
        "A concrete next step is agreed: a follow-up meeting, a document to send, a pilot to start.",
        "any", {"rep": 0.65, "customer": 0.35}, (0.8, 0.98), _flat(0.5),
        internal_rate=0.4, topics=("wrapup", "timeline", "internal_close"),
    ),
    Concept(
        "recording_disclosure", "Recorded-line disclosure",
        "The rep tells the customer that the call is being recorded, near the start of the call.",
        "company", {"rep": 1.0}, (0.0, 0.1), _flat(DISCLOSURE_SHARE),
    ),
    Concept(
        "discovery_question", "Discovery question about challenges",
        "The rep asks the customer about their challenges, problems or what is not working.",
        "company", {"rep": 1.0}, (0.1, 0.55),
        {"Discovery": 0.9, "Demo": 0.4, "Proposal": 0.15, "Negotiation": 0.05,
         "Closed Won": 0.1, "Closed Lost": 0.1, None: 0.3},
        topics=("discovery",),
    ),
    Concept(
        "pain_statement", "Customer pain statement",
        "The customer describes a current problem or pain in how their team works.",
        "customer", {"customer": 1.0}, (0.1, 0.65),
        {"Discovery": 0.6, "Demo": 0.35, "Proposal": 0.15, "Negotiation": 0.1,
         "Closed Won": 0.15, "Closed Lost": 0.1, None: 0.2},
        topics=("discovery", "product"),
    ),
)
# Every concept and hard-negative sentence is unique across the banks, so a sentence's text
# alone (once the words said around it are taken off) says what it is: this is the
# sentence-level ground truth behind the utterance labels.
_SENTENCE_LABELS: dict[str, str] = {
    **{s: HARDNEG_PREFIX + label for label, roles in phrases.HARD_NEGATIVES.items()
       for bank in roles.values() for s in bank},
    **{s: label for label, roles in phrases.POSITIVES.items() for bank in roles.values() for s in bank},
}


def sentence_label(sentence: str) -> str | None:
    """The concept label ("discount_request") or hard-negative label ("hardneg:...") of one
    demo sentence, or None for filler.

    Utterance labels say an utterance contains a concept; this says which of its sentences
    does, for simulating a person tagging sentences in the demo. The generator says a bank
    sentence with words around it (``workbench.demo.wording``); they are taken off first.
    """
    for core in unwrapped(sentence.strip()):
        if (label := _SENTENCE_LABELS.get(core)) is not None:
            return label
    return None


# Conversation blocks an external call's middle is built from, weighted by deal stage.
STAGE_TOPICS: dict[str | None, dict[str, float]] = {
    "Discovery": {"discovery": 4, "product": 1.5, "integrations": 1, "timeline": 1, "references": 0.5,
                  "pricing": 0.5},
    "Demo": {"product": 4, "integrations": 2, "discovery": 1, "security": 1, "onboarding": 1,
             "pricing": 1},
    "Proposal": {"pricing": 3, "security": 1.5, "onboarding": 1.5, "timeline": 2, "references": 1},
    "Negotiation": {"pricing": 4, "timeline": 2, "references": 1, "onboarding": 1, "security": 1},
    "Closed Won": {"onboarding": 4, "integrations": 2, "timeline": 1.5, "product": 1, "pricing": 0.5},
    "Closed Lost": {"pricing": 2, "product": 1.5, "timeline": 1.5, "discovery": 1},
    None: {"discovery": 2, "product": 2, "integrations": 1, "pricing": 1, "timeline": 1},
}
INTERNAL_TOPICS = {"deal_review": 3, "forecast": 2, "coaching": 2}
BODY_TOPICS = frozenset(t for w in (*STAGE_TOPICS.values(), INTERNAL_TOPICS) for t in w) | {"agenda"}

TITLES: dict[str | None, tuple[str, ...]] = {
    "Discovery": ("Discovery call", "Intro and discovery", "First conversation"),
    "Demo": ("Product demo", "Platform walkthrough", "Demo for the sales team"),
    "Proposal": ("Proposal review", "Commercials walkthrough", "Proposal follow-up"),
    "Negotiation": ("Commercial discussion", "Contract review", "Terms call"),
    "Closed Won": ("Kickoff planning", "Rollout planning", "Implementation check-in"),
    "Closed Lost": ("Check-in", "Catch-up", "Quarterly check-in"),
    None: ("Intro call", "Catch-up", "Quick sync"),
}
INTERNAL_TITLES = ("Deal review: {account}", "Pipeline sync", "1:1 coaching", "Forecast call")
