"""What the worker bots start from: the demo site's workers, the credentials file `python -m hub
demo` writes for them, and their synthetic photos."""

from __future__ import annotations

import asyncio
import json
import random
import stat
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from argon2 import PasswordHasher

from hub.config import Settings, Site, Worker, load_site
from hub.demo import DUTY_ACCOUNTS, WORKER_CREDENTIALS_FILE, _simulator_command, worker_credentials
from hub.store import passwords
from hub.store.db import open_store
from simulators.city.make_site import build_workers
from simulators.workers import load_credentials, parse_credentials
from simulators.workers.photo import make_photo

REPO = Path(__file__).resolve().parents[2]
DEMO_SITE = REPO / "sites" / "demo-district.yaml"


@pytest.fixture(autouse=True)
def fast_hasher() -> Iterator[None]:
    passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.set_hasher(PasswordHasher())


@pytest.fixture(scope="module")
def demo_site() -> Site:
    # The committed file is make_site's output byte for byte (test_city.py checks that); load
    # it once, through the hub's own validation.
    return load_site(DEMO_SITE)


def test_every_grid_of_the_demo_site_has_exactly_one_owner(demo_site: Site) -> None:
    owners = Counter(g for w in demo_site.workers for g in w.grids)
    assert set(owners) == {g.id for g in demo_site.grids()}
    assert set(owners.values()) == {1}
    for street in demo_site.district.streets:
        for community in street.communities:
            # wg-<community>: the community's own grid worker, holding all of its grids.
            (w,) = [w for w in demo_site.workers if w.username == f"wg-{community.id}"]
            assert sorted(w.grids) == sorted(g.id for g in community.grids)
            assert w.phone and len(w.phone) == 11 and w.skills and w.department is None


def test_the_demo_sites_department_staff_belong_to_known_departments(demo_site: Site) -> None:
    staff = [w for w in demo_site.workers if not w.grids]
    departments = {d.id for d in demo_site.catalogue().departments}
    assert len(staff) >= 3
    assert {w.department for w in staff} <= departments
    assert {"urban-management", "municipal"} <= {w.department for w in staff}
    names = [w.name for w in demo_site.workers]
    assert len(set(names)) == len(names)


def test_make_site_writes_the_workers_it_builds(demo_site: Site) -> None:
    streets = [s.model_dump() for s in demo_site.district.streets]
    assert [Worker.model_validate(w) for w in build_workers(streets)] == demo_site.workers


def _settings(tmp_path: Path) -> Settings:
    return Settings(site=DEMO_SITE, data_dir=tmp_path / "data")


async def _users(settings: Settings) -> dict[str, tuple[str, bool, bool]]:
    store = await open_store(settings)
    try:
        return {
            u.username: (u.role, u.active, u.must_change_password) for u in await store.users.list()
        }
    finally:
        await store.close()


async def _prepare(settings: Settings) -> None:
    store = await open_store(settings)
    try:
        # An operator who happens to share a worker's name is not demoted; a disabled worker
        # account with a one-time password comes back, with a password to keep.
        await store.users.create("wg-sanjing-xsf", "operator", "pw-operator-1")
        await store.users.create("wg-hehai-ts", "worker", "pw-old-one", must_change_password=True)
        await store.users.update("wg-hehai-ts", active=False)
    finally:
        await store.close()


async def _authenticates(settings: Settings, username: str, password: str) -> bool:
    store = await open_store(settings)
    try:
        return await store.users.authenticate(username, password) is not None
    finally:
        await store.close()


def test_the_demo_gives_every_worker_an_account_and_a_private_password_file(
    tmp_path: Path, demo_site: Site
) -> None:
    # Synchronous, like the demo's startup: worker_credentials runs its own event loop.
    settings = _settings(tmp_path)
    site = demo_site
    asyncio.run(_prepare(settings))

    path, n = worker_credentials(settings, site)
    assert path == settings.data_dir / WORKER_CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = load_credentials(path)
    assert n == len(site.workers) - 1 == len(creds.workers)
    assert "wg-sanjing-xsf" not in creds.workers
    assert set(creds.duty) == set(DUTY_ACCOUNTS)
    users = asyncio.run(_users(settings))
    assert users["wg-sanjing-xsf"] == ("operator", True, False)
    for name in creds.workers:
        assert users[name] == ("worker", True, False)
    assert users["duty-bot"] == ("operator", True, False)
    assert users["duty-lead"] == ("supervisor", True, False)
    assert asyncio.run(_authenticates(settings, "wg-hehai-ts", creds.workers["wg-hehai-ts"]))

    # Every run: fresh passwords.
    worker_credentials(settings, site)
    again = load_credentials(path)
    assert set(again.workers) == set(creds.workers)
    assert all(again.workers[u] != creds.workers[u] for u in creds.workers)

    cmd = _simulator_command(settings, "http://127.0.0.1:8000", path)
    assert cmd[cmd.index("--hub") + 1] == "http://127.0.0.1:8000"
    assert cmd[cmd.index("--worker-credentials") + 1] == str(path)
    assert "--exit-with-parent" in cmd  # it must not outlive a hub that died


def test_credentials_are_checked_and_never_shown() -> None:
    creds = parse_credentials({"workers": {"w1": "secret-pw-1"}, "duty": {"op": "secret-pw-2"}})
    assert "secret" not in repr(creds)
    for bad in ([], {"workers": []}, {"workers": {"w1": 3}}, {"other": {}}, {"duty": {"a": ""}}):
        with pytest.raises(ValueError):
            parse_credentials(bad)
    assert json.loads(json.dumps({"workers": creds.workers})) == {"workers": {"w1": "secret-pw-1"}}


def test_photos_are_jpegs_of_a_scene_with_a_stamp() -> None:
    when = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    a = make_photo(["case 12 11.02", "w1"], when, random.Random(3))
    b = make_photo(["case 12 11.02", "w1"], when, random.Random(3))
    c = make_photo(["case 13 11.02", "w1"], when, random.Random(3))
    assert a == b and a != c  # seeded: the same photo for the same case, time and seed
    img = cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (480, 640, 3)
    assert a[:3] == b"\xff\xd8\xff"
    # A scene, not a flat image: the hub must see a real photo.
    assert float(img.std()) > 20
