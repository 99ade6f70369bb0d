"""`gridbot demo`: a short scripted conversation through the simulator, printed as a transcript."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.runtime import Bot
from bot.simulator import Simulator, TranscriptLine
from flows.config import GridConfig
from flows.network import Network
from models.db import Database


@dataclass(frozen=True)
class Line:
    minutes: int      # after the start of the demo
    room: str
    sender_id: str
    name: str
    text: str


RESIDENT = ("wxid_zhang_ayi", "张阿姨")
HEAD = ("wxid_qiu_huanwu", "邱煥武")
NEIGHBOUR = ("wxid_li_shushu", "李叔叔")
GROUP = "shibalong-1@chatroom"

SCRIPT = (
    Line(0, GROUP, *RESIDENT, "下单 4号楼二单元4楼的灯不亮"),
    Line(1, GROUP, *NEIGHBOUR, "收到"),
    Line(5, GROUP, *HEAD, "接单"),
    Line(90, GROUP, *HEAD, "办结 #1 已修好"),
    Line(120, GROUP, *RESIDENT, "评价 #1 满意"),
)


async def play_demo(config: GridConfig, db: Database, start: datetime,
                    show: Callable[[TranscriptLine], None] = lambda line: print(line.render())) -> Simulator:
    network = Network(config)
    simulator = Simulator(network, on_line=show)
    simulator.attach(Bot(config, db, simulator, network))
    for line in SCRIPT:
        await simulator.say(line.room, line.sender_id, line.text, name=line.name,
                            at=start + timedelta(minutes=line.minutes))
    return simulator
