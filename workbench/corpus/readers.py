"""Read one import table (calls or utterances) from a file or a DataFrame.

Every table comes back with a hidden row-number column, ``ROW``, holding the 1-based
row a user would look for: the data row of a CSV (header not counted), the line of a
JSONL file, the row of a Parquet file or DataFrame. Validation reports rows from it, so
numbers stay right after filtering and sorting.

CSV is read with every column as text: types are cast later, column by column, so a bad
value is reported with its row and column instead of as a parser error for the file.
"""
from __future__ import annotations

import io
import json
from os import PathLike
from pathlib import Path

import polars as pl

from workbench.core.errors import InputError

ROW = "__workbench_row__"

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED = CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES

TableSource = str | PathLike | pl.DataFrame


def read_table(source: TableSource, kind: str) -> tuple[pl.DataFrame, str]:
    """Return ``(table with ROW column, source name)``; ``kind`` is "calls" or "utterances"."""
    if isinstance(source, pl.DataFrame):
        name = f"{kind} DataFrame"
        if ROW in source.columns:
            raise InputError(f"the column name '{ROW}' is reserved", source=name, column=ROW,
                             fix="Rename that column")
        _require_rows(source, name)
        return source.with_row_index(ROW, offset=1), name
    if not isinstance(source, (str, PathLike)):
        raise InputError(
            f"{kind} must be a path to a .csv, .jsonl or .parquet file or a polars DataFrame, "
            f"not {type(source).__name__}",
            source=kind,
            fix="Pass a file path or call polars.from_pandas() on a pandas DataFrame first",
        )
    path = Path(source)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(
            f"unknown file type '{path.suffix or '(no extension)'}'",
            source=name,
            fix="Save the table as .csv, .jsonl/.ndjson or .parquet and name the file with that extension",
        )
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a file", source=name,
                         fix="Check the path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=name,
                         fix="Check the file's permissions") from exc
    if not data.strip():
        raise InputError("the file is empty", source=name,
                         fix=f"Export the {kind} table with a header and at least one row")
    if suffix in PARQUET_SUFFIXES:
        df = _read_parquet(data, name)
    else:
        text = _decode_utf8(data, name, header=suffix in CSV_SUFFIXES)
        df = _read_csv(text, name) if suffix in CSV_SUFFIXES else _read_jsonl(text, name)
    _require_rows(df, name, kind)
    return df, name


def _require_rows(df: pl.DataFrame, name: str, kind: str | None = None) -> None:
    if df.height == 0:
        raise InputError("the table has no rows", source=name,
                         fix=f"Add at least one {kind or 'data'} row")


def _decode_utf8(data: bytes, name: str, *, header: bool) -> str:
    try:
        # utf-8-sig drops the byte-order mark that Excel puts in front of the header,
        # which would otherwise turn "call_id" into "\ufeffcall_id".
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.start + 4]
        where = [line - 1] if header and line > 1 else ([line] if not header else [])
        detail = "the header line" if header and line == 1 else f"line {line}"
        raise InputError(
            f"the file is not UTF-8 text: byte {exc.start} ({detail}) starts the invalid "
            f"sequence {bad!r}",
            source=name,
            rows=where,
            fix="Re-save the file as UTF-8" + (" (in Excel: 'CSV UTF-8')" if header else "")
                + ", or convert it with `iconv -f cp1252 -t utf-8`",
        ) from exc


def _read_csv(text: str, name: str) -> pl.DataFrame:
    try:
        df = pl.read_csv(io.StringIO(text), infer_schema=False, raise_if_empty=True)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise InputError(f"cannot parse the file as CSV: {_first_line(exc)}", source=name,
                         fix="Check that every line has the same number of comma-separated fields "
                             "and that quotes are closed") from exc
    return df.with_row_index(ROW, offset=1)


def _read_jsonl(text: str, name: str) -> pl.DataFrame:
    lines = text.splitlines()
    data_lines = [i + 1 for i, line in enumerate(lines) if line.strip()]
    try:
        # infer over all rows: a string after the 100th row would fail the default inference.
        df = pl.read_ndjson(io.StringIO(text), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise _jsonl_error(lines, name, exc) from exc
    if df.height != len(data_lines):
        # Only if polars ever counts lines differently; better no row numbers than wrong ones.
        return df.with_row_index(ROW, offset=1)
    # Blank lines are skipped by the reader, so rows are reported by their line number.
    return df.with_columns(pl.Series(ROW, data_lines, dtype=pl.UInt32))


def _jsonl_error(lines: list[str], name: str, exc: Exception) -> InputError:
    """Find the line polars could not read, to name it instead of a character offset."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as bad:
            return InputError(f"line {number} is not valid JSON ({bad.msg} at column {bad.colno})",
                              source=name, rows=[number],
                              fix="Write one JSON object per line (JSON Lines)")
        if not isinstance(value, dict):
            return InputError(f"line {number} holds a JSON {type(value).__name__}, not an object",
                              source=name, rows=[number],
                              fix='Write one JSON object per line, like {"call_id": "c1", ...}')
    return InputError(f"cannot read the file as JSON Lines: {_first_line(exc)}", source=name,
                      fix="Give each field the same kind of value on every line; "
                          "nested objects and lists are not supported")


def _read_parquet(data: bytes, name: str) -> pl.DataFrame:
    try:
        df = pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"cannot read the file as Parquet: {_first_line(exc)}", source=name,
                         fix="Check that the file is a complete Parquet file "
                             "(re-export it, or use .csv for text files)") from exc
    return df.with_row_index(ROW, offset=1)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
