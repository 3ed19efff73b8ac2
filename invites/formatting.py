"""How pages write dates (one way everywhere, as seed 003 shows them: "Jan 27, 2025") and counts of people."""

from __future__ import annotations

from datetime import datetime, timezone


def day(value: datetime) -> str:
    """``Jan 27, 2025``: a date without a leading zero on the day."""
    return f"{value:%b} {value.day}, {value.year}"


def moment(value: datetime) -> str:
    """``Jan 27, 2025 at 14:05 UTC``: a date and time, always shown in UTC."""
    value = value.astimezone(timezone.utc)
    return f"{day(value)} at {value:%H:%M} UTC"


def people(n: int) -> str:
    """``1 person``, ``3 people``."""
    return f"{n} {'person' if n == 1 else 'people'}"
