"""CSV files that a spreadsheet opens as data, never as formulas.

A sentence, a team or a title reading `=HYPERLINK(...)`, `+1+1` or `@SUM(...)` becomes a live
formula when the exported CSV is opened in Excel, LibreOffice or Google Sheets (CSV or formula
injection). As OWASP recommends, a text cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return is written with a leading single quote, which spreadsheets show as text. Only
text columns change: numbers (negative ones included) and dates stay as they are, and so do the
Parquet and JSON exports, which no spreadsheet evaluates.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_PATTERN = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each text cell that a spreadsheet would run as a formula prefixed with `'`."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical, pl.Enum)]
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(_FORMULA_START_PATTERN))
        .then(pl.lit("'") + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text_columns
    )


def write_spreadsheet_safe_csv(frame: pl.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV with formula-like text cells neutralised (see the module docstring)."""
    neutralise_formulas(frame).write_csv(path)
