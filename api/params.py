"""Query and path values every endpoint reads the same way, checked before they reach the
database: a value out of range is 422 with the reason, never a driver error."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated

from fastapi import HTTPException, Path

# PostgreSQL's integer column; SQLite's is wider, but one bound answers alike on both.
MAX_TICKET_NUMBER = 2**31 - 1
TicketNumber = Annotated[int, Path(ge=1, le=MAX_TICKET_NUMBER,
                                   description="The ticket number people see as #N.")]
MAX_PAGE = 100_000
MAX_LEVEL = 1_000
EARLIEST_YEAR, LATEST_YEAR = 2000, 8999


def moment(name: str, value: datetime | None, zone: tzinfo) -> datetime | None:
    """A time from a query: without an offset it is read in policy.timezone; outside the years
    the bot can have data for it is 422."""
    if value is None:
        return None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise HTTPException(422, f"{name}: a time between {EARLIEST_YEAR} and {LATEST_YEAR} "
                                 f"expected, got {value.isoformat()}")
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
