"""How a grid office works, in one conversation through `gridbot chat` (issue: working-day
clocks, 延期, 核查, departments, stand-ins): a request on a Friday afternoon waits out the weekend
(1 working day), escalates on Monday to a branch whose head is away, so his stand-in is called
too and claims it for him; she calls the power company in, which reports; she asks for one more
working day, may not grant it herself, the head does; the power company resolves it, the grid
head verifies it, the resident rates it; the branch digest counts the extension."""

from __future__ import annotations

import yaml

from chat_script import chat, say
from conftest import REPO
from flows.config import parse_config

G, B, POWER = "shibalong-1@chatroom", "baiyi-b1@chatroom", "gongdian@chatroom"

TRANSCRIPT = """\
s1 [shibalong-1] @qiu_huanwu: 已受理 #1【报修】4号楼2单元 / 内容：4栋2单元楼道灯不亮 / 请网格长回复「接单」认领。
s2 [baiyi-b1] @zhou_min: 已登记：王国强 请假至 12月1日，期间由 周敏 代理。发给 王国强 的@提醒、吹哨和简报同时发给 周敏，周敏 可代为接单、办结；回来后请发「销假」。
— [baiyi-b1] @wang_guoqiang,zhou_min: 【吹哨】#1【报修】4号楼2单元 / 内容：4栋2单元楼道灯不亮 / 来自：石坝垅小区第一微网格 / 原因：超过1个工作日未接单 / 请回复「接单 #1」或「派单 #1 @网格员」。
s3 [shibalong-1] @zhang: #1 已由 周敏（代王国强） 接单，正在处理。
s3 [baiyi-b1] @: #1 已由 周敏（代王国强） 接单，本群无需再接单。
s4 [gongdian] @gd: 【呼叫】#1【报修】4号楼2单元 / 内容：4栋2单元楼道灯不亮 / 来自：石坝垅小区第一微网格（周敏（代王国强）） / 请供电在30分钟内回复「报到 #1」，之后可回复「进展」「办结」。
s4 [shibalong-1] @: 已呼叫供电，要求30分钟内报到。
s5 [shibalong-1] @zhou_min: #1 供电已报到（供电小张）。
s5 [gongdian] @: #1 供电已报到（供电小张）。
s6 [baiyi-b1] @wang_guoqiang,zhou_min: #1 申请延期 1个工作日：等供电换线（处理人：周敏（代王国强）） / 请回复「同意延期 #1」或「不同意延期 #1 原因」。
s6 [shibalong-1] @: #1 的延期申请已报上级批复。
s7 [baiyi-b1] @: #1 的延期由处理人申请，须由另一位上级网格长批复。
s8 [shibalong-1] @zhou_min: #1 延期已同意（1个工作日），新期限 12-02 16:00。
s8 [baiyi-b1] @: #1 延期已同意（1个工作日），新期限 12-02 16:00。
— [baiyi-b1] @: 【第一党支部工作简报】11-30 18:00 至 12-01 18:00 / 新增 0 张，接单 0 张，办结 0 张，超期未办 0 张；平均接单用时 —，平均办结用时 —。 / 评价：满意 0，基本满意 0，不满意 0。 / 同意延期 1 次，部门超时未报到 0 次。 / 吹哨到本级 1 张： / #1【报修】处理中 4号楼2单元 4栋2单元楼道灯不亮（张*） 限 12-02 周三 16:00 前，剩 7.5 个工作小时 / 超期 0 张： / 无
s9 [shibalong-1] @qiu_huanwu,zhou_min: #1 已报办结：线路已换好（处理人：供电小张） / 请核查后回复「核查 #1 通过」或「核查 #1 不通过 原因」。
s9 [shibalong-1] @zhang: #1 已报办结，正在核查，核查通过后请您评价。
s9 [gongdian] @: #1 已报办结，正在核查，核查通过后请您评价。
s10 [shibalong-1] @zhang: #1 核查通过，已办结：线路已换好 / 请回复「评价 #1 满意」「基本满意」或「不满意」。
s10 [baiyi-b1] @: #1 已由 邱煥武 办结，已请提出人评价。
s11 [shibalong-1] @: 感谢评价！#1 已结单（满意）。
"""


def office_config():
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    data["policy"]["timers"] = {"normal": {"claim_within": "1wd", "resolve_within": "2wd"}}
    data["policy"].pop("quiet_hours", None)
    data["policy"]["verification"] = [{"category": "repair", "by": "head"}]
    data["policy"]["digests"] = [{"level": "branch", "cron": "0 18 * * *", "to": "group"}]
    data["departments"] = [{"id": "gongdian", "name": "供电",
                            "group": {"room": POWER, "name": "供电所群"},
                            "members": [{"id": "wxid_gd", "name": "供电小张"}],
                            "report_within": "30m"}]
    return parse_config(data)


CONVERSATION = [
    say("s1", "wxid_zhang", "下单 4栋2单元楼道灯不亮", "张阿姨", room=G, at="2026-11-27T16:00:00+08:00"),
    {"tick": "2026-11-29T12:00:00+08:00"},                 # Sunday: a working day has not passed
    say("s2", "wxid_wang_guoqiang", "请假 至12月1日 代理 @周敏", "王国强", room=B,
        at="2026-11-29T20:00:00+08:00"),
    {"tick": "2026-11-30T16:01:00+08:00"},                 # Monday 16:01: one working day on
    say("s3", "wxid_zhou_min", "接单 #1", "周敏", room=G, at="2026-11-30T16:05:00+08:00"),
    say("s4", "wxid_zhou_min", "呼叫 #1 供电", "周敏", room=G, at="2026-11-30T16:06:00+08:00"),
    say("s5", "wxid_gd", "报到 #1", "供电小张", room=POWER, at="2026-11-30T16:20:00+08:00"),
    say("s6", "wxid_zhou_min", "延期 #1 1工作日 等供电换线", "周敏", room=G, at="2026-12-01T08:40:00+08:00"),
    say("s7", "wxid_zhou_min", "同意延期 #1", "周敏", room=B, at="2026-12-01T08:41:00+08:00"),
    say("s8", "wxid_wang_guoqiang", "同意延期 #1", "王国强", room=B, at="2026-12-01T08:42:00+08:00"),
    {"tick": "2026-12-01T18:01:00+08:00"},                 # the branch's 18:00 digest
    say("s9", "wxid_gd", "办结 #1 线路已换好", "供电小张", room=POWER, at="2026-12-02T10:00:00+08:00"),
    say("s10", "wxid_qiu_huanwu", "核查 #1 通过", "邱煥武", room=G, at="2026-12-02T10:30:00+08:00"),
    say("s11", "wxid_zhang", "评价 #1 满意", "张阿姨", room=G, at="2026-12-02T11:00:00+08:00"),
]


def line(post: dict) -> str:
    who = ",".join(member.removeprefix("wxid_") for member in post["mentions"])
    room = post["room"].split("@")[0] if post["room"] else "private"
    return f"{post['reply_to'] or '—'} [{room}] @{who}: " + post["text"].replace("\n", " / ")


async def test_a_week_of_a_grid_office_in_one_conversation(db):
    posts = await chat(db, office_config(), CONVERSATION)
    # The other groups' own (empty) digests are left out of the transcript.
    shown = [line(p) for p in posts
             if not (p["reply_to"] is None and "工作简报" in p["text"] and p["room"] != B)]
    assert "\n".join(shown) == TRANSCRIPT.rstrip("\n")
