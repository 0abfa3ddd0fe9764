"""Persistence: SQLAlchemy 2 async over SQLite (default) or PostgreSQL, migrated by Alembic."""

from hub.store.db import Store, open_store
from hub.store.events import EventRepo, StoredEvent
from hub.store.users import ROLES, Role, User, UserRepo

__all__ = ["ROLES", "EventRepo", "Role", "Store", "StoredEvent", "User", "UserRepo", "open_store"]
