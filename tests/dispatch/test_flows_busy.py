"""A detection that arrives while the store is busy still becomes a case: the flow retries on
BusyError (handling is idempotent), and gives up only after its bounded tries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from case_helpers import detection

from hub.bus.contracts import EVENTS_RECORDED
from hub.bus.memory import MemoryBus
from hub.dispatch import flows
from hub.dispatch.flows import CaseFlows
from hub.errors import DatabaseBusyError


class FlakyService:
    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls = 0
        self.done = asyncio.Event()

    async def on_detection(self, ev: Any) -> None:
        self.calls += 1
        if self.calls <= self.busy:
            raise DatabaseBusyError("the database is busy; try again shortly", 1)
        self.done.set()

    async def on_alarm(self, alarm: Any) -> None:
        pass

    async def on_call(self, change: Any) -> None:
        pass


async def _run(busy: int, monkeypatch: pytest.MonkeyPatch) -> FlakyService:
    monkeypatch.setattr(flows.asyncio, "sleep", _no_wait)
    bus = MemoryBus()
    svc = FlakyService(busy)
    f = CaseFlows(bus, svc)  # type: ignore[arg-type]
    await f.start()
    try:
        await bus.publish(EVENTS_RECORDED, detection())
        for _ in range(200):
            if svc.done.is_set() or svc.calls > flows.BUSY_RETRIES:
                break
            await _real_sleep(0.01)
    finally:
        await f.stop()
    return svc


_real_sleep = asyncio.sleep


async def _no_wait(_delay: float) -> None:
    await _real_sleep(0)


async def test_a_busy_store_is_retried_until_the_case_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = await _run(busy=3, monkeypatch=monkeypatch)
    assert svc.done.is_set() and svc.calls == 4


async def test_the_retries_are_bounded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    svc = await _run(busy=100, monkeypatch=monkeypatch)
    assert svc.calls == flows.BUSY_RETRIES and not svc.done.is_set()
    assert "stayed busy" in caplog.text
