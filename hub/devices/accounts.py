"""Broker accounts: Mosquitto's password and ACL files, owned by the hub.

Each device logs in with its device id as username; the ACL (pattern rules on ``%u``) lets it
publish only under ``hub/v1/devices/<id>/`` and read only its own ``commands`` subtree. The hub's
service account, and any further service accounts (e.g. for a second ingest process), may read
and write everything; the ACL file's ``user`` blocks are where they are told apart from devices.

The password file uses Mosquitto's own ``$7$`` format (PBKDF2-SHA512, 101 iterations, 12-byte
salt), produced here rather than by spawning ``mosquitto_passwd`` per change, so the same file
also drives the amqtt fallback. Files are replaced atomically (temp file + rename, mode 0600): a
broker reloading at any moment reads either the old or the new file, never half of one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ReservedNameError

log = logging.getLogger(__name__)

TOPIC_ROOT = "hub/v1/devices"
_ITERATIONS = 101  # what mosquitto_passwd writes; Mosquitto reads the count from each line
_SALT_BYTES = 12
DEVICE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")  # the site file's Device.id rule

Reloader = Callable[[], Awaitable[None]]


def hash_password(password: str, *, iterations: int = _ITERATIONS) -> str:
    """A Mosquitto 2.x password hash: ``$7$<iterations>$<salt b64>$<sha512 b64>``."""
    salt = os.urandom(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a ``$7$`` hash (as written here or by ``mosquitto_passwd``)."""
    parts = stored.split("$")
    # "", "7", iterations, salt, hash
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if iterations <= 0:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def generate_password() -> str:
    return secrets.token_urlsafe(24)


