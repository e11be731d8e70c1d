"""Check an imported table against the import format and cast it to the stored dtypes.

Each check raises one :class:`~workbench.core.errors.InputError` naming the source, the rows
(from the reader's ``ROW`` column), the column and the fix. Checks run column by column in
a fixed order, so the first problem a user fixes is the first one in the file's layout.

Decisions a user may trip over:
- ``side`` and ``channel`` are matched ignoring case and surrounding spaces and stored in
  lower case ("Customer" is fine); anything else lists the allowed values.
- Booleans accept true/false, 1/0, yes/no (any case) as text, and 0/1 as numbers.
- ``started_at`` accepts ISO-8601 text with or without a zone (no zone means UTC) and a
  bare date (midnight UTC); timestamps with a zone are converted to UTC.
- ``started_at`` must lie between 1990-01-01 and one day after now (UTC): a year 0001 or 9999
  is a broken export, and a future call would fall into every "last 12 months" backfill. The
  day of slack covers clocks a little ahead and zones east of UTC.
- ``utterance_id`` must be a whole number, 0 or more; ``2.0`` is accepted, ``2.5`` is not.
- ``text`` must keep something after removing whitespace, zero-width characters
  (U+200B..U+200D, U+FEFF) and NUL: such text looks blank and has no sentence to track.
- ids are kept exactly as given (no trimming): a stray space in one file but not the other
  shows up as an utterance whose call is unknown, which names the value.
- A missing or null ``language`` becomes the default ("en"); extra call columns are kept
  untouched; extra utterance columns are dropped with a warning, since the stored
  utterances table has a fixed layout.
"""
from __future__ import annotations

import difflib
from datetime import datetime, timedelta, timezone

import polars as pl

from workbench.core import schema
from workbench.corpus.readers import ROW
from workbench.core.errors import InputError

EARLIEST_STARTED_AT = datetime(1990, 1, 1, tzinfo=timezone.utc)
FUTURE_SLACK = timedelta(days=1)
# Characters that render as nothing: zero-width space, non-joiner, joiner, the byte-order mark
# (zero-width no-break space), and NUL.
INVISIBLE = r"\x{200B}-\x{200D}\x{FEFF}\x00"  # as a regex character-class body

TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


def rows_where(df: pl.DataFrame, mask: pl.Series | pl.Expr) -> list[int]:
    return df.filter(mask)[ROW].to_list()


def _show(values: list[object], limit: int = 3) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


def require_columns(df: pl.DataFrame, required: list[str], source: str, kind: str) -> None:
    present = [c for c in df.columns if c != ROW]
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return
    hints = []
    for col in missing:
        close = [c for c in present if c.strip().lower() == col] or difflib.get_close_matches(col, present, 1)
        if close:
            hints.append(f"'{close[0]}' may be '{col}'")
    if len(present) == 1 and any(sep in present[0] for sep in ";\t|"):
        hints.append("the header seems to use another separator than ','")
    fix = f"Add the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    if hints:
        fix += " (" + "; ".join(hints) + ")"
    raise InputError(
        f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
        f"(the {kind} table needs {', '.join(required)}; found {', '.join(present) or 'none'})",
        source=source,
        column=missing[0],
        fix=fix,
    )


def _unsupported_dtype(df: pl.DataFrame, col: str, source: str, wanted: str) -> InputError:
    return InputError(f"holds {df.schema[col]} values, expected {wanted}", source=source,
                      rows=df[ROW].head(5).to_list(), column=col,
                      fix=f"Store '{col}' as {wanted}")


def _cast_failed(df: pl.DataFrame, col: str, parsed: pl.Series, source: str, what: str,
                 fix: str) -> None:
    bad = df[col].is_not_null() & parsed.is_null()
    if bad.any():
        values = df.filter(bad)[col].to_list()
        raise InputError(f"{_show(values)} {'is' if len(values) == 1 else 'are'} not {what}",
                         source=source, rows=rows_where(df, bad), column=col, fix=fix)


