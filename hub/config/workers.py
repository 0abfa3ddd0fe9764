"""Grid workers (网格员): who owns which grids, which department they work for, what they can
do. Their accounts (role ``worker``) are users of the hub; the site file says where they work.
Supervisors (领导) and the part of the district whose overdue cases they supervise (督办)."""

from __future__ import annotations

from typing import Literal

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


ScopeLevel = Literal["grid", "community", "street", "district"]
SCOPE_LEVELS: tuple[ScopeLevel, ...] = ("grid", "community", "street", "district")
"""From the most local to the widest."""


class Supervisor(Strict):
    """A leader (领导) who supervises overdue cases (督办) in a part of the district: a red case
    in their scope notifies them. ``scope`` is ``grid:<id>``, ``community:<id>``,
    ``street:<id>`` or ``district`` (the whole district; ``district:<id>`` with the district's
    own id is the same). Their hub account has the role supervisor (or admin)."""

    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=64)
    scope: str = Field(pattern=r"^(grid|community|street):[^\s:]{1,64}$|^district(:[^\s:]{1,64})?$")
    phone: str | None = Field(default=None, max_length=32)

    @property
    def level(self) -> ScopeLevel:
        level, _, _ = self.scope.partition(":")
        return level  # type: ignore[return-value]

    @property
    def scope_id(self) -> str | None:
        """The id of the grid, community or street; None for the district."""
        level, _, ident = self.scope.partition(":")
        return None if level == "district" else ident
