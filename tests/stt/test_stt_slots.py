"""The decode-slot scheduler alone (no model, no server): uploads keep to their share, live decodes
go first, and a waiter that gives up leaks no slot."""

from __future__ import annotations

import asyncio

import pytest

from voice_stt.slots import DecodeSlots, Priority


async def hold_until(slots: DecodeSlots, priority: Priority, release: asyncio.Event, log: list[str], name: str) -> None:
    async with slots.hold(priority):
        log.append(name)
        await release.wait()


async def settle() -> None:
    for _ in range(5):  # let every runnable task reach its next await
        await asyncio.sleep(0)


async def test_uploads_hold_at_most_their_share_and_a_live_decode_still_starts():
    slots, release, started = DecodeSlots(total=2, upload_limit=1), asyncio.Event(), []
    tasks = [asyncio.create_task(hold_until(slots, Priority.UPLOAD, release, started, f"upload {i}")) for i in range(2)]
    await settle()
    assert started == ["upload 0"] and slots.free == 1
    assert slots.available(Priority.LIVE) and not slots.available(Priority.UPLOAD)
    tasks.append(asyncio.create_task(hold_until(slots, Priority.LIVE, release, started, "live")))
    await settle()
    assert started == ["upload 0", "live"]
    release.set()
    await asyncio.gather(*tasks)
    assert started[-1] == "upload 1" and slots.free == 2


async def test_a_waiting_live_decode_gets_the_next_slot_before_an_earlier_upload():
    slots, started = DecodeSlots(total=1, upload_limit=1), []
    first, rest = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(hold_until(slots, Priority.LIVE, first, started, "holder"))
    await settle()
    upload = asyncio.create_task(hold_until(slots, Priority.UPLOAD, rest, started, "upload"))
    await settle()
    live = asyncio.create_task(hold_until(slots, Priority.LIVE, rest, started, "live"))
    await settle()
    first.set()
    await settle()
    assert started == ["holder", "live"]
    rest.set()
    await asyncio.gather(holder, upload, live)
    assert started == ["holder", "live", "upload"]


@pytest.mark.parametrize("granted", [False, True], ids=["while-waiting", "just-granted"])
async def test_a_cancelled_waiter_leaks_no_slot(granted):
    slots = DecodeSlots(total=1, upload_limit=1)
    async with slots.hold(Priority.LIVE):
        waiter = asyncio.create_task(hold_until(slots, Priority.UPLOAD, asyncio.Event(), [], "waiter"))
        await settle()
        if not granted:
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
    # Leaving the block handed the slot to the waiter (if still waiting); it is cancelled before it runs.
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert slots.free == 1 and slots.available(Priority.UPLOAD)
