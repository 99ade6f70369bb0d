"""The cache of validated configs (bot/config_loading.py, flows/config_cache.py): a hit is the
same config, anything else the result depends on makes a miss, and the cache never stands in
the way of validating."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bot.config_loading as loading
from flows.config import ConfigError, load_config
from flows.environment import WEBHOOK_SECRET_ENV

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (REPO / "config.yaml").read_text(encoding="utf-8")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own; the folder entries go to is `cache / 'gridbot'`."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(loading.NO_CACHE_ENV, raising=False)
    return tmp_path / "cache" / "gridbot"


def write(tmp_path: Path, text: str = SHIPPED, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def validating_forbidden(monkeypatch) -> None:
    """From here on a load that validates the file fails the test: only a hit may answer."""
    def refuse(*args, **kwargs):
        raise AssertionError("validated the file again instead of using the cache")
    monkeypatch.setattr(loading, "parse_config", refuse)


def entry_path(cache: Path, config: Path) -> Path:
    return loading.entry_file(cache, config)


def test_a_hit_is_the_same_config_as_validating(tmp_path, cache, monkeypatch):
    path = write(tmp_path)
    first = loading.load_config(path, transport=False)
    assert entry_path(cache, path).is_file()
    validating_forbidden(monkeypatch)
    again = loading.load_config(path, transport=False)
    assert again == first == load_config(path, transport=False)
    assert again.network.children[0].children[0].children[0].deputies[0].name == "周敏"
    assert again.policy.timers_for("repair", False) == first.policy.timers_for("repair", False)


def test_a_hit_brings_the_networks_fingerprint_and_only_for_that_network(tmp_path, cache,
                                                                        monkeypatch):
    from flows.network import Network

    path = write(tmp_path)
    validated = load_config(path, transport=False)   # no cache: computed here
    expected = Network(validated).fingerprint
    loading.load_config(path, transport=False)       # fills the cache
    again = loading.load_config(path, transport=False)
    numbered = []
    original = Network.intervals.func
    monkeypatch.setattr(Network, "intervals", property(
        lambda self: numbered.append(self) or original(self)))
    assert Network(again).fingerprint == expected and numbered == []
    # A copy with another network (the top group's room changed) numbers and hashes its own.
    top = again.network
    moved = again.model_copy(update={"network": dataclasses.replace(
        top, group=dataclasses.replace(top.group, room="elsewhere@chatroom"))})
    assert Network(moved).fingerprint != expected and numbered


def test_the_folder_keeps_the_entries_used_last_and_none_long_unused(tmp_path, cache):
    """Every config file read has an entry (5 MB at Liuyang's size, a scratch copy too): the
    folder keeps the ones used last, and none unused for a month."""
    cache.mkdir(parents=True)
    now = time.time()
    stale = cache / "config-stale.json"
    stale.write_text("{}")
    os.utime(stale, (now - 40 * 24 * 3600,) * 2)
    others = []
    for hours in range(1, 21):
        other = cache / f"config-{hours:02d}.json"
        other.write_text("{}")
        os.utime(other, (now - hours * 3600,) * 2)
        others.append(other)
    path = write(tmp_path)
    loading.load_config(path, transport=False)
    kept = set(cache.glob("config-*.json"))
    assert entry_path(cache, path) in kept and len(kept) == loading.KEEP_ENTRIES
    assert kept == {entry_path(cache, path), *others[:loading.KEEP_ENTRIES - 1]}


def test_a_hit_counts_as_a_use(tmp_path, cache):
    path = write(tmp_path)
    loading.load_config(path, transport=False)
    long_ago = time.time() - 10 * 24 * 3600
    os.utime(entry_path(cache, path), (long_ago, long_ago))
    loading.load_config(path, transport=False)
    assert entry_path(cache, path).stat().st_mtime > long_ago + 24 * 3600


def test_an_edit_keeping_size_and_time_is_a_miss(tmp_path, cache):
    path = write(tmp_path)
    loading.load_config(path, transport=False)
    stat = path.stat()
    path.write_text(SHIPPED.replace("name: 邱煥武", "name: 邱焕武"), encoding="utf-8")  # same length
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    edited = loading.load_config(path, transport=False)
    assert edited.network.children[0].children[0].children[0].head.name == "邱焕武"


def test_other_code_is_a_miss(tmp_path, cache, monkeypatch):
    path = write(tmp_path)
    loading.load_config(path, transport=False)
    monkeypatch.setattr(loading, "code_digest", lambda: "another GridBot")
    calls = []
    real = loading.parse_config
    monkeypatch.setattr(loading, "parse_config", lambda *a: calls.append(1) or real(*a))
    loading.load_config(path, transport=False)
    assert calls == [1]


@pytest.mark.parametrize("damage", ["garbage", "flipped byte", "empty", "other key"])
def test_a_corrupt_entry_is_ignored_and_written_again(tmp_path, cache, monkeypatch, damage):
    path = write(tmp_path)
    expected = loading.load_config(path, transport=False)
    file = entry_path(cache, path)
    head, _, body = file.read_bytes().partition(b"\n")
    if damage == "garbage":
        file.write_bytes(b"\x00\xffnot a cache entry")
    elif damage == "flipped byte":   # the key still matches; the body does not
        file.write_bytes(head + b"\n" + body.replace("邱煥武".encode(), "邱焕武".encode()))
    elif damage == "empty":
        file.write_bytes(b"")
    else:
        file.write_bytes(b"0" * 64 + b" " + head.split()[1] + b"\n" + body)
    assert loading.load_config(path, transport=False) == expected
    validating_forbidden(monkeypatch)   # the entry was written again: now a hit
    assert loading.load_config(path, transport=False) == expected


def test_a_folder_that_cannot_be_written_only_means_validating(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = write(tmp_path)
    assert loading.load_config(path, transport=False) == load_config(path, transport=False)
    assert blocker.read_text() == "a file where the cache folder would be"


def test_no_home_folder_only_means_validating(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")

    def homeless():
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.setattr(Path, "home", homeless)
    path = write(tmp_path)
    assert loading.load_config(path, transport=False) == load_config(path, transport=False)


def test_no_cache_when_turned_off(tmp_path, cache, monkeypatch):
    monkeypatch.setenv(loading.NO_CACHE_ENV, "1")
    path = write(tmp_path)
    loading.load_config(path, transport=False)
    assert not cache.exists()


@pytest.mark.parametrize("broken", [
    SHIPPED.replace("levels: [township, village, branch, microgrid]", "levels: [township]"),
    SHIPPED.replace("head: {id: wxid_chen_jie, name: 陈洁}", "head: {id: wxid_chen_jie}"),
    "network: [\n",
])
def test_a_failing_config_is_never_kept(tmp_path, cache, broken):
    path = write(tmp_path, broken)
    for _ in range(2):   # and fails the second time too, with the same problems
        with pytest.raises(ConfigError) as failed:
            loading.load_config(path, transport=False)
    with pytest.raises(ConfigError) as validated:
        load_config(path, transport=False)
    assert failed.value.problems == validated.value.problems
    assert not entry_path(cache, path).exists()


WEBHOOK = SHIPPED.replace("  kind: simulator\n", "  kind: webhook\n  callback_url: https://bridge.example/post\n")


def test_what_the_environment_gives_is_read_on_every_load(tmp_path, cache, monkeypatch):
    assert WEBHOOK != SHIPPED
    path = write(tmp_path, WEBHOOK)
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "first-secret-value")
    first = loading.load_config(path, transport=True)
    assert first.transport.webhook_secret() == "first-secret-value"
    assert b"first-secret-value" not in entry_path(cache, path).read_bytes()
    validating_forbidden(monkeypatch)
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "second-secret-value")
    assert loading.load_config(path, transport=True).transport.webhook_secret() == "second-secret-value"
    monkeypatch.delenv(WEBHOOK_SECRET_ENV)
    with pytest.raises(ConfigError) as missing:   # a hit, and still the transport's check
        loading.load_config(path, transport=True)
    assert [line.split(":")[0] for line in missing.value.problems] == ["transport.secret"]
    loading.load_config(path, transport=False)   # commands that start no transport need none


@pytest.mark.parametrize("transport", [
    "  kind: webhook\n  callback_url: https://bridge.example/post\n  secret: in-the-file-itself\n",
    "  kind: webhook\n  callback_url: https://qyapi.example/send?key=in-the-file-itself\n  secret: s\n",
    "  kind: wechaty\n  endpoint: gateway:8788\n  token: in-the-file-itself\n",
])
def test_a_config_holding_a_credential_is_not_kept(tmp_path, cache, transport):
    path = write(tmp_path, SHIPPED.replace("  kind: simulator\n", transport))
    config = loading.load_config(path, transport=True)
    assert config == load_config(path, transport=True)
    assert not entry_path(cache, path).exists()


def test_refresh_validates_in_full_and_keeps_the_result(tmp_path, cache, monkeypatch):
    path = write(tmp_path)
    loading.load_config(path, transport=False)

    def unread(*args):
        raise AssertionError("a refresh read the cache")
    monkeypatch.setattr(loading, "_read", unread)
    entry_path(cache, path).write_bytes(b"stale")
    assert loading.load_config(path, transport=True, refresh=True) == load_config(path)
    assert entry_path(cache, path).read_bytes() != b"stale"


def gridbot(*args: str, stdin: str = "", env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=REPO, timeout=120, env=env)


def test_commands_go_through_the_cache_and_config_check_still_checks(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop(loading.NO_CACHE_ENV, None)
    path = write(tmp_path)

    def chat(run: int) -> str:
        line = json.dumps({"id": "m1", "room": "shibalong-1@chatroom", "sender": "wxid_resident_zhang",
                           "text": "下单 4栋2单元楼道灯不亮", "at": "2026-11-24T09:00:00+08:00"},
                          ensure_ascii=False) + "\n"
        done = gridbot("chat", "--config", str(path), "--db", f"sqlite:///{tmp_path / f'{run}.sqlite3'}",
                       stdin=line, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert '"mentions": ["wxid_qiu_huanwu"]' in chat(1)
    file = entry_path(tmp_path / "cache" / "gridbot", path)
    # An entry naming another head, as if the file said so: `chat` believes it.
    head, _, body = file.read_bytes().partition(b"\n")
    body = body.replace(b'"wxid_qiu_huanwu"', b'"wxid_someone_else"')
    file.write_bytes(f"{head.split()[0].decode()} {hashlib.sha256(body).hexdigest()}\n".encode() + body)
    assert '"mentions": ["wxid_someone_else"]' in chat(2)
    # The check validates the file itself, whatever the cache holds, and keeps what it read.
    check = gridbot("config", "check", "--config", str(path), env=env)
    assert check.returncode == 0 and check.stdout.startswith("ok: 12 nodes"), check.stdout
    assert '"mentions": ["wxid_qiu_huanwu"]' in chat(3)
