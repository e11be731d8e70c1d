"""Validation of a smart tracker's example sentences."""
from __future__ import annotations

from workbench.core.errors import ValidationError

MIN_EXAMPLES = 5
MAX_EXAMPLES = 100


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".!?")


def validate_examples(new: list[str], existing: list[str] = ()) -> list[str]:
    """Clean new example sentences and check them against the ones already given.

    Each example must be one sentence (we say which is not), not empty, not a duplicate, and the
    total at most MAX_EXAMPLES. The minimum is checked when tagging starts, so a form can add
    examples one at a time.
    """
    from workbench.corpus.sentences import split_text

    if isinstance(new, str):
        new = [new]
    cleaned: list[str] = []
    seen = {_key(t) for t in existing}
    for i, text in enumerate(new, start=1):
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"examples[{i}]", "is empty", "Write the sentence a person would say.")
        text = " ".join(text.split())
        parts = [part for _, part in split_text(text)]
        if len(parts) > 1:
            raise ValidationError(
                f"examples[{i}]",
                f"'{text}' is {len(parts)} sentences ('{parts[0]}' / '{parts[1]}'…)",
                "Give one sentence per example; split it into separate examples.",
            )
        if _key(text) in seen:
            raise ValidationError(f"examples[{i}]", f"'{text}' is a duplicate", "Remove it or rephrase it.")
        seen.add(_key(text))
        cleaned.append(text)
    total = len(existing) + len(cleaned)
    if total > MAX_EXAMPLES:
        raise ValidationError(
            "examples", f"{total} examples is more than the {MAX_EXAMPLES} allowed",
            f"Keep the {MAX_EXAMPLES} most typical ones.",
        )
    return cleaned


def examples_needed(examples: list[str]) -> int:
    """How many more examples the first round needs (0 when there are enough).

    A tracker may be created with fewer (a form or a script adds them one at a time); the
    minimum holds when tagging starts, in the API, the form and the command line alike."""
    return max(0, MIN_EXAMPLES - len(examples))


def require_minimum(examples: list[str]) -> None:
    if examples_needed(examples):
        raise ValidationError(
            "examples", f"{len(examples)} example sentence{'s' if len(examples) != 1 else ''} given, "
            f"at least {MIN_EXAMPLES} are needed",
            "Add examples with tracker.add_examples([...]) before the first round.",
        )
