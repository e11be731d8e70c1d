"""A tracker's definition: who says it, in which calls, in which part of the call.

The definition decides the tracker's *scope*: the sentences it is trained on and applied to.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from workbench.core.errors import ValidationError
from workbench.core.schema import MENTIONED_BY
from workbench.trackers.examples import validate_examples
from workbench.trackers.filters import check_filters, filter_expression

NAME_MAX = 60
DEFAULT_FILTERS: dict[str, Any] = {"is_external": True}
CHANNEL_CHOICES = {"calls": ["call"], "calls_and_emails": ["call", "email"]}


def normalise_call_part(call_part: Any) -> tuple[str, float | None]:
    """'anytime' | ('first', minutes) | ('last', minutes) -> canonical tuple."""
    if call_part in (None, "anytime", ("anytime", None), ["anytime", None]):
        return ("anytime", None)
    if isinstance(call_part, (tuple, list)) and len(call_part) == 2 and call_part[0] in ("first", "last"):
        minutes = call_part[1]
        if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or minutes <= 0:
            raise ValidationError("call_part", f"the number of minutes must be a positive number, got {minutes!r}",
                                  "Use e.g. ('first', 5) for the first five minutes.")
        return (call_part[0], float(minutes))
    raise ValidationError("call_part", f"{call_part!r} is not a part of the call",
                          "Use 'anytime', ('first', N) or ('last', N) with N in minutes.")


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "a tracker needs a name", "Give a short name such as 'Asking for a discount'.")
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise ValidationError("name", f"'{name[:20]}…' is {len(name)} characters long", f"Use at most {NAME_MAX} characters.")
    return name


def validate_mentioned_by(value: Any) -> str:
    if value not in MENTIONED_BY:
        raise ValidationError("mentioned_by", f"{value!r} is not one of {', '.join(MENTIONED_BY)}",
                              "Say who mentions the concept: 'customer', 'company' or 'any'.")
    return value


def validate_channels(value: Any) -> str:
    if value not in CHANNEL_CHOICES:
        raise ValidationError("channels", f"{value!r} is not one of {', '.join(CHANNEL_CHOICES)}",
                              "Use 'calls' (default) or 'calls_and_emails'.")
    return value


def definition_errors(spec: dict[str, Any], calls_schema: dict[str, pl.DataType] | None = None,
                      examples: list[str] | None = None) -> list[ValidationError]:
    """Every error in a tracker's definition at once, each naming its field, for a form to show
    beside its fields in one pass. The checks are the ones ``ws.create_tracker`` runs: the
    fields of a TrackerDefinition, the filters against the calls columns (with
    ``calls_schema``) and the examples (with ``examples``: each one sentence, no duplicate, at
    most 100; the minimum of 5 holds when the first round starts, not here). Whether any
    sentence is left in scope is known on create only."""
    checks: list[tuple[Any, Any]] = [
        (validate_name, spec.get("name")), (validate_mentioned_by, spec.get("mentioned_by", "any")),
        (normalise_call_part, spec.get("call_part", "anytime")), (validate_channels, spec.get("channels", "calls")),
    ]
    if calls_schema is not None:
        checks.append((lambda f: check_filters(f, calls_schema), spec.get("filters", DEFAULT_FILTERS)))
    if examples is not None:
        checks.append((validate_examples, examples))
    errors = []
    for check, value in checks:
        try:
            check(value)
        except ValidationError as err:
            errors.append(err)
    return errors


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


@dataclass
class TrackerDefinition:
    name: str
    description: str = ""
    mentioned_by: str = "any"
    filters: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FILTERS))
    call_part: tuple[str, float | None] = ("anytime", None)
    channels: str = "calls"

    def __post_init__(self) -> None:
        self.name = validate_name(self.name)
        self.description = (self.description or "").strip()
        self.mentioned_by = validate_mentioned_by(self.mentioned_by)
        self.call_part = normalise_call_part(self.call_part)
        self.channels = validate_channels(self.channels)
        if not isinstance(self.filters, dict):
            raise ValidationError("filters", f"expected a mapping of column to value, got {type(self.filters).__name__}",
                                  "Use e.g. {'is_external': True, 'team': ['EMEA']}.")
        # Stored as JSON, where a tuple would become a list of values: ranges are kept as {min, max}.
        self.filters = {
            k: ({"min": _jsonable(v[0]), "max": _jsonable(v[1])} if isinstance(v, tuple) and len(v) == 2
                else sorted(v, key=str) if isinstance(v, (set, frozenset)) else v)
            for k, v in self.filters.items()
        }

    def scope(self, calls: pl.DataFrame, sentences: pl.DataFrame, *, training: bool = False) -> pl.DataFrame:
        """The sentences this tracker applies to, with the call columns it needs joined on.

        ``training=True`` restricts to calls (not emails): trackers are trained on calls only.
        """
        channels = ["call"] if training else CHANNEL_CHOICES[self.channels]
        call_mask = filter_expression(self.filters, dict(calls.schema)) & pl.col("channel").is_in(channels)
        in_scope = calls.filter(call_mask).select("call_id", "duration_s")
        out = sentences.join(in_scope, on="call_id", how="inner", maintain_order="left")
        if self.mentioned_by != "any":
            out = out.filter(pl.col("side") == self.mentioned_by)
        kind, minutes = self.call_part
        if kind == "first":
            out = out.filter(pl.col("start_s") < minutes * 60)
        elif kind == "last":
            out = out.filter(pl.col("start_s") >= pl.col("duration_s") - minutes * 60)
        return out.drop("duration_s")

    def describe_scope(self) -> str:
        who = {"any": "anyone", "customer": "the customer", "company": "the company"}[self.mentioned_by]
        kind, minutes = self.call_part
        part = "anytime" if kind == "anytime" else f"in the {kind} {minutes:g} minutes"
        flt = ", ".join(f"{k}={v!r}" for k, v in self.filters.items()) or "all calls"
        return f"mentioned by {who}, {part}, {self.channels.replace('_', ' ')}, where {flt}"
