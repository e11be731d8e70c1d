"""Call filters: one grammar for the Python API, the command line and the form.

In Python (``ws.create_tracker(filters=...)``, ``tracker.update``, ``ws.search``), a filter
maps a calls column to what it must hold::

    {"team": "EMEA"}                          one value
    {"team": ["EMEA", "NA"]}                  any of these values (a set works too)
    {"duration_s": (60, None)}                a range, both ends included; None leaves an end open
    {"started_at": {"min": "2026-01-01", "max": "2026-03-31"}}   the same range, as stored
    {"deal_stage": None}                      the column is empty

On the command line each ``--filter COLUMN=VALUE`` says the same in text::

    team=EMEA                    one value
    team=EMEA,NA                 any of these values
    'team="Sales, EMEA",NA'      a value that holds a comma goes in double quotes (and the
                                 whole filter in the shell's single quotes)
    duration_s=60..600           a range, both ends included; 60.. or ..600 leave one end open
    started_at=2026-01-01..2026-03-31
    is_external=true             true/false, yes/no or 1/0

Repeating a column adds alternatives: ``--filter team=EMEA --filter team=NA`` is
``team=EMEA,NA``. Ranges are for number and date columns; in a text column ".." is text.

Either way every value is checked against the type of its calls column (text, number,
true/false, date), and an error names the column (``filters.COLUMN``) and what it takes. A
date as the upper end of a range means through the end of that day.
"""
from __future__ import annotations

import csv
import datetime as dt
from typing import Any

import polars as pl

from workbench.core.dates import utc_datetime
from workbench.core.errors import ValidationError

__all__ = ["FILTER_HELP", "check_filters", "filter_expression", "parse_filters"]

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")
# The grammar in one line, for the --help of every command that takes --filter.
FILTER_HELP = ("call filter, repeatable: team=EMEA  team=EMEA,NA (any of)  'team=\"Sales, EMEA\",NA' (a comma "
               "inside a value)  duration_s=60..600  started_at=2026-01-01..2026-06-30 (ranges, ends included)  "
               "is_external=true")
_HOW = "Write --filter COLUMN=VALUE, e.g. team=EMEA,NA or started_at=2026-01-01..2026-03-31."


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_temporal():
        return "date"
    return "text"


def _ranged(kind: str) -> bool:
    return kind in ("number", "date")


def _known_column(column: str, calls_schema: dict[str, pl.DataType]) -> pl.DataType:
    if column not in calls_schema:
        raise ValidationError(f"filters.{column}", f"the calls have no column '{column}'",
                              f"Filter on one of: {', '.join(sorted(calls_schema))}.")
    return calls_schema[column]


# ------------------------------------------------------------------ Python values
def _check_value(value: Any, column: str, dtype: pl.DataType) -> Any:
    field, kind = f"filters.{column}", _kind(dtype)
    if kind == "boolean" and not isinstance(value, bool):
        raise ValidationError(field, f"{value!r} is not true or false", "Give True or False.")
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValidationError(field, f"{value!r} is not a number", "Give a number, or (min, max) for a range.")
    if kind == "date":
        utc_datetime(value, field)  # an ISO string, a date or a datetime; the message says which it is not
    if kind == "text" and not isinstance(value, str):
        raise ValidationError(field, f"{value!r} is not text", f"Give the {column} as a string.")
    return value


def _range_bounds(spec: Any) -> tuple[Any, Any] | None:
    if isinstance(spec, dict) and spec and set(spec) <= {"min", "max"}:
        return spec.get("min"), spec.get("max")
    if isinstance(spec, tuple) and len(spec) == 2:
        return spec
    return None


def _check_spec(column: str, spec: Any, dtype: pl.DataType) -> None:
    field, kind = f"filters.{column}", _kind(dtype)
    bounds = _range_bounds(spec)
    if bounds is not None:
        if not _ranged(kind):
            raise ValidationError(field, f"a range needs a number or date column, and '{column}' holds {kind}",
                                  "For any of several values give a list: ['EMEA', 'NA'].")
        if bounds == (None, None):
            raise ValidationError(field, "a range with neither end matches every call", "Give min, max or both.")
        for bound in bounds:
            if bound is not None:
                _check_value(bound, column, dtype)
    elif isinstance(spec, (list, set, frozenset)):
        if not spec:
            raise ValidationError(field, "an empty list of values matches no call",
                                  "Give at least one value or drop the filter.")
        for value in spec:
            _check_value(value, column, dtype)
    elif isinstance(spec, dict):
        raise ValidationError(field, f"{spec!r} is not a range", "A range is {'min': ..., 'max': ...}.")
    elif spec is not None:
        _check_value(spec, column, dtype)