def cast_string(df: pl.DataFrame, col: str, source: str) -> pl.Series:
    s = df[col]
    if s.dtype in (pl.String, pl.Categorical, pl.Enum) or s.dtype == pl.Null:
        return s.cast(pl.String)
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        # Numeric ids (7 rather than "7") are common in Parquet exports; their text is the id.
        return s.cast(pl.String)
    raise _unsupported_dtype(df, col, source, "text")


def cast_float(df: pl.DataFrame, col: str, source: str) -> pl.Series:
    s = df[col]
    if s.dtype == pl.String:
        parsed = s.str.strip_chars().cast(pl.Float64, strict=False)
        _cast_failed(df, col, parsed, source, "a number",
                     f"Write '{col}' as a plain number of seconds with a '.' decimal point, like 12.5")
    elif s.dtype.is_numeric() or s.dtype == pl.Null:
        parsed = s.cast(pl.Float64)
    else:
        raise _unsupported_dtype(df, col, source, "a number")
    infinite = parsed.is_not_null() & ~parsed.is_finite()
    if infinite.any():
        raise InputError("is NaN or infinite", source=source, rows=rows_where(df, infinite),
                         column=col, fix=f"Give '{col}' a finite number, or leave it empty")
    return parsed


def cast_bool(df: pl.DataFrame, col: str, source: str) -> pl.Series:
    s = df[col]
    if s.dtype == pl.Boolean:
        return s
    if s.dtype == pl.String:
        words = s.str.strip_chars().str.to_lowercase()
        parsed = (pl.when(words.is_in(TRUE_WORDS)).then(True)
                  .when(words.is_in(FALSE_WORDS)).then(False)
                  .otherwise(None))
        parsed = df.select(parsed.alias(col))[col]
    elif s.dtype.is_integer() or s.dtype == pl.Null:
        parsed = pl.select(pl.when(s == 1).then(True).when(s == 0).then(False)
                           .otherwise(None).alias(col))[col]
    else:
        raise _unsupported_dtype(df, col, source, "true/false")
    _cast_failed(df, col, parsed, source, "true/false",
                 f"Write '{col}' as true/false, yes/no or 1/0")
    return parsed.cast(pl.Boolean)


def cast_int(df: pl.DataFrame, col: str, source: str) -> pl.Series:
    s = df[col]
    if s.dtype.is_integer():
        return s.cast(pl.Int64)
    if s.dtype == pl.String:
        number = s.str.strip_chars().cast(pl.Float64, strict=False)
    elif s.dtype.is_float() or s.dtype == pl.Null:
        number = s.cast(pl.Float64)
    else:
        raise _unsupported_dtype(df, col, source, "a whole number")
    # pandas turns an integer column with gaps into floats, so 2.0 must still be id 2.
    whole = number.is_finite() & (number == number.floor()) & (number.abs() < 2**62)
    parsed = pl.select(pl.when(whole).then(number).otherwise(None).cast(pl.Int64).alias(col))[col]
    _cast_failed(df, col, parsed, source, "a whole number",
                 f"Number the rows of each call with whole numbers in '{col}' (0, 1, 2, ...)")
    return parsed


