"""The scheduler of `gridbot run`: APScheduler runs the scan once at start and every minute."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from apscheduler.triggers.interval import IntervalTrigger

from bot.service import SCAN_EVERY, make_scheduler

from conftest import START


async def test_the_scan_runs_at_start_and_every_minute(sim, clock):
    # A ticket that fell due while the bot was down: claim timer ran out an hour ago.
    clock.now = START - timedelta(hours=3)
    await sim.say("shibalong-1@chatroom", "wxid_resident_zhang", "下单 4号楼二单元4楼的灯不亮",
                  name="张阿姨", at=START - timedelta(hours=3))
    clock.now = START
    escalated = asyncio.Event()
    send = sim.send

    async def watching_send(post):
        await send(post)
        if post.text.startswith("【吹哨】"):
            escalated.set()

    sim.bot.transport.send = watching_send
    scheduler = make_scheduler(sim.bot)
    [job] = scheduler.get_jobs()
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == SCAN_EVERY == timedelta(minutes=1)
    assert job.max_instances == 1 and job.coalesce
    scheduler.start()
    try:
        await asyncio.wait_for(escalated.wait(), timeout=10)  # the run at start, not a minute later
    finally:
        scheduler.shutdown(wait=False)
    assert [p.room for p in sim.posts if p.text.startswith("【吹哨】")] == ["baiyi-b1@chatroom"]