def check_filters(filters: Any, calls_schema: dict[str, pl.DataType]) -> dict[str, Any]:
    """Check a filter mapping against the calls columns and their types; returns it unchanged.

    Raises ValidationError on the first column at fault (``filters.COLUMN``)."""
    if not isinstance(filters, dict):
        raise ValidationError("filters", f"expected a mapping of column to value, got {type(filters).__name__}",
                              "Use e.g. {'is_external': True, 'team': ['EMEA']}.")
    for column, spec in filters.items():
        _check_spec(column, spec, _known_column(column, calls_schema))
    return filters


# ------------------------------------------------------------------ text (the command line)
def _typed(text: str, column: str, dtype: pl.DataType) -> Any:
    field, kind = f"filters.{column}", _kind(dtype)
    if kind == "boolean":
        if text.lower() not in _TRUE + _FALSE:
            raise ValidationError(field, f"'{text}' is not true or false", "Write true or false.")
        return text.lower() in _TRUE
    if kind == "number":
        try:
            return int(text) if dtype.is_integer() or text.lstrip("+-").isdigit() else float(text)
        except ValueError as exc:
            raise ValidationError(field, f"'{text}' is not a number", "Write e.g. 60, or 60..600 for a range.") from exc
    if kind == "date":
        utc_datetime(text, field)
    return text  # dates stay ISO text, as a tracker stores them


def _values(text: str, column: str) -> list[str]:
    """`text` split at the commas outside double quotes (CSV's rules), each value trimmed."""
    try:
        values = next(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise ValidationError(f"filters.{column}", f"cannot read {text!r}: {exc}",
                              'Put a value that holds a comma in double quotes: team="Sales, EMEA",NA.') from exc
    values = [v.strip() for v in values]
    if not values or any(v == "" for v in values):
        raise ValidationError(f"filters.{column}", f"{text!r} has an empty value", _HOW)
    return values


def _parse_one(spec: str, calls_schema: dict[str, pl.DataType]) -> tuple[str, Any]:
    if "=" not in spec:
        raise ValidationError("--filter", f"{spec!r} is not COLUMN=VALUE", _HOW)
    column, text = (part.strip() for part in spec.split("=", 1))
    dtype = _known_column(column, calls_schema)
    if _ranged(_kind(dtype)) and ".." in text:
        lo, hi = (part.strip() for part in text.split("..", 1))
        if not lo and not hi:
            raise ValidationError(f"filters.{column}", "a range with neither end matches every call", _HOW)
        return column, (_typed(lo, column, dtype) if lo else None, _typed(hi, column, dtype) if hi else None)
    values = [_typed(v, column, dtype) for v in _values(text, column)]
    return column, values if len(values) > 1 else values[0]


def _combine(column: str, old: Any, new: Any) -> Any:
    if isinstance(old, tuple) or isinstance(new, tuple):
        raise ValidationError(f"filters.{column}", "is given twice, once as a range",
                              "Give one range, or values without a range.")
    merged = (old if isinstance(old, list) else [old]) + (new if isinstance(new, list) else [new])
    return list(dict.fromkeys(merged))


def parse_filters(specs: list[str] | None, calls_schema: dict[str, pl.DataType]) -> dict[str, Any] | None:
    """``--filter`` arguments -> the filter mapping the API takes; None when there are none.

    ``["team=SMB,Enterprise", "duration_s=60.."]`` -> ``{"team": ["SMB", "Enterprise"],
    "duration_s": (60, None)}``; the grammar is in this module's docstring."""
    if not specs:
        return None
    out: dict[str, Any] = {}
    for spec in specs:
        column, value = _parse_one(spec, calls_schema)
        out[column] = _combine(column, out[column], value) if column in out else value
    return check_filters(out, calls_schema)


# ------------------------------------------------------------------ the polars expression
def _is_day(value: Any) -> bool:
    if isinstance(value, str):
        return "T" not in value and " " not in value.strip()
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _bound(value: Any, dtype: pl.DataType, *, end: bool = False) -> Any:
    return utc_datetime(value, "filters", end=end) if isinstance(dtype, pl.Datetime) else value


def _column_expression(column: str, spec: Any, dtype: pl.DataType) -> pl.Expr:
    col, bounds = pl.col(column), _range_bounds(spec)
    if bounds is not None:
        expr = pl.lit(True)
        # A date as the upper bound means "through the end of that day".
        lo, hi = _bound(bounds[0], dtype), _bound(bounds[1], dtype, end=True)
        if lo is not None:
            expr &= col >= lo
        if hi is not None:
            expr &= (col < hi) if isinstance(dtype, pl.Datetime) and _is_day(bounds[1]) else (col <= hi)
        return expr
    if isinstance(spec, (list, set, frozenset)):
        return col.is_in(list(spec))
    return col.is_null() if spec is None else col == spec


def filter_expression(filters: dict[str, Any], calls_schema: dict[str, pl.DataType]) -> pl.Expr:
    """The calls a filter mapping keeps, as one polars expression (checked first: an unknown
    column or a value of the wrong type is a ValidationError naming the column)."""
    expr = pl.lit(True)
    for column, spec in check_filters(filters, calls_schema).items():
        expr &= _column_expression(column, spec, calls_schema[column])
    return expr
