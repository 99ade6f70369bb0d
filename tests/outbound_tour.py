"""A tour that makes the bot post every kind of post there is, at every level, about tickets full
of personal data (a reporter's full name, mobile and landline numbers, rooms): used by the
masking and the splitting tests, which look at every post it made.

Residents report in the micro-grid group and in a branch group; the scheduler escalates to the
top (single and grouped escalations, reminders); heads at each level ask 查询, 待办, 统计, 督办,
吹哨, 派单; the handler claims, notes progress, corrects, resolves; the reporter adds details,
rates, cancels; digests go to every level's group and head; the rating window closes a ticket.
"""

from __future__ import annotations

from datetime import timedelta

from bot.runtime import Bot
from bot.transports.simulator import Simulator
from flows.config import DigestSchedule, GridConfig

from conftest import START, Clock

GRID, BRANCH, VILLAGE, TOWNSHIP = ("shibalong-1@chatroom", "baiyi-b1@chatroom", "baiyi@chatroom",
                                   "jili@chatroom")
HEAD, BRANCH_HEAD, VILLAGE_HEAD, TOWNSHIP_HEAD = ("wxid_qiu_huanwu", "wxid_wang_guoqiang",
                                                  "wxid_li_wenhua", "wxid_chen_jie")
REPORTER, NEIGHBOUR = ("wxid_res_zhang", "张秀英"), ("wxid_res_li", "李建华")

# What must never show above the micro-grid (and does show in it).
FULL_NAMES = ("张秀英", "李建华")
PHONE_DIGITS = ("13662766789", "07318345", "13912345678", "13800001111", "83456789")
ROOMS = ("502", "1102", "402")


def with_every_digest(config: GridConfig, **transport) -> GridConfig:
    """The config with a digest at 18:00 to every level's group and head, no quiet hours, and
    the transport settings given."""
    schedules = [DigestSchedule(level=level, cron="0 18 * * *", to=to)
                 for level in config.levels for to in ("group", "head")]
    return config.model_copy(update={
        "policy": config.policy.model_copy(update={"digests": schedules, "quiet_hours": None}),
        "transport": config.transport.model_copy(update=transport)})


async def tour(config: GridConfig, network, db) -> Simulator:
    """Play the tour; returns the simulator, whose `posts` are every post delivered."""
    clock = Clock(START)
    sim = Simulator(network, clock=clock)
    sim.attach(Bot(config, db, sim, network, clock=clock))

    async def at(minutes: int, room: str, who: tuple[str, str] | str, text: str) -> None:
        clock.now = max(clock.now, START + timedelta(minutes=minutes))
        sender, name = who if isinstance(who, tuple) else (who, None)
        await sim.say(room, sender, text, name=name)

    async def tick(minutes: int) -> None:
        clock.now = max(clock.now, START + timedelta(minutes=minutes))
        await sim.bot.tick(clock.now)

    await at(0, GRID, REPORTER, "下单 2栋1单元502厨房煤气味很重，电话136 6276 6789，座机0731-83456789，"
                                "家里只有老人")
    await at(1, GRID, REPORTER, "下单 3号楼2单元1102室门口堆满杂物，联系张秀英13912345678")
    await at(2, BRANCH, NEIGHBOUR, "下单 4栋2单元402室楼道灯不亮 电话138-0000-1111")
    await at(3, GRID, REPORTER, "补充 #1 我家是2-1-502，另一个电话13912345678，找张秀英")
    await tick(15)                       # #1 (urgent) → branch
    await tick(140)                      # #1 → village; #2 and #3 → branch, grouped
    await tick(270)                      # #1 → township
    await tick(400)                      # #1 reminded at the top
    await at(401, BRANCH, BRANCH_HEAD, "查询 #1")
    await at(402, BRANCH, BRANCH_HEAD, "待办")
    await at(403, BRANCH, BRANCH_HEAD, "统计")
    await at(404, BRANCH, BRANCH_HEAD, "督办 #1 尽快处理，联系张秀英13662766789")
    await at(405, VILLAGE, VILLAGE_HEAD, "查询 #2")
    await at(406, VILLAGE, VILLAGE_HEAD, "待办")
    await at(407, TOWNSHIP, TOWNSHIP_HEAD, "查询 #1")
    await at(408, TOWNSHIP, TOWNSHIP_HEAD, "待办")
    await at(409, TOWNSHIP, TOWNSHIP_HEAD, "吹哨 #2 请社区协调")
    await at(410, TOWNSHIP, TOWNSHIP_HEAD, "查询 #3")
    await at(411, GRID, HEAD, "接单 #1")
    await at(412, GRID, HEAD, "进展 #1 已联系张秀英 电话13662766789 502室")
    await at(413, GRID, HEAD, "改类 #2 报修")
    await at(414, GRID, HEAD, "改紧急 #2")
    await at(415, TOWNSHIP, TOWNSHIP_HEAD, "派单 #3 @邱煥武")
    await at(416, BRANCH, BRANCH_HEAD, "接单 #2")
    await at(417, BRANCH, BRANCH_HEAD, "进展 #2 已找张秀英（13912345678，1102室）")
    await at(420, GRID, HEAD, "办结 #1 已修好（2-1-502 张秀英家）")
    await at(425, GRID, REPORTER, "评价 #1 不满意 还是漏，电话13662766789")
    await at(430, GRID, HEAD, "办结 #1 再次修好")
    await at(431, BRANCH, NEIGHBOUR, "补充 #3 晚上在家，电话13800001111，402室")
    await at(432, BRANCH, NEIGHBOUR, "查询 #3")
    await at(433, GRID, REPORTER, "撤单 #2")
    await at(434, BRANCH, BRANCH_HEAD, "待办")
    await tick(540)                      # 18:00: digests to every level's group and head
    await tick(540 + 60 * 24 * 4)        # the rating window closes #1; #3 climbs and is reminded
    await tick(540 + 60 * 24 * 8)
    return sim
