"""The `gridbot` command line, run as a newcomer or a script would run it."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

CONFIG = str(REPO / "config.yaml")


def gridbot(*args: str, stdin: str = "", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=cwd or REPO, timeout=120)


def jsonl(*objects) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def message(id, text, sender="wxid_resident_zhang", room="shibalong-1@chatroom", **extra):
    return {"id": id, "room": room, "sender": sender, "text": text,
            "at": "2026-11-24T09:00:00+08:00", **extra}


def test_chat_contract_and_continuation_across_runs(tmp_path):
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    first = gridbot("chat", "--config", CONFIG, "--db", db, stdin=jsonl(
        message("m1", "下单 4号楼二单元4楼的灯不亮", name="张阿姨"),
        message("m2", "收到"),
        message("m3", "接单", sender="wxid_qiu_huanwu"),
    ))
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert [list(line) for line in lines] == [["room", "text", "mentions", "reply_to"]] * 2
    assert lines[0]["mentions"] == ["wxid_qiu_huanwu"] and lines[0]["reply_to"] == "m1"
    assert lines[0]["text"].startswith("已受理 #1【报修】4号楼2单元4楼")
    assert lines[1] == {"room": "shibalong-1@chatroom", "text": "#1 已由 邱煥武 接单，正在处理。",
                        "mentions": ["wxid_resident_zhang"], "reply_to": "m3"}

    second = gridbot("chat", "--config", CONFIG, "--db", db, stdin=jsonl(
        message("m3", "接单", sender="wxid_qiu_huanwu"),  # redelivered: nothing
        message("m4", "下单 3栋门禁坏了"),
        {"tick": "2026-11-24T10:00:00+08:00"},
    ))
    assert second.returncode == 0, second.stderr
    [line] = [json.loads(line) for line in second.stdout.splitlines()]
    assert line["text"].startswith("已受理 #2") and line["reply_to"] == "m4"


def test_malformed_lines_are_reported_and_the_rest_goes_on(tmp_path):
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    result = gridbot("chat", "--config", CONFIG, "--db", db, stdin="".join([
        "{not json\n",
        jsonl({"room": "shibalong-1@chatroom", "text": "下单 x"}),  # no sender
        jsonl({"tick": "yesterday"}),
        jsonl(message("ok", "下单 2栋漏水")),
        jsonl(message("elsewhere", "下单 2栋漏水", room="nowhere@chatroom")),
    ]))
    assert result.returncode == 0
    errors = result.stderr.splitlines()
    assert errors[0].startswith("line 1: not valid JSON")
    assert errors[1] == "line 2: sender: Field required"
    assert errors[2].startswith("line 3: tick:")
    assert errors[3] == "line 5: room 'nowhere@chatroom' is not in the network; ignored"
    assert "Traceback" not in result.stderr
    [line] = result.stdout.splitlines()
    assert json.loads(line)["reply_to"] == "ok"


def test_whistle_posts_above_and_a_tick_closes_an_unrated_ticket(tmp_path):
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    head = "wxid_qiu_huanwu"
    result = gridbot("chat", "--config", CONFIG, "--db", db, stdin=jsonl(
        message("m1", "下单 4号楼二单元4楼的灯不亮"),
        message("m2", "吹哨 #1 需要社区协调", sender=head),
        message("m3", "「网格小助手：@邱煥武 已受理 #1」\n- - - - - - - - - - - - - - -\n接单",
                sender=head),
        message("m4", "办结 #1 已修好", sender=head),
        {"tick": "2026-11-27T08:59:00+08:00"},   # the 3-day rating window is not over yet
        {"tick": "2026-11-27T09:00:00+08:00"},
    ))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["room"], line["reply_to"]) for line in lines] == [
        ("shibalong-1@chatroom", "m1"), ("shibalong-1@chatroom", "m2"),
        ("baiyi-b1@chatroom", "m2"), ("shibalong-1@chatroom", "m3"),
        ("baiyi-b1@chatroom", "m3"),   # the group it was escalated to hears it is taken…
        ("shibalong-1@chatroom", "m4"),
        ("baiyi-b1@chatroom", "m4"),   # …and resolved
        ("shibalong-1@chatroom", None)]
    assert lines[2]["mentions"] == ["wxid_wang_guoqiang"]
    assert lines[3]["text"].startswith("#1 已由 邱煥武 接单")
    assert lines[4]["text"] == "#1 已由 邱煥武 接单，本群无需再接单。"
    assert lines[6]["text"] == "#1 已由 邱煥武 办结，已请提出人评价。"
    assert lines[7]["text"] == "#1 办结后未在评价期限内评价，已自动结单。"


def test_missing_id_name_and_time_are_filled_in(tmp_path):
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    result = gridbot("chat", "--config", CONFIG, "--db", db, stdin=jsonl(
        {"room": "shibalong-1@chatroom", "sender": "wxid_resident_zhang", "text": "下单 1栋漏水"}))
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["reply_to"] and line["text"].startswith("已受理 #1")


def test_a_bad_config_stops_start_up_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("levels: [township, microgrid]\nnetwork:\n  id: t\n  level: town\n  name: x\n"
                   "  group: {room: r, name: g}\n", encoding="utf-8")
    result = gridbot("chat", "--config", str(bad), "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert result.returncode == 2
    assert "network › head: missing" in result.stderr
    assert "Traceback" not in result.stderr
    ok = gridbot("config", "check", "--config", CONFIG)
    assert ok.returncode == 0 and ok.stdout.startswith("ok:")


def test_every_command_has_help():
    for args in (["--help"], ["demo", "--help"], ["chat", "--help"], ["run", "--help"],
                 ["parse", "--help"], ["config", "check", "--help"], ["db", "upgrade", "--help"]):
        result = gridbot(*args)
        assert result.returncode == 0 and "Usage" in result.stdout, args


def test_parse_prints_one_json_object():
    result = gridbot("parse", "下单 4号楼二单元4楼的灯不亮")
    assert json.loads(result.stdout) == {
        "is_request": True, "category": "repair", "urgent": False, "building": "4", "unit": "2",
        "floor": "4", "room": None, "description": "4号楼二单元4楼的灯不亮"}


CONTRACT_KEYS = ["is_request", "category", "urgent", "building", "unit", "floor", "room",
                 "description"]


def test_parse_jsonl_answers_every_line_in_order_with_exactly_the_contract_keys():
    result = gridbot("parse", "--jsonl", stdin="".join([
        jsonl({"text": "下单 七号楼2-1-302 煤气味很重", "id": 7}),
        "{broken\n",
        jsonl({"text": "我在拼多多下单了一个锅"}),
        jsonl({"no_text": "下单 3栋灯不亮"}),
        jsonl({"text": "【下单】3栋门禁坏了"}),
    ]))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5 and all(list(line) == CONTRACT_KEYS for line in lines)
    assert lines[0]["is_request"] and lines[0]["category"] == "safety" and lines[0]["urgent"]
    assert (lines[0]["building"], lines[0]["unit"], lines[0]["room"]) == ("2", "1", "302")
    not_a_request = dict.fromkeys(CONTRACT_KEYS) | {"is_request": False}
    assert lines[1] == lines[2] == lines[3] == not_a_request
    assert lines[4]["building"] == "3" and lines[4]["description"] == "3栋门禁坏了"
    assert result.stderr.splitlines() == [
        "line 2: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 4: a JSON object with a string `text` expected"]


def test_parse_wants_exactly_one_mode():
    result = gridbot("parse")
    assert result.returncode == 2 and "give one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_parse_uses_the_configs_added_words(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config.yaml").read_text(encoding="utf-8")
                      + "\nlexicon:\n  categories:\n    suggestion: [嘎嘣虫]\n", encoding="utf-8")
    plain = json.loads(gridbot("parse", "下单 楼道里嘎嘣虫成群").stdout)
    added = json.loads(gridbot("parse", "--config", str(config), "下单 楼道里嘎嘣虫成群").stdout)
    assert plain["category"] != "suggestion" and added["category"] == "suggestion"


def test_parse_report_on_a_small_labelled_file(tmp_path):
    data = tmp_path / "labelled.jsonl"
    data.write_text(jsonl(
        {"text": "下单 3栋门禁坏了", "is_request": True, "category": "repair", "urgent": False,
         "building": "3", "unit": None, "floor": None, "room": None, "description": "3栋门禁坏了"},
        {"text": "收到", "is_request": False, "category": None, "urgent": None, "building": None,
         "unit": None, "floor": None, "room": None, "description": None},
        {"text": "下单 5栋楼道脏", "is_request": True, "category": "repair", "urgent": False,
         "building": "5", "unit": None, "floor": None, "room": None, "description": "5栋楼道脏"},
    ), encoding="utf-8")
    result = gridbot("parse", "--report", "--data", str(data), "--mistakes", "5")
    assert result.returncode == 0, result.stderr
    assert "labelled.jsonl: 3 texts, 2 requests" in result.stdout
    assert "is_request   100.0%  (3/3)" in result.stdout
    assert "category      50.0%  (1/2)" in result.stdout      # 楼道脏 is sanitation, labelled repair
    assert "category: expected 'repair', got 'sanitation' — 下单 5栋楼道脏" in result.stdout
    missing = gridbot("parse", "--report", "--data", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2 and missing.stderr.startswith("cannot read the labelled data")


def test_operator_commands_tickets_network_and_tokens(tmp_path):
    db = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    gridbot("chat", "--config", CONFIG, "--db", db, stdin=jsonl(
        message("o1", "下单 4号楼二单元4楼的灯不亮"),
        message("o2", "下单 2栋漏水", room="hehua-1@chatroom"),
        message("o3", "接单", sender="wxid_qiu_huanwu")))
    listed = gridbot("tickets", "list", "--config", CONFIG, "--db", db)
    assert listed.returncode == 0 and listed.stderr.strip() == "2 of 2 ticket(s)"
    assert listed.stdout.splitlines()[0].startswith("#2 ")
    claimed = gridbot("tickets", "list", "--status", "claimed", "--node", "baiyi",
                      "--config", CONFIG, "--db", db)
    assert [line.split()[0] for line in claimed.stdout.splitlines()] == ["#1"]
    shown = gridbot("tickets", "show", "1", "--config", CONFIG, "--db", db)
    assert [line.split()[2] for line in shown.stdout.splitlines()[3:]] == ["提交", "接单"]
    assert gridbot("tickets", "show", "99", "--config", CONFIG, "--db", db).returncode == 2
    assert gridbot("tickets", "list", "--node", "nowhere", "--config", CONFIG,
                   "--db", db).returncode == 2
    exported = gridbot("tickets", "export", "--config", CONFIG, "--db", db)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [row["id"] for row in rows] == [1, 2] and "2 ticket(s) exported" in exported.stderr
    tree = gridbot("network", "show", "--config", CONFIG, "--db", db).stdout.splitlines()
    assert tree[0] == "集里街道 (jili, township, 陈洁)"
    assert "      石坝垅小区第一微网格 (shibalong-1, microgrid, 邱煥武)  待办 1" in tree
    token = gridbot("token", "create", "--node", "baiyi", "--name", "李文华", "--config", CONFIG,
                    "--db", db)
    assert token.returncode == 0 and token.stdout.startswith("gb_")
    again = gridbot("token", "create", "--node", "baiyi", "--name", "李文华", "--config", CONFIG,
                    "--db", db)
    assert again.returncode == 2 and "exists" in again.stderr
    assert gridbot("token", "revoke", "--name", "李文华", "--db", db).returncode == 0
    assert gridbot("token", "revoke", "--name", "李文华", "--db", db).returncode == 2
