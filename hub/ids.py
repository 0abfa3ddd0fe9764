"""Identifiers: UUIDv7 for events and incidents (time-ordered, sortable)."""

from uuid import UUID

import uuid6


def new_id() -> UUID:
    return uuid6.uuid7()
