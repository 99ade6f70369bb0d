"""`gridbot demo`: a short day of the demo network played through the simulator, printed as a
transcript.

The day, on simulated time (nothing sleeps): a gas smell reported at dawn that nobody claims
climbs (吹哨) to the branch group and then to the village group, each time @ its head; the branch
head dispatches it (派单) and the resolution is told back where the resident asked and in every
group it reached; an ordinary request is claimed in a head's own words and rated; a resident who
tries to close a ticket is refused; chatter is ignored; a leak nobody takes by the evening is in
the branch's 18:00 digest, masked as everything above the micro-grid is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.chat_jsonl import ScriptClock, drain
from bot.runtime import Bot
from bot.transports.simulator import Simulator, TranscriptLine
from flows.config import GridConfig
from flows.network import Network
from models.db import Database


@dataclass(frozen=True)
class Line:
    """A member's message at a time of the demo's day."""

    at: str           # local time, "HH:MM"
    room: str
    sender_id: str
    name: str
    text: str


@dataclass(frozen=True)
class Tick:
    """The scheduler's scan at a time of the demo's day (it scans every minute; the demo shows
    the scans at which something falls due)."""

    at: str


MICROGRID = "shibalong-1@chatroom"
MICROGRID_2 = "shibalong-2@chatroom"
BRANCH = "baiyi-b1@chatroom"
VILLAGE = "baiyi@chatroom"

WANG_NAINAI = ("wxid_wang_nainai", "王奶奶")
ZHANG_AYI = ("wxid_zhang_ayi", "张阿姨")
LI_SHUSHU = ("wxid_li_shushu", "李叔叔")
ZHAO_DAYE = ("wxid_zhao_daye", "赵大爷")
QIU = ("wxid_qiu_huanwu", "邱煥武")           # head of 石坝垅小区第一微网格
ZHOU = ("wxid_zhou_min", "周敏")              # its deputy
WANG_GUOQIANG = ("wxid_wang_guoqiang", "王国强")  # head of the branch (第一党支部)

SCRIPT: tuple[Line | Tick, ...] = (
    Line("06:40", MICROGRID, *WANG_NAINAI, "下单！3栋502门口煤气味很重，我一个人在家，电话13812345678"),
    Tick("06:50"),    # urgent: not claimed within 10 minutes → the branch group
    Tick("08:50"),    # and 2 hours later → the village group
    Line("08:52", BRANCH, *WANG_GUOQIANG, "派单 #1 @周敏"),
    Line("09:00", MICROGRID, *ZHANG_AYI, "下单 4号楼二单元4楼的灯不亮"),
    Line("09:01", MICROGRID, *LI_SHUSHU, "下单了吗？团购今晚截止"),
    Line("09:10", MICROGRID, *QIU, "收到，接单"),
    Line("09:30", MICROGRID, *ZHOU, "办结 #1 已关总阀开窗通风，燃气公司换了软管"),
    Line("09:35", MICROGRID, *WANG_NAINAI, "非常满意，谢谢小周"),
    Line("10:20", MICROGRID, *ZHANG_AYI, "办结 #2 灯亮了"),
    Line("10:30", MICROGRID, *QIU, "办结 #2 换了灯管"),
    Line("10:35", MICROGRID, *ZHANG_AYI, "评价 #2 满意"),
    Line("14:00", MICROGRID_2, *ZHAO_DAYE, "下单 7栋顶楼702漏雨，电话13912345678"),
    Tick("16:00"),    # not claimed within 2 hours → the branch group
    Tick("18:00"),    # the branch's evening digest
)


# The groups the story happens in; the transcript leaves out the others (the other branches get
# their own 18:00 digests, which say nothing happened there).
STORY_ROOMS = frozenset({MICROGRID, MICROGRID_2, BRANCH, VILLAGE})


@dataclass(frozen=True)
class Shown:
    """A transcript line with its time of the demo's day."""

    at: datetime
    line: TranscriptLine

    def render(self) -> str:
        return f"{self.at:%H:%M} {self.line.render()}"


def _at(day: datetime, hhmm: str) -> datetime:
    return datetime.combine(day.date(), time.fromisoformat(hhmm), tzinfo=day.tzinfo)


async def play_demo(config: GridConfig, db: Database, day: datetime,
                    show: Callable[[Shown], None] = lambda shown: print(shown.render())
                    ) -> tuple[Simulator, list[Shown]]:
    """Play the demo's day on `day` (its date and time zone) on simulated time. Every line of
    the story's groups goes to `show` as it happens; returns the simulator (every post, in every
    group) and the lines shown."""
    network = Network(config)
    clock = ScriptClock(_at(day, "00:00"))
    shown: list[Shown] = []

    def record(line: TranscriptLine) -> None:
        if line.room in STORY_ROOMS:
            shown.append(Shown(clock(), line))
            show(shown[-1])

    simulator = Simulator(network, clock=clock, on_line=record)
    bot = Bot(config, db, simulator, network, clock=clock)
    simulator.attach(bot)
    for step in SCRIPT:
        when = _at(day, step.at)
        clock.move_to(when)
        if isinstance(step, Tick):
            await bot.tick(when)
        else:
            await simulator.say(step.room, step.sender_id, step.text, name=step.name, at=when)
    await drain(bot, clock)
    return simulator, shown
