import asyncio

import pytest

from hub.aio import cancel_and_wait


async def test_cancels_waits_and_skips_none() -> None:
    finished: list[str] = []

    async def loop(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            finished.append(name)

    tasks = [asyncio.create_task(loop(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    await cancel_and_wait([*tasks, None])
    assert sorted(finished) == ["a", "b"] and all(t.done() for t in tasks)


async def test_a_crashed_task_is_not_hidden() -> None:
    async def crash() -> None:
        raise RuntimeError("background loop died")

    task = asyncio.create_task(crash())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="died"):
        await cancel_and_wait([task])
