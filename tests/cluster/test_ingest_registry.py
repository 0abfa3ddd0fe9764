"""An ingest process learns devices provisioned through the API (on another process) from the
store, and forgets the ones deprovisioned there."""

from __future__ import annotations

import sys
from pathlib import Path

from hub.cluster.ingest_process import refresh_devices
from hub.config import Device
from hub.devices.registry import DeviceRegistry
from hub.devices.repo import DeviceRepo
from hub.store.db import open_store

sys.path.insert(0, str(Path(__file__).parent.parent / "devices"))
from ingest_helpers import device_site


async def test_provisioned_devices_come_and_go_from_the_store(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    repo = DeviceRepo(store.engine)
    try:
        site = device_site()
        registry = DeviceRegistry(site)
        site_ids = {d.id for d in site.devices}
        new = Device(id="dev-new", name="new", profile="gauge", grid="g1", position=[120.05, 31.05])
        await repo.add_device(new)
        await refresh_devices(registry, repo, site_ids)
        k = registry.active("dev-new")
        assert k is not None and k.source == "api"
        assert registry.active("dev-1") is not None  # the site's own stay as they are
        await repo.delete_device("dev-new")
        await refresh_devices(registry, repo, site_ids)
        assert registry.get("dev-new") is None
        assert registry.active("dev-1") is not None
    finally:
        await repo.close()
        await store.close()