def device_publish_prefix(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/"


def device_commands_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/commands"


def render_acl(hub_username: str, services: Iterable[str] = ()) -> str:
    """The ACL file. Device rules are patterns on the login name, so the file does not change when
    devices are added or removed: only the password file does."""
    blocks = "".join(
        f"user {name}\ntopic readwrite #\ntopic read $SYS/#\n\n"
        for name in [hub_username, *sorted(set(services) - {hub_username})]
    )
    return (
        "# Managed by the hub (hub/devices/accounts.py); edits are overwritten.\n"
        f"{blocks}"
        "# Devices: the username is the device id.\n"
        f"pattern write {TOPIC_ROOT}/%u/#\n"
        f"pattern read {TOPIC_ROOT}/%u/commands/#\n"
    )


def _read_acl_users(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    users: set[str] = set()
    for line in text.splitlines():
        key, _, name = line.strip().partition(" ")
        if key == "user" and name.strip():
            users.add(name.strip())
    return users


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # mkstemp already uses 0600; explicit in case umask games change
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_password_file(path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return users
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if sep:
            users[name] = hashed
    return users


@dataclass(frozen=True)
class DeviceCredentials:
    """What a device needs to connect; the password is only known at provisioning time."""

    device_id: str
    username: str
    password: str


class BrokerAccounts:
    """The password and ACL files of one broker, and the hook that makes it reload them.

    All changes go through here: the in-memory table is the source, the files are rewritten
    whole. Methods are async because hashing and fsync are kept off the event loop.
    """

    def __init__(
        self,
        password_file: Path,
        acl_file: Path,
        *,
        hub_username: str,
        reload: Reloader | None = None,
    ) -> None:
        self.password_file = Path(password_file)
        self.acl_file = Path(acl_file)
        self.hub_username = hub_username
        self._reload = reload
        self._users = _read_password_file(self.password_file)
        # A restarted hub must not take its own service accounts for devices.
        self._services = {
            u for u in _read_acl_users(self.acl_file) if u in self._users and u != hub_username
        }
        self._lock = asyncio.Lock()
        self.active_file: Path | None = None
        """Where the broker reads passwords, when it is not ``password_file`` (the embedded
        broker): the full table stays in ``password_file`` whatever the gate does."""
        self.gated = False
        """While set, the broker's password file holds only the hub's and the service accounts:
        devices are refused (they retry, keeping their unsent messages) until the hub has
        subscribed."""

    def set_reloader(self, reload: Reloader | None) -> None:
        self._reload = reload

    # -- queries -------------------------------------------------------------------------------

    def device_ids(self) -> list[str]:
        return sorted(u for u in self._users if not self.is_service(u))

    def has_device(self, device_id: str) -> bool:
        return not self.is_service(device_id) and device_id in self._users

    def is_service(self, username: str) -> bool:
        """The hub's own account or another service account: full rights, free client ids."""
        return username == self.hub_username or username in self._services

    def service_accounts(self) -> list[str]:
        """The service accounts besides the hub's own."""
        return sorted(self._services)

    def check(self, username: str, password: str) -> bool:
        """Authenticate like the broker does (used by the amqtt fallback)."""
        stored = self._users.get(username)
        return stored is not None and verify_password(password, stored)

    def may_publish(self, username: str, topic: str) -> bool:
        if self.is_service(username):
            return True
        return username in self._users and topic.startswith(device_publish_prefix(username))

    def may_subscribe(self, username: str, topic_filter: str) -> bool:
        """A device may read only its commands subtree; a wildcard that reaches further is
        refused (Mosquitto grants it but then delivers nothing outside the pattern)."""
        if self.is_service(username):
            return True
        if username not in self._users:
            return False
        own = device_commands_topic(username)
        return topic_filter == own or topic_filter.startswith(own + "/")

    # -- changes -------------------------------------------------------------------------------

    async def set_hub_account(self, password: str, username: str | None = None) -> None:
        """Set the hub's service account (and the ACL naming it); keeps device accounts."""
        async with self._lock:
            new_name = username or self.hub_username
            if new_name in self._services:
                raise ValueError(f"{new_name!r} is a service account, not the hub's")
            if new_name != self.hub_username:
                self._users.pop(self.hub_username, None)
            self.hub_username = new_name
            stored = self._users.get(new_name)
            if stored is None or not verify_password(password, stored):
                self._users[new_name] = await asyncio.to_thread(hash_password, password)
            await asyncio.to_thread(self._write_all)
        await self.reload()

    async def add_service_account(self, username: str, password: str) -> None:
        """Create or update an account with the hub's rights, e.g. for a second ingest process
        (a broker that ties client ids to usernames lets one connection per account in). Give it
        the hub's password for it to join the hub's ``$share`` group, which derives from it."""
        if not DEVICE_ID_RE.match(username):
            raise ValueError(f"invalid service account name {username!r}")
        if username == self.hub_username:
            raise ValueError(f"{username!r} is the hub's own broker account")
        if self.has_device(username):
            raise ValueError(f"{username!r} is a device's broker account")
        hashed = await asyncio.to_thread(hash_password, password)
        async with self._lock:
            self._services.add(username)
            self._users[username] = hashed
            await asyncio.to_thread(self._write_all)
        log.info("broker service account %s written", username)
        await self.reload()

    async def add_device(self, device_id: str, password: str | None = None) -> DeviceCredentials:
        """Create or update a device's account; a password is generated when none is given."""
        self._check_id(device_id)
        pw = password or generate_password()
        hashed = await asyncio.to_thread(hash_password, pw)
        async with self._lock:
            self._users[device_id] = hashed
            await asyncio.to_thread(self._write_all)
        log.info("broker account for device %s written", device_id)
        await self.reload()
        return DeviceCredentials(device_id=device_id, username=device_id, password=pw)

    update_device = add_device

    async def add_devices(
        self, device_ids: Iterable[str], *, only_missing: bool = True
    ) -> list[DeviceCredentials]:
        """Provision many devices with one file write and one reload (e.g. from the site file).
        With ``only_missing`` existing accounts keep their passwords and are not returned."""
        todo = [d for d in device_ids if not (only_missing and self.has_device(d))]
        for d in todo:
            self._check_id(d)
        creds = [DeviceCredentials(d, d, generate_password()) for d in todo]
        if not creds:
            return []
        hashes = await asyncio.to_thread(lambda: [hash_password(c.password) for c in creds])
        async with self._lock:
            for c, h in zip(creds, hashes, strict=True):
                self._users[c.device_id] = h
            await asyncio.to_thread(self._write_all)
        log.info("broker accounts for %d devices written", len(creds))
        await self.reload()
        return creds

    async def remove_device(self, device_id: str) -> bool:
        """Delete a device's account; it is refused at its next connect. False if unknown."""
        if not self.has_device(device_id):
            return False
        async with self._lock:
            self._users.pop(device_id, None)
            await asyncio.to_thread(self._write_all)
        log.info("broker account for device %s removed", device_id)
        await self.reload()
        return True

    async def set_gate(self, closed: bool) -> None:
        """Close or open the gate; opening makes the broker reload at once."""
        if self.active_file is None:
            raise RuntimeError("no separate broker password file: the gate needs one")
        async with self._lock:
            if self.gated == closed:
                return
            self.gated = closed
            await asyncio.to_thread(self._write_all)
        log.info("broker gate %s", "closed: only the hub may connect" if closed else "opened")
        if not closed:
            await self.reload()

    async def write(self) -> None:
        """Write both files from the current table (e.g. at start, so the broker finds them)."""
        async with self._lock:
            await asyncio.to_thread(self._write_all)

    async def reload(self) -> None:
        if self._reload is not None:
            await self._reload()

    # -- internals -----------------------------------------------------------------------------

    def _check_id(self, device_id: str) -> None:
        if not DEVICE_ID_RE.match(device_id):
            raise ValueError(f"invalid device id {device_id!r}")
        if device_id == self.hub_username:
            raise ReservedNameError(f"device id {device_id!r} is the hub's own broker account")
        if device_id in self._services:
            raise ReservedNameError(f"device id {device_id!r} is a service broker account")

    def _write_all(self) -> None:
        users = sorted(self._users.items())
        _atomic_write(self.password_file, "".join(f"{n}:{h}\n" for n, h in users))
        if self.active_file is not None:
            if self.gated:
                users = [(n, h) for n, h in users if self.is_service(n)]
            _atomic_write(self.active_file, "".join(f"{n}:{h}\n" for n, h in users))
        _atomic_write(self.acl_file, render_acl(self.hub_username, self._services))
