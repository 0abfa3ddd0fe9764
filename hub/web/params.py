"""Bounds of the API's query, path and body values: what the store can hold and compare.

Declared in the route signatures, so they are in the OpenAPI document too. A value outside them
is a 422 problem, not a database error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

MAX_ROW_ID = 2**63 - 1
"""Row ids and sequence numbers: SQLite's INTEGER and PostgreSQL's BIGINT are signed 64-bit; a
larger number cannot even be compared with a column."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
TIME_RANGE = "1970-01-01T00:00:00Z <= time < 3000-01-01T00:00:00Z; no offset means UTC"


def _in_range(t: datetime) -> datetime:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    try:
        # Near year 1 or 9999 an offset can push the time past what datetime holds.
        utc = t.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"time out of range ({TIME_RANGE})")
    return utc


Time = Annotated[datetime, AfterValidator(_in_range)]
"""A time as a query parameter, in UTC once validated."""

FILTER_TEXT = r"^[^\x00-\x1f\x7f]*$"
"""No control characters: PostgreSQL text cannot hold NUL, and no stored id has one."""

FilterText = Annotated[str, StringConstraints(max_length=256, pattern=FILTER_TEXT)]
"""A string an API route compares with stored ids (a camera, a device)."""
