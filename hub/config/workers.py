"""Grid workers (网格员): who owns which grids, which department they work for, what they can
do. Their accounts (role ``worker``) are users of the hub; the site file says where they work."""

from __future__ import annotations

from pydantic import Field

from hub.config.common import Strict


class Worker(Strict):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The worker's hub account (role worker)."""
    name: str = Field(min_length=1, max_length=64)
    grids: list[str] = Field(default_factory=list)
    """The grids this worker owns (专职网格员): their cases go to them first."""
    department: str | None = None
    """A department id when the worker belongs to one (a 城管 team member...)."""
    skills: list[str] = Field(default_factory=list)
    """Free labels matched against what a case needs (e.g. "electrical", "first-aid")."""
    phone: str | None = Field(default=None, max_length=32)
