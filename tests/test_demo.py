"""`gridbot demo`: the day of the demo network tells its story, post by post, and `--serve`
leaves a database the dashboard opens with the token printed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

from conftest import REPO
from sqlmodel import select

from bot.demo import BRANCH, MICROGRID, MICROGRID_2, VILLAGE, play_demo
from flows import texts
from models.tables import Ticket

CONFIG = str(REPO / "config.yaml")
DAY = datetime(2026, 11, 24, tzinfo=ZoneInfo("Asia/Shanghai"))

RESIDENT = "wxid_wang_nainai"
MICROGRID_HEAD = "wxid_qiu_huanwu"
DEPUTY = "wxid_zhou_min"
BRANCH_HEAD = "wxid_wang_guoqiang"
VILLAGE_HEAD = "wxid_li_wenhua"


async def test_the_demo_day_climbs_the_levels_and_closes_the_loop(config, db):
    simulator, shown = await play_demo(config, db, DAY, show=lambda line: None)
    posts = simulator.posts
    said = [(f"{one.at:%H:%M}", one.line.room, one.line.speaker, one.line.text) for one in shown]

    def posts_in(room: str) -> list:
        return [post for post in posts if post.room == room]

    # The gas smell is read as urgent and the micro-grid head called; the micro-grid sees it as
    # written.
    accepted = posts_in(MICROGRID)[0]
    assert accepted.mentions == (MICROGRID_HEAD,)
    assert accepted.text.startswith("已受理 #1【紧急】【安全隐患】3号楼502室")
    assert "13812345678" in accepted.text

    # Nobody claims it: 10 minutes later the branch group, 2 hours later the village group, each
    # @ its head, masked as everything above the micro-grid.
    to_branch = next(p for p in posts_in(BRANCH) if p.text.startswith("【吹哨】#1"))
    to_village = next(p for p in posts_in(VILLAGE) if p.text.startswith("【吹哨】#1"))
    assert to_branch.mentions == (BRANCH_HEAD,) and to_village.mentions == (VILLAGE_HEAD,)
    for post in (to_branch, to_village):
        assert "【紧急】" in post.text and "138****5678" in post.text
        assert "13812345678" not in post.text and "502" not in post.text
    times = {text: at for at, _, _, text in said}
    assert times[to_branch.text] == "06:50" and times[to_village.text] == "08:50"

    # The branch head dispatches it to the micro-grid's deputy; every group it reached hears so.
    assert ("08:52", BRANCH, "王国强", "派单 #1 @周敏") in said
    dispatched = texts.DISPATCHED.format(number=1, dispatcher="王国强", target="周敏")
    elsewhere = texts.DISPATCHED_ELSEWHERE.format(number=1, dispatcher="王国强", target="周敏")
    assert [(p.room, p.mentions) for p in posts if p.text == dispatched] == [(MICROGRID, (DEPUTY,))]
    assert sorted(p.room for p in posts if p.text == elsewhere) == sorted([BRANCH, VILLAGE])

    # Resolved: the resident is told where she asked, the groups above that it is done; her
    # rating in her own words closes it.
    resolved = [p for p in posts if p.text.startswith("#1 已办结：")]
    assert [(p.room, p.mentions) for p in resolved] == [(MICROGRID, (RESIDENT,))]
    done = texts.RESOLVED_ELSEWHERE.format(number=1, handler="周敏")
    assert sorted(p.room for p in posts if p.text == done) == sorted([BRANCH, VILLAGE])
    assert texts.RATED.format(number=1, rating="满意") in [p.text for p in posts_in(MICROGRID)]

    # The ordinary request: chatter ignored, claimed in a head's own words, a resident's 办结
    # refused with the reason, resolved by the head and rated.
    chatter = said.index(("09:01", MICROGRID, "李叔叔", "下单了吗？团购今晚截止"))
    assert said[chatter + 1][2:] == ("邱煥武", "收到，接单")
    assert said[chatter + 2][3] == texts.CLAIMED.format(number=2, handler="邱煥武")
    refusal = said.index(("10:20", MICROGRID, "张阿姨", "办结 #2 灯亮了"))
    assert said[refusal + 1][3] == texts.NOT_HANDLER.format(number=2, handler="邱煥武",
                                                            action="办结")
    assert texts.RATED.format(number=2, rating="满意") in [p.text for p in posts_in(MICROGRID)]

    # The leak nobody takes climbs to the branch at 16:00 and is in its 18:00 digest, masked,
    # with the day's figures (two ratings, one in the resident's own words).
    assert any(p.text.startswith("【吹哨】#3【报修】") for p in posts_in(BRANCH))
    [digest] = [p for p in posts_in(BRANCH) if p.text.startswith("【第一党支部工作简报】")]
    assert times[digest.text] == "18:00"
    assert "新增 3 张，接单 2 张，办结 2 张，超期未办 1 张" in digest.text
    assert "评价：满意 2，基本满意 0，不满意 0。" in digest.text
    assert "#3【报修】待接单" in digest.text and "（赵*）" in digest.text
    assert "139****5678" in digest.text
    for personal in ("赵大爷", "13912345678", "702"):
        assert personal not in digest.text
    assert "13912345678" in posts_in(MICROGRID_2)[0].text  # its own micro-grid sees it whole

    with db.session() as session:
        state = [(t.id, t.status, t.escalation_level, t.rating)
                 for t in session.exec(select(Ticket).order_by(Ticket.id))]
    assert state == [(1, "closed", 2, "满意"), (2, "closed", 0, "满意"), (3, "open", 1, None)]


def gridbot(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], text=True,
                          capture_output=True, cwd=cwd, timeout=120)


def test_gridbot_demo_prints_the_story_quickly_and_leaves_nothing(tmp_path):
    started = time.perf_counter()
    result = gridbot("demo", "--config", CONFIG, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 15
    out = result.stdout
    lines = out.splitlines()
    assert 40 <= len(lines) <= 70, len(lines)
    assert lines[0] == ("06:40 [石坝垅小区第一微网格联户群] 王奶奶：下单！3栋502门口煤气味很重，"
                        "我一个人在家，电话13812345678")
    assert "06:50 [百宜社区第一党支部联片群] 网格小助手：@王国强 【吹哨】#1【紧急】" in out
    assert "08:50 [百宜社区骨干群] 网格小助手：@李文华 【吹哨】#1【紧急】" in out
    assert "08:52 [百宜社区第一党支部联片群] 王国强：派单 #1 @周敏" in out
    assert "抱歉，#2 由 邱煥武 处理，只有接单人可以办结。" in out
    assert "18:00 [百宜社区第一党支部联片群] 网格小助手：【第一党支部工作简报】" in out
    assert "第二党支部" not in out  # groups outside the story are left out of the transcript
    assert f"{len(lines)} lines" in result.stderr
    assert list(tmp_path.iterdir()) == []  # the demo's database lived in a temporary folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_demo_serve_leaves_the_database_and_serves_it_with_a_token(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--config", CONFIG, "--serve",
         "--port", str(port)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        token = None
        for line in process.stdout:  # the transcript, then how to log in
            if line.strip().startswith("gb_"):
                token = line.strip()
                break
        assert token, "no token printed"
        assert (tmp_path / "gridbot-demo.sqlite3").exists()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/tickets",
                                         headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    items = json.load(response)["items"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        by_number = {item["number"]: item for item in items}
        assert sorted(by_number) == [1, 2, 3]
        assert by_number[3]["status"] == "open" and by_number[3]["reporter_name"] == "赵*"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200  # the dashboard's login page
    finally:
        process.terminate()
        process.wait(timeout=30)
