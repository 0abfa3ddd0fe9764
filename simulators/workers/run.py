"""The site's workers as bots against a running hub: one :class:`WorkerBot` per site worker the
credentials file has a password for, and a :class:`DutyBot` on the duty accounts.

The credentials file (written by `python -m hub demo` as ``worker-credentials.json``, mode 0600)::

    {"workers": {"wg-sanjing-xsf": "<password>", ...},
     "duty": {"duty-bot": "<password>", "duty-lead": "<password>"}}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hub.aio import cancel_and_wait
from hub.config import Site
from simulators.workers.behaviour import Behaviour
from simulators.workers.client import HubClient
from simulators.workers.duty import DutyBot
from simulators.workers.field import WorkerBot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    workers: dict[str, str] = field(default_factory=dict)
    duty: dict[str, str] = field(default_factory=dict)
    drones: dict[str, str] = field(default_factory=dict)
    """Units that publish video (``simulators.drones``), by camera id."""

    def __repr__(self) -> str:  # never the passwords
        return (
            f"Credentials(workers={sorted(self.workers)}, duty={sorted(self.duty)}, "
            f"drones={sorted(self.drones)})"
        )


def parse_credentials(data: object) -> Credentials:
    if not isinstance(data, dict) or set(data) - {"workers", "duty", "drones"}:
        raise ValueError('credentials: an object with "workers", "duty" and "drones" only')
    parts: dict[str, dict[str, str]] = {}
    for key in ("workers", "duty", "drones"):
        part = data.get(key, {})
        if not isinstance(part, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in part.items()
        ):
            raise ValueError(f'credentials: "{key}" maps usernames to passwords')
        parts[key] = dict(part)
    return Credentials(workers=parts["workers"], duty=parts["duty"], drones=parts["drones"])


def load_credentials(path: Path) -> Credentials:
    return parse_credentials(json.loads(path.read_text(encoding="utf-8")))


class WorkerCity:
    """Every bot as a task; ``stop`` ends the workers' shifts and closes the connections.

    async with WorkerCity(site, "http://127.0.0.1:8000", creds, seed=1) as city:
        ...
    """

    def __init__(
        self,
        site: Site,
        hub_url: str,
        credentials: Credentials,
        *,
        behaviour: Behaviour | None = None,
        seed: int = 0,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.site = site
        self.hub_url = hub_url.rstrip("/")
        self.credentials = credentials
        self.behaviour = behaviour or Behaviour()
        self.seed = seed
        self.timeout = timeout
        self.transport = transport
        """None: the network; tests put a failing or recording transport here."""
        self.workers: list[WorkerBot] = []
        self.duty: DutyBot | None = None
        self._http: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _rng(self, name: str) -> random.Random:
        # One stream per bot, from the seed and its name: adding a worker to the site does not
        # change what the others do.
        return random.Random(f"{self.seed}:{name}")

    async def start(self) -> None:
        # httpx logs every request at INFO: thousands of lines an hour from the bots.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        http = httpx.AsyncClient(
            base_url=self.hub_url, timeout=self.timeout, transport=self.transport
        )
        self._http = http
        gate = asyncio.Semaphore(4)
        known = {w.username for w in self.site.workers}
        for name in sorted(set(self.credentials.workers) - known):
            log.warning("credentials for %s, who is no worker of the site: skipped", name)
        for w in self.site.workers:
            pw = self.credentials.workers.get(w.username)
            if pw is None:
                continue
            api = HubClient(http, w.username, pw, login_gate=gate)
            rng = self._rng(w.username)
            self.workers.append(WorkerBot(api, w, self.site, self.behaviour, rng))
        if self.credentials.duty:
            accounts = [
                HubClient(http, name, pw, login_gate=gate)
                for name, pw in sorted(self.credentials.duty.items())
            ]
            self.duty = DutyBot(accounts, self.behaviour, self._rng("duty"))
        for bot in self.workers:
            self._tasks.append(asyncio.create_task(bot.run(), name=f"worker-{bot.username}"))
        if self.duty is not None:
            self._tasks.append(asyncio.create_task(self.duty.run(), name="duty-officer"))
        log.info(
            "%d worker bots and %d duty accounts on %s",
            len(self.workers),
            len(self.credentials.duty),
            self.hub_url,
            extra={
                "hub": self.hub_url,
                "workers": len(self.workers),
                "duty_accounts": len(self.credentials.duty),
                "speed": self.behaviour.speed,
            },
        )

    @property
    def running(self) -> int:
        """Bots still running (every one, unless a bug ended one)."""
        return sum(not t.done() for t in self._tasks)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self.workers:
            await asyncio.gather(*(bot.off_duty() for bot in self.workers))
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> WorkerCity:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def run_workers(
    site: Site,
    hub_url: str,
    credentials: Credentials,
    *,
    behaviour: Behaviour | None = None,
    seed: int = 0,
) -> None:
    """The bots until cancelled."""
    async with WorkerCity(site, hub_url, credentials, behaviour=behaviour, seed=seed):
        await asyncio.Event().wait()
