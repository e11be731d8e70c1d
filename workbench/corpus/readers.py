"""Read one import table (calls or utterances) from a file or a DataFrame.

Every table comes back with a hidden row-number column, ``ROW``, holding the 1-based
row a user would look for: the data row of a CSV (header not counted), the line of a
JSONL file, the row of a Parquet file or DataFrame. Validation reports rows from it, so
numbers stay right after filtering and sorting.

CSV is read with every column as text: types are cast later, column by column, so a bad
value is reported with its row and column instead of as a parser error for the file.
"""
from __future__ import annotations

import errno
import io
import json
import os
from os import PathLike
from pathlib import Path

import polars as pl

from workbench.core import schema
from workbench.core.errors import InputError

ROW = "__workbench_row__"

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED = CSV_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES

TableSource = str | PathLike | pl.DataFrame

# Columns the import format defines as text, by table: a JSON object or array there is refused
# instead of being turned into its JSON text, which polars does when other lines hold strings.
TEXT_COLUMNS = {
    "calls": [c for c, t in schema.CALLS_REQUIRED.items() if t == pl.String]
             + [c for c, (t, _) in schema.CALLS_OPTIONAL.items() if t == pl.String],
    "utterances": [c for c, t in schema.UTTERANCES_REQUIRED.items() if t == pl.String],
}


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
    _require_file(path, name)
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
        df = (_read_csv(text, name) if suffix in CSV_SUFFIXES
              else _read_jsonl(text, name, TEXT_COLUMNS.get(kind, [])))
    _require_rows(df, name, kind)
    return df, name


def _require_file(path: Path, name: str) -> None:
    if path.is_file():
        return
    try:
        os.stat(path)
    except OSError as exc:
        # Path.exists() hides a symlink loop as a missing file; the user needs to know the
        # link is there but goes round in circles.
        if exc.errno == errno.ELOOP:
            raise InputError("the path is a symlink loop (a link that leads back to itself)",
                             source=name, fix="Point the symlink at the real file, or pass "
                                              "the real file's path") from exc
        raise InputError("file not found", source=name, fix="Check the path") from exc
    raise InputError("not a file", source=name, fix="Check the path")


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


def _read_jsonl(text: str, name: str, text_columns: list[str]) -> pl.DataFrame:
    lines = text.splitlines()
    data_lines = [i + 1 for i, line in enumerate(lines) if line.strip()]
    try:
        # infer over all rows: a string after the 100th row would fail the default inference.
        df = pl.read_ndjson(io.StringIO(text), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise _jsonl_error(lines, name, exc) from exc
    _refuse_nested_text(lines, name, [c for c in text_columns if c in df.columns])
    if df.height != len(data_lines):
        # Only if polars ever counts lines differently; better no row numbers than wrong ones.
        return df.with_row_index(ROW, offset=1)
    # Blank lines are skipped by the reader, so rows are reported by their line number.
    return df.with_columns(pl.Series(ROW, data_lines, dtype=pl.UInt32))


def _refuse_nested_text(lines: list[str], name: str, text_columns: list[str]) -> None:
    """Refuse a JSON object or array in a text column, naming its lines.

    Only lines with a second '{' or any '[' can hold one, so the rest are not parsed twice.
    """
    found: dict[str, list[int]] = {}
    kinds: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        body = line.strip()
        if "{" not in body[1:] and "[" not in body:
            continue
        try:
            value = json.loads(body)
        except json.JSONDecodeError:  # polars read it, so only its own extensions land here
            continue
        if not isinstance(value, dict):
            continue
        for col in text_columns:
            if isinstance(value.get(col), (dict, list)):
                found.setdefault(col, []).append(number)
                kinds.setdefault(col, "object" if isinstance(value[col], dict) else "array")
    for col in text_columns:  # in the format's column order
        if col in found:
            raise InputError(f"holds a JSON {kinds[col]}, not text", source=name, rows=found[col],
                             column=col, fix=f"Write '{col}' as a JSON string on every line; "
                                             f"serialise structured data into a string first")


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