def _parse_iso(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def cast_datetime(df: pl.DataFrame, col: str, source: str) -> pl.Series:
    s = df[col]
    target = pl.Datetime("us", "UTC")
    if isinstance(s.dtype, pl.Datetime):
        s = s.dt.replace_time_zone("UTC") if s.dtype.time_zone is None else s.dt.convert_time_zone("UTC")
        return s.cast(target)
    if s.dtype == pl.Date:
        return s.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if s.dtype == pl.String:
        # fromisoformat handles every ISO-8601 form with mixed zones in one column, which a
        # single polars format string cannot; parse each distinct value once.
        uniques = s.drop_nulls().unique()
        lookup = {v: _parse_iso(v) for v in uniques.to_list()}
        parsed = s.replace_strict(lookup, default=None, return_dtype=target)
        _cast_failed(df, col, parsed, source, "an ISO-8601 timestamp",
                     f"Write '{col}' like 2024-03-05T14:30:00Z or 2024-03-05 14:30:00 "
                     f"(no zone means UTC)")
        return parsed
    raise _unsupported_dtype(df, col, source, "an ISO-8601 timestamp")


CASTS = {pl.String: cast_string, pl.Float64: cast_float, pl.Boolean: cast_bool,
         pl.Int64: cast_int}


def cast_column(df: pl.DataFrame, col: str, dtype: pl.DataType, source: str) -> pl.Series:
    if isinstance(dtype, pl.Datetime):
        return cast_datetime(df, col, source)
    return CASTS[dtype.base_type()](df, col, source)


def check_not_null(df: pl.DataFrame, col: str, source: str) -> None:
    missing = df[col].is_null()
    if df[col].dtype == pl.String:
        missing = missing | (df[col].str.strip_chars() == "")
    if missing.any():
        raise InputError("has no value (empty or only whitespace)", source=source,
                         rows=rows_where(df, missing), column=col,
                         fix=f"Every row needs a value in '{col}'; fill it in or remove those rows")


def check_visible_text(df: pl.DataFrame, col: str, source: str) -> None:
    """Refuse text that is empty once whitespace and invisible characters are removed."""
    visible = df[col].str.replace_all(rf"[\s{INVISIBLE}]", "")
    blank = (visible == "").fill_null(False)
    if blank.any():
        raise InputError("has no visible text (only whitespace, zero-width characters or NUL)",
                         source=source, rows=rows_where(df, blank), column=col,
                         fix=f"Give each row readable text in '{col}', or remove those rows")


def check_started_at_range(df: pl.DataFrame, col: str, source: str) -> None:
    latest = datetime.now(timezone.utc) + FUTURE_SLACK
    out = ((df[col] < EARLIEST_STARTED_AT) | (df[col] > latest)).fill_null(False)
    if out.any():
        values = [v.isoformat() for v in df.filter(out)[col].to_list()]
        raise InputError(
            f"{_show(values)} {'is' if len(values) == 1 else 'are'} outside "
            f"{EARLIEST_STARTED_AT.date()} .. {latest.date()} (now + 1 day)",
            source=source, rows=rows_where(df, out), column=col,
            fix=f"Check the export's dates: '{col}' must be a real past date, "
                f"with a four-digit year from 1990")


def check_allowed(df: pl.DataFrame, col: str, allowed: tuple[str, ...], source: str) -> pl.Series:
    normalised = df[col].str.strip_chars().str.to_lowercase()
    bad = normalised.is_not_null() & ~normalised.is_in(allowed)
    if bad.any():
        values = df.filter(bad)[col].unique(maintain_order=True).to_list()
        raise InputError(f"unknown value{'s' if len(values) > 1 else ''} {_show(values)}",
                         source=source, rows=rows_where(df, bad), column=col,
                         fix=f"Use one of: {', '.join(allowed)}")
    return normalised


def check_unique(df: pl.DataFrame, cols: list[str], source: str, what: str) -> None:
    dup = df.select(pl.struct(cols).is_duplicated().alias("dup"))["dup"]
    if dup.any():
        first = df.filter(dup).row(0, named=True)
        key = ", ".join(f"{c}={first[c]!r}" for c in cols)
        raise InputError(f"duplicate {what} ({key} appears more than once)", source=source,
                         rows=rows_where(df, dup), column=cols[-1],
                         fix=f"Give each {what} one row only")


def check_not_negative(df: pl.DataFrame, col: str, source: str, fix: str) -> None:
    negative = (df[col] < 0).fill_null(False)
    if negative.any():
        values = df.filter(negative)[col].to_list()
        raise InputError(f"negative value{'s' if len(values) > 1 else ''} {_show(values)}",
                         source=source, rows=rows_where(df, negative), column=col, fix=fix)


def validate_calls(df: pl.DataFrame, source: str) -> tuple[pl.DataFrame, list[str]]:
    """Cast the calls table; returns calls (required, language, extras, ROW) and warnings."""
    required = list(schema.CALLS_REQUIRED)
    require_columns(df, required, source, "calls")
    out: dict[str, pl.Series] = {}
    for col, dtype in schema.CALLS_REQUIRED.items():
        if col not in schema.CALLS_NULLABLE:
            check_not_null(df, col, source)
        out[col] = cast_column(df, col, dtype, source).alias(col)
    df = df.with_columns(**out)
    check_started_at_range(df, "started_at", source)
    check_unique(df, ["call_id"], source, "call_id")
    check_not_negative(df, "duration_s", source, "Give the call's length in seconds, 0 or more")
    df = df.with_columns(check_allowed(df, "channel", schema.CHANNELS, source).alias("channel"))
    for col, (dtype, default) in schema.CALLS_OPTIONAL.items():
        if col in df.columns:
            value = cast_column(df, col, dtype, source).str.strip_chars()
            df = df.with_columns(pl.when(value.is_null() | (value == "")).then(pl.lit(default))
                                 .otherwise(value).alias(col))
        else:
            df = df.with_columns(pl.lit(default, dtype).alias(col))
    front = required + list(schema.CALLS_OPTIONAL)
    extras = [c for c in df.columns if c not in front and c != ROW]
    return df.select(front + extras + [ROW]), []


def validate_utterances(df: pl.DataFrame, source: str) -> tuple[pl.DataFrame, list[str]]:
    """Cast the utterances table to schema.UTTERANCES_REQUIRED (plus ROW and, when given,
    an input ``timing_estimated``); returns it and warnings."""
    warnings: list[str] = []
    nullable = schema.UTTERANCES_NULLABLE
    required = [c for c in schema.UTTERANCES_REQUIRED if c not in nullable]
    require_columns(df, required, source, "utterances")
    for col in nullable:
        if col not in df.columns:  # no times at all: every row is estimated
            df = df.with_columns(pl.lit(None, pl.Float64).alias(col))
    out: dict[str, pl.Series] = {}
    for col, dtype in schema.UTTERANCES_REQUIRED.items():
        if col not in nullable:
            check_not_null(df, col, source)
        out[col] = cast_column(df, col, dtype, source).alias(col)
    df = df.with_columns(**out)
    check_visible_text(df, "text", source)
    check_not_negative(df, "utterance_id", source,
                       "Number the rows of each call from 0 up in 'utterance_id' (0, 1, 2, ...)")
    check_unique(df, ["call_id", "utterance_id"], source, "utterance (call_id, utterance_id)")
    df = df.with_columns(check_allowed(df, "side", schema.SIDES, source).alias("side"))
    for col in ("start_s", "end_s"):
        check_not_negative(df, col, source,
                           f"'{col}' counts seconds from the start of the call, from 0")
    backwards = (df["end_s"] < df["start_s"]).fill_null(False)
    if backwards.any():
        raise InputError("end_s is before start_s", source=source, rows=rows_where(df, backwards),
                         column="end_s", fix="Swap or correct the times of those rows")
    keep = list(schema.UTTERANCES_REQUIRED) + [ROW]
    given_estimate = "timing_estimated" in df.columns
    if given_estimate:  # a re-import of stored utterances keeps which times were guesses
        df = df.with_columns(cast_bool(df, "timing_estimated", source).fill_null(False)
                             .alias("timing_estimated"))
        keep.append("timing_estimated")
    extras = [c for c in df.columns if c not in keep]
    if extras:
        warnings.append(f"{source}: ignored column{'s' if len(extras) > 1 else ''} "
                        f"{', '.join(extras)} (utterances keep only {', '.join(schema.UTTERANCES_REQUIRED)})")
    return df.select(keep), warnings
