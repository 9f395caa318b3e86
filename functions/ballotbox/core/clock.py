"""Beijing time as pure functions: the day and the timestamp formats of the ledger.

China has had no daylight saving since 1991, so a fixed +08:00 offset is exact and
needs no time-zone database (which the Lambda runtime may lack).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetimes have no place in the vote path")
    return now.astimezone(BEIJING)


def beijing_day(now: datetime) -> str:
    """The voting day (``YYYY-MM-DD``); it turns at 00:00 Beijing time."""
    return _aware(now).date().isoformat()


def beijing_iso(now: datetime) -> str:
    """Server time as the ledger keeps it: milliseconds and ``+08:00``."""
    return _aware(now).isoformat(timespec="milliseconds")


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries its offset (naive times are refused)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value
