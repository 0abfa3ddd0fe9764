"""Device presence: online/offline from status messages, last wills and inactivity.

Sessions: a device names a session (any string, new per connection) and a ``ts`` in every status.
The device's *current* session is the one with the newest ``ts`` seen; a status from another
session whose ``ts`` is older than the current session's is stale (typically the last will of a
previous connection, delivered late) and ignored. A status of the current session, or of a session
with an equal or newer ``ts``, applies.

Inactivity: a profile's ``inactivity_timeout_seconds`` is a deadline after the device's last
message. The deadlines wait on the hub's scheduler (hub/timers.py); a message only moves
``last_seen`` (no scheduler work while a deadline is pending), and a deadline whose device has
been heard from since is scheduled again for its new time. Cost: O(log n) per device per timeout,
not per message, and no polling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from hub.devices import metrics
from hub.devices.repo import DeviceState
from hub.devices.validate import MAX_TS_AHEAD, Status
from hub.timers import Deadlines

log = logging.getLogger(__name__)

Change = tuple[DeviceState, Literal["status", "will", "inactivity", "telemetry"]]
OnChange = Callable[[list[DeviceState]], Awaitable[None]]


class Presence:
    def __init__(self, timeout_of: Callable[[str], float | None], on_expired: OnChange) -> None:
        self._timeout_of = timeout_of
        self._on_expired = on_expired
        self.states: dict[str, DeviceState] = {}
        self._deadlines: Deadlines[str] = Deadlines(self._due, name="device-presence")
        metrics.watch_presence(self)

    def load(self, states: list[DeviceState]) -> None:
        horizon = time.time() + MAX_TS_AHEAD
        for s in states:
            if s.session_ts is not None and not s.session_ts <= horizon:
                # Stored before status times were bounded: a session from far ahead would make
                # every later session look stale, so the device could never change state again.
                s.session_ts = None
            self.states[s.device_id] = s
            if s.state == "online":
                self._schedule(s.device_id)

    def start(self) -> None:
        self._deadlines.start()

    async def stop(self) -> None:
        await self._deadlines.stop()

    def _state(self, device_id: str, now: float) -> DeviceState:
        s = self.states.get(device_id)
        if s is None:
            s = DeviceState(device_id, "offline", "status", None, None, now, None, {})
            self.states[device_id] = s
        return s

    def _schedule(self, device_id: str) -> None:
        if device_id in self._deadlines:  # the common case, once per message: decide it first
            return
        timeout = self._timeout_of(device_id)
        s = self.states.get(device_id)
        if timeout is None or s is None:
            return
        self._deadlines.schedule(device_id, (s.last_seen or s.changed_at) + timeout)

    def seen(self, device_id: str, now: float, values: dict[str, object] | None) -> bool:
        """A message arrived. Returns True when this brought the device online."""
        s = self._state(device_id, now)
        s.last_seen = now
        if values:
            s.last_values.update(values)
        came_online = s.state != "online"
        if came_online:
            s.state, s.reason, s.changed_at = "online", "telemetry", now
        self._schedule(device_id)
        return came_online

    def status(self, st: Status, now: float) -> bool:
        """Apply a status message. Returns True when the state changed."""
        s = self._state(st.device_id, now)
        if s.session is not None and st.session != s.session and (s.session_ts or 0) > st.ts:
            log.info(
                "stale status ignored",
                extra={"device_id": st.device_id, "session": st.session, "state": st.state},
            )
            return False
        s.session, s.session_ts = st.session, max(st.ts, s.session_ts or 0.0)
        s.last_seen = now
        if s.state == st.state:
            return False
        s.state = st.state
        s.reason = "will" if (st.state == "offline" and st.will) else "status"
        s.changed_at = now
        if st.state == "online":
            self._schedule(st.device_id)
        return True

    async def _due(self, device_ids: list[str], now: float) -> None:
        expired: list[DeviceState] = []
        for device_id in device_ids:
            s = self.states.get(device_id)
            timeout = self._timeout_of(device_id)
            if s is None or s.state != "online" or timeout is None:
                continue
            if (s.last_seen or s.changed_at) + timeout > now:
                self._schedule(device_id)  # heard from since: wait for the new deadline
                continue
            s.state, s.reason, s.changed_at = "offline", "inactivity", now
            expired.append(s)
        if expired:
            try:
                await self._on_expired(expired)
            except Exception:
                log.exception("storing inactivity changes failed")
