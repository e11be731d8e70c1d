"""Dates as users give them (ISO strings, dates, datetimes) turned into UTC datetimes."""
from __future__ import annotations

import datetime as dt
from typing import Any

from workbench.core.errors import ValidationError


def utc_datetime(value: Any, field: str, *, end: bool = False) -> dt.datetime | None:
    """A UTC datetime; a bare date is its first instant, or with ``end=True`` the first instant
    of the next day, so that "to 2026-01-31" includes the 31st. Naive times are read as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError(field, f"{value!r} is not a date", "Use an ISO date such as '2026-01-31'.") from exc
        day_only = "T" not in value and " " not in value.strip()
        value = parsed.date() if day_only else parsed
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time()) + (dt.timedelta(days=1) if end else dt.timedelta())
    elif not isinstance(value, dt.datetime):
        raise ValidationError(field, f"{value!r} is not a date", "Use an ISO date such as '2026-01-31'.")
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
