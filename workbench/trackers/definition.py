"""A tracker's definition: who says it, in which calls, in which part of the call.

The definition decides the tracker's *scope*: the sentences it is trained on and applied to.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from workbench.core.dates import utc_datetime
from workbench.core.errors import ValidationError
from workbench.core.schema import MENTIONED_BY

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
        raise ValidationError("name", f"'{name[:20]}…' is {len(name)} characters long", f"Keep it under {NAME_MAX}.")
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


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _range_bounds(spec: Any) -> tuple[Any, Any] | None:
    if isinstance(spec, dict) and set(spec) <= {"min", "max"} and spec:
        return spec.get("min"), spec.get("max")
    if isinstance(spec, tuple) and len(spec) == 2:
        return spec
    return None


def _is_day(value: Any) -> bool:
    if isinstance(value, str):
        return "T" not in value and " " not in value.strip()
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _coerce_bound(value: Any, dtype: pl.DataType, *, end: bool = False) -> Any:
    return utc_datetime(value, "filters", end=end) if isinstance(dtype, pl.Datetime) else value


def filter_expression(filters: dict[str, Any], calls_schema: dict[str, pl.DataType]) -> pl.Expr:
    """Turn {column: value | [values] | (min, max) | {'min':…, 'max':…}} into one polars expression.

    Unknown columns are an error that lists the columns there are, so a typo is caught at once.
    """
    expr = pl.lit(True)
    for column, spec in filters.items():
        if column not in calls_schema:
            known = ", ".join(sorted(calls_schema))
            raise ValidationError(f"filters.{column}", f"the calls have no column '{column}'",
                                  f"Filter on one of: {known}.")
        dtype = calls_schema[column]
        bounds = _range_bounds(spec)
        col = pl.col(column)
        if bounds is not None:
            # A date as the upper bound means "through the end of that day".
            lo, hi = _coerce_bound(bounds[0], dtype), _coerce_bound(bounds[1], dtype, end=True)
            if lo is not None:
                expr &= col >= lo
            if hi is not None:
                expr &= (col < hi) if isinstance(dtype, pl.Datetime) and _is_day(bounds[1]) else (col <= hi)
        elif isinstance(spec, (list, set, frozenset)):
            values = list(spec)
            if not values:
                raise ValidationError(f"filters.{column}", "an empty list of values matches no call",
                                      "Give at least one value or drop the filter.")
            expr &= col.is_in(values)
        elif spec is None:
            expr &= col.is_null()
        else:
            expr &= col == spec
    return expr


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
