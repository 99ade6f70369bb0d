"""The `gridbot` command line, run as a newcomer or a script would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest
from sqlalchemy import inspect

from bot.cli import NO_LABELLED_DATA
from bot.operator_cli import EXPORT_FIELDS
from conftest import REPO
from local_server import free_port
from models.db import Database
from models.tables import Ticket

CONFIG = str(REPO / "config.yaml")


def gridbot(*args: str, stdin: str = "", cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=cwd or REPO, timeout=120, env=env)


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
    said, *errors = result.stderr.splitlines()
    assert said == f"database: {db}"   # which database, on stderr: stdout stays the posts
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
    assert listed.returncode == 0
    assert listed.stderr.splitlines() == [f"database: {db}", "2 of 2 ticket(s)"]
    header, first, second = listed.stdout.splitlines()
    # Every column is named, the node in brackets too (#1 stands at its micro-grid).
    assert header.split() == ["#", "status", "category", "location", "text", "[now", "at]",
                              "overdue"]
    assert first.startswith("#2 ") and second.split()[:2] == ["#1", "处理中"]
    assert "4号楼二单元4楼的灯不亮 [石坝垅小区第一微网格]" in second
    claimed = gridbot("tickets", "list", "--status", "claimed", "--node", "baiyi",
                      "--config", CONFIG, "--db", db)
    assert [line.split()[0] for line in claimed.stdout.splitlines()[1:]] == ["#1"]
    shown = gridbot("tickets", "show", "1", "--config", CONFIG, "--db", db)
    assert [line.split()[2] for line in shown.stdout.splitlines()[3:]] == ["提交", "接单"]
    assert gridbot("tickets", "show", "99", "--config", CONFIG, "--db", db).returncode == 2
    assert gridbot("tickets", "list", "--node", "nowhere", "--config", CONFIG,
                   "--db", db).returncode == 2
    exported = gridbot("tickets", "export", "--config", CONFIG, "--db", db)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [row["id"] for row in rows] == [1, 2] and "2 ticket(s) exported" in exported.stderr
    # The keys in the documented order, every column of the table among them; each value as
    # the ticket's JSON form gives it (times in UTC with a Z).
    assert all(list(row) == list(EXPORT_FIELDS) for row in rows)
    with Database(db).session() as session:
        stored = session.get(Ticket, 1).model_dump(mode="json", warnings=False)
    assert rows[0] == {key: stored[key] for key in EXPORT_FIELDS}
    assert rows[0]["created_at"].endswith("Z") and rows[0]["status"] == "claimed"
    assert set(EXPORT_FIELDS) == set(Ticket.model_fields)
    documented = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert ", ".join(f"`{key}`" for key in EXPORT_FIELDS) in documented
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


# Commands that only read or add to the data, with what each needs besides --db.
READING = [
    ["token", "create", "--node", "baiyi", "--name", "x", "--config", CONFIG],
    ["token", "revoke", "--name", "x"],
    ["tickets", "list", "--config", CONFIG],
    ["tickets", "show", "1", "--config", CONFIG],
    ["tickets", "export", "--config", CONFIG],
    ["network", "show", "--config", CONFIG],
    ["digest", "--node", "baiyi", "--config", CONFIG],
    ["inbox", "dead", "--config", CONFIG],
    ["inbox", "retry", "m1", "--config", CONFIG],
    ["outbox", "dead"],
    ["outbox", "retry", "1"],
    ["parse", "--corrections"],
]


@pytest.mark.parametrize("args", READING, ids=lambda args: " ".join(args[:2]))
def test_a_reading_command_creates_no_database_and_says_how_to_make_one(tmp_path, args):
    # Run in another folder, where the default ./gridbot.sqlite3 is not the bot's.
    result = gridbot(*args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"no GridBot database at sqlite:///gridbot.sqlite3 (no file {tmp_path / 'gridbot.sqlite3'})."
        " `gridbot db upgrade` with the same --db creates it; to use the bot's database, give its"
        " URL with --db or $GRIDBOT_DATABASE_URL\n")
    assert list(tmp_path.iterdir()) == []


def test_a_database_with_no_tables_is_refused_and_db_upgrade_makes_it(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    url = f"sqlite:///{empty}"
    refused = gridbot("tickets", "list", "--config", CONFIG, "--db", url)
    assert refused.returncode == 2 and "it has no GridBot tables" in refused.stderr
    assert "gridbot db upgrade" in refused.stderr
    made = gridbot("db", "upgrade", "--db", url)
    assert made.returncode == 0 and made.stdout == f"database at the newest schema: {url}\n"
    listed = gridbot("tickets", "list", "--config", CONFIG, "--db", url)
    assert listed.returncode == 0 and listed.stderr.splitlines() == [f"database: {url}",
                                                                     "0 of 0 ticket(s)"]


def test_a_relative_sqlite_database_is_named_with_its_folder(tmp_path):
    assert gridbot("db", "upgrade", cwd=tmp_path).returncode == 0
    listed = gridbot("tickets", "list", "--config", CONFIG, cwd=tmp_path)
    assert listed.stderr.splitlines()[0] == \
        f"database: sqlite:///gridbot.sqlite3 ({tmp_path / 'gridbot.sqlite3'})"


@pytest.mark.postgresql
def test_a_postgresql_database_never_upgraded_is_refused(postgres_url):
    from sqlalchemy import create_engine

    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS never_upgraded")
        connection.exec_driver_sql("CREATE DATABASE never_upgraded")
    admin.dispose()
    url = postgres_url.rsplit("/", 1)[0] + "/never_upgraded"
    with_password = url.replace("postgres@", "postgres:s3cret-pw@")
    result = gridbot("token", "create", "--node", "baiyi", "--name", "x", "--config", CONFIG,
                     "--db", with_password)
    assert result.returncode == 2 and "s3cret-pw" not in result.stderr
    assert result.stderr.startswith(f"no GridBot database at {url.replace('postgres@', 'postgres:***@')}"
                                    " (it has no GridBot tables)")
    engine = create_engine(url)
    assert inspect(engine).get_table_names() == []   # nothing was created
    engine.dispose()


def test_a_bad_database_url_is_named_without_its_password(tmp_path):
    result = gridbot("tickets", "list", "--config", CONFIG,
                     "--db", "postgresql+psycopg://gridbot:s3cret-pw@127.0.0.1:notaport/x")
    assert result.returncode == 2 and "s3cret-pw" not in result.stderr
    assert result.stderr.startswith(
        "cannot open the database postgresql+psycopg://gridbot:***@127.0.0.1:notaport/x: ")


def test_help_shows_no_type_for_flags():
    result = gridbot("tickets", "list", "--help")
    [overdue] = [line for line in result.stdout.splitlines() if "--overdue" in line]
    assert "<bool>" not in result.stdout and "Only overdue tickets." in overdue
    assert "<int range>" in result.stdout   # options that take a value still show it


HEAVY = ["sqlalchemy", "sqlmodel", "fastapi", "uvicorn", "opencc", "numpy", "wechaty", "pydantic",
         "apscheduler", "httpx", "yaml", "yaml_rs", "alembic", "jinja2", "psycopg", "rich.progress"]


def test_help_imports_none_of_the_heavy_modules():
    # What `gridbot --help` and `gridbot tickets list --help` load, seen from inside the process.
    probe = ("import sys\nfrom bot.cli import app\n"
             "try:\n    app([*sys.argv[1:], '--help'])\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n")
    for command in ([], ["tickets", "list"], ["parse"], ["run"]):
        result = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                                text=True, cwd=REPO, timeout=60)
        assert result.stderr.strip() == "[]", (command, result.stderr)


def test_chat_reads_a_first_line_after_a_byte_order_mark(tmp_path):
    # What Notepad and other Windows editors put at the start of a UTF-8 file.
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    result = gridbot("chat", "--config", CONFIG, "--db", db, stdin="\ufeff" + jsonl(
        message("m1", "下单 4号楼二单元4楼的灯不亮", name="张阿姨")))
    assert result.returncode == 0 and "not valid JSON" not in result.stderr, result.stderr
    assert "#1" in json.loads(result.stdout.splitlines()[0])["text"]


def test_a_receipt_in_chat_loads_what_only_other_messages_need_not_at_all(tmp_path):
    # A head's 收到 needs no PyYAML (a broken config, the parser's words), no emoji tables (a
    # text that may hold one) and no pydantic-settings (a secret read from a file): each costs
    # 10-15 ms of every command's start at Liuyang's size.
    probe = ("import sys\nfrom bot.cli import app\n"
             "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ['yaml', 'emoji', 'pydantic_settings'] if m in sys.modules),"
             " file=sys.stderr)\n")
    database = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-c", probe, "chat", "--config", CONFIG, "--db", database],
        input=jsonl(message("m1", "收到", sender="wxid_qiu_huanwu")), capture_output=True,
        text=True, cwd=REPO, timeout=120,
        env={**os.environ, "GRIDBOT_SECRETS_DIR": str(tmp_path / "no-secrets")})
    assert result.stderr.splitlines()[-1] == "[]", result.stderr
    # …and each is still there when a message needs it.
    result = subprocess.run(
        [sys.executable, "-c", probe, "chat", "--config", CONFIG, "--db", database],
        input=jsonl(message("m2", "下单 4号楼灯不亮😭", name="张阿姨")), capture_output=True,
        text=True, cwd=REPO, timeout=120)
    assert result.stderr.splitlines()[-1] == "['emoji', 'yaml']", result.stderr
    assert "#1" in result.stdout


def test_parse_report_measures_the_shipped_held_out_data_from_an_installed_wheel(tmp_path):
    # A wheel built as for any install, unpacked and run from another folder: not the source tree.
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q",
                            "-w", str(tmp_path / "wheel")], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("gridbot-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def report() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", "import bot.cli, sys; print(bot.cli.__file__, file=sys.stderr); "
             "bot.cli.app()", "parse", "--report"], capture_output=True, text=True,
            cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(site)}, timeout=300)

    result = report()
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(str(site / "bot" / "cli.py"))
    assert result.stdout.startswith("requests_heldout.jsonl: ")
    assert "2026-12-workers.jsonl: " in result.stdout and "all 10 files: " in result.stdout

    shutil.rmtree(site / "flows" / "heldout")   # an installation without them
    missing = report()
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.splitlines()[1] == NO_LABELLED_DATA
    assert "--data FILE" in NO_LABELLED_DATA


def test_run_logs_what_it_runs_without_credentials(tmp_path):
    config = tmp_path / "config.yaml"
    callback = "https://bridge:pass-0123@hooks.example/send?key=key-0123"
    config.write_text((REPO / "config.yaml").read_text(encoding="utf-8").replace(
        "transport:\n  kind: simulator\n",
        f"transport:\n  kind: webhook\n  callback_url: {callback}\n  secret: secret-0123\n"),
        encoding="utf-8")
    db = tmp_path / "run.sqlite3"
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config),
                                "--db", f"sqlite:///{db}", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Uvicorn running" in l for l in lines):
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        process.terminate()
        rest = process.communicate(timeout=30)[1]
    log = "".join(lines) + rest
    assert any("Uvicorn running" in line for line in lines), log
    said = [line.split(": ", 1)[1].rstrip("\n") for line in lines if " INFO bot.service: " in line]
    assert said[:4] == [
        f"config: {config}",
        f"database: sqlite:///{db}",
        f"transport: webhook: posts to https://bridge:***@hooks.example/send?key=***, messages in at "
        f"http://127.0.0.1:{port}/webhook/messages",
        f"API and dashboard: http://127.0.0.1:{port}/ (API docs at /docs)",
    ]
    for secret in ("pass-0123", "key-0123", "secret-0123"):
        assert secret not in log


def test_a_token_needs_no_transport_secret_but_run_and_config_check_do(tmp_path):
    webhook = tmp_path / "config.yaml"
    webhook.write_text((REPO / "config.yaml").read_text(encoding="utf-8").replace(
        "  kind: simulator\n", "  kind: webhook\n  callback_url: https://bridge.example/cb\n"),
        encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    env_free = {k: v for k, v in os.environ.items() if k != "GRIDBOT_WEBHOOK_SECRET"}
    assert gridbot("db", "upgrade", "--db", url, env=env_free).returncode == 0
    token = gridbot("token", "create", "--node", "baiyi", "--name", "运维", "--config", str(webhook),
                    "--db", url, env=env_free)
    assert token.returncode == 0 and token.stdout.strip()
    check = gridbot("config", "check", "--config", str(webhook), env=env_free)
    assert check.returncode == 2 and "transport.secret: required" in check.stderr


def test_chat_answering_no_request_loads_neither_numpy_nor_alembic(tmp_path):
    # NumPy and the request model are for reading a request, Alembic for a migration that is
    # due: a chat line that is neither (收到, on a database at the newest schema) waits for none.
    db = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    gridbot("db", "upgrade", "--db", db)
    probe = ("import sys\nfrom bot.cli import app\n"
             "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ['numpy', 'alembic'] if m in sys.modules), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", probe, "chat", "--config", CONFIG, "--db", db],
                            input=jsonl(message("m1", "收到")), capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.stderr.strip().splitlines()[-1] == "[]", result.stderr
