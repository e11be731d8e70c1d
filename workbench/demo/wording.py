"""The words people put around what they say: "So, ...", "..., I think." and a name or a bit
of context at the end.

``wrap`` puts them on a sentence of the phrase banks when the generator writes a call, so one
phrasing comes out in many wordings, as in real calls; ``unwrapped`` takes them off again, so
the ground truth of a sentence (``workbench.demo.concepts.sentence_label``) can still be read
from its text. A sentence of the banks always starts with a capital and ends with ".", "?" or
"!"; ``wrap`` only lowercases its first letter after an opener and inserts a tail before its
final punctuation, which ``unwrapped`` undoes exactly.
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

from workbench.demo import phrases

OPENER_SHARE = 0.8  # sentences said with an opener ("So, ...")
TAIL_SHARE = 0.6  # sentences said with something at the end ("..., I think.")
ADDRESS_SHARE = 0.25  # of the tails: the other person's first name ("..., Dana?")
CONTEXT_SHARE = 0.4  # of the other statement tails: context ("..., here in Denver.")

_FIRST_WORDS_KEPT = re.compile(r"^(I\b|I'|[A-Z][a-z]*[A-Z])")  # "I", "I'm", "HubSpot" keep their capital


@lru_cache(maxsize=1)
def _proper_words() -> frozenset[str]:
    """Words written with a capital wherever they stand (names, products, days): never lowercased."""
    people = [n for _, (m, reps) in phrases.TEAMS.items() for n in (m, *reps)]
    words = {w for v in phrases.SLOTS.values() for s in v for w in s.split()}
    words |= {w for n in (*people, *phrases.ACCOUNTS) for w in n.split()} | set(phrases.CUSTOMER_FIRST_NAMES)
    banks = [s for src in (phrases.POSITIVES, phrases.HARD_NEGATIVES, phrases.FILLER)
             for roles in src.values() for b in roles.values() for s in b]
    words |= {w.strip(",.?!").removesuffix("'s") for s in banks for w in s.split()[1:] if w[:1].isupper()}
    return frozenset(words)


def _lower_first(sentence: str) -> str:
    first = sentence.split(" ", 1)[0].strip(",.?!")
    if _FIRST_WORDS_KEPT.match(sentence) or first in _proper_words() or first.removesuffix("'s") in _proper_words():
        return sentence
    return sentence[0].lower() + sentence[1:]


def _fill(template: str, rng: random.Random) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: rng.choice(phrases.SLOTS[m.group(1)]), template)


def _tail(rng: random.Random, question: bool, address: str | None) -> str:
    if address and rng.random() < ADDRESS_SHARE:
        return f", {address}"
    if question:
        return rng.choice(phrases.QUESTION_TAILS)
    if rng.random() < CONTEXT_SHARE:
        return _fill(rng.choice(phrases.CONTEXT_TAILS), rng)
    return rng.choice(phrases.STATEMENT_TAILS)


def wrap(sentence: str, rng: random.Random, *, address: str | None = None, opener: bool = True) -> str:
    """``sentence`` as someone says it: maybe after an opener (unless ``opener`` is False),
    maybe with a tail; ``address`` is the first name of the person spoken to, used now and then
    as the tail."""
    out = sentence
    if opener and rng.random() < OPENER_SHARE:
        out = rng.choice(phrases.OPENERS) + _lower_first(out)
    if out[-1] in ".?!" and rng.random() < TAIL_SHARE:
        out = out[:-1] + _tail(rng, out[-1] == "?", address) + out[-1]
    return out


@lru_cache(maxsize=1)
def _affixes() -> tuple[frozenset[str], frozenset[str]]:
    """Every opener and every tail ``wrap`` can say, with the context tails' slots filled in."""
    people = [n for _, (m, reps) in phrases.TEAMS.items() for n in (m, *reps)]
    names = {n.split()[0] for n in people} | set(phrases.CUSTOMER_FIRST_NAMES)
    context = [t.replace("{" + k + "}", v) for t in phrases.CONTEXT_TAILS for k, vs in phrases.SLOTS.items()
               if "{" + k + "}" in t for v in vs]
    tails = [*phrases.STATEMENT_TAILS, *phrases.QUESTION_TAILS, *context, *(f", {n}" for n in names)]
    return frozenset(phrases.OPENERS), frozenset(tails)


def unwrapped(text: str) -> list[str]:
    """The sentences ``text`` may have been before ``wrap``: itself, without an opener, without
    a tail, without both. One of them is the bank sentence when ``text`` came from ``wrap``.

    Every split is tried, not only the longest: "Okay, and honestly, the cost seems fine." is
    "Honestly, the cost seems fine." after "Okay, and ".
    """
    openers, tails = _affixes()
    out = [text]
    # An opener ends with a space and a tail starts with ", ": only those places can be a cut.
    for i, ch in enumerate(text[:60]):
        if ch == " " and text[: i + 1] in openers and i + 1 < len(text):
            rest = text[i + 1:]
            out.append(rest[0].upper() + rest[1:])
    for t in list(out):
        start = t.find(", ")
        while start != -1:
            if t[start:-1] in tails:
                out.append(t[:start] + t[-1])
            start = t.find(", ", start + 1)
    return out
