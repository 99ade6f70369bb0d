"""Deploying with one's own config.yaml and secrets: secrets from the environment or from files,
and the Docker image's entry command, run here as the image runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from flows.environment import SecretError, secret
from local_server import free_port
from models.db import database_url

REPO = Path(__file__).resolve().parent.parent
SECRETS = ("GRIDBOT_DATABASE_URL", "GRIDBOT_WEBHOOK_SECRET", "WECHATY_PUPPET_SERVICE_TOKEN",
           "GRIDBOT_CSRF_SECRET")


@pytest.fixture
def secrets_dir(tmp_path, monkeypatch):
    """An empty secrets folder in GRIDBOT_SECRETS_DIR, and none of the secrets in the environment."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    monkeypatch.setenv("GRIDBOT_SECRETS_DIR", str(folder))
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    return folder


def test_a_secret_comes_from_the_environment_else_from_its_file(secrets_dir, monkeypatch):
    assert secret("GRIDBOT_WEBHOOK_SECRET") is None
    (secrets_dir / "GRIDBOT_WEBHOOK_SECRET").write_text("  from-the-file\n", encoding="utf-8")
    assert secret("GRIDBOT_WEBHOOK_SECRET") == "from-the-file"
    monkeypatch.setenv("GRIDBOT_WEBHOOK_SECRET", "")            # blank: as if not set
    assert secret("GRIDBOT_WEBHOOK_SECRET") == "from-the-file"
    monkeypatch.setenv("GRIDBOT_WEBHOOK_SECRET", "from-the-environment")
    assert secret("GRIDBOT_WEBHOOK_SECRET") == "from-the-environment"


def test_a_secret_file_may_be_named_in_lower_case_and_an_unknown_name_is_refused(secrets_dir):
    (secrets_dir / "wechaty_puppet_service_token").write_text("puppet_service_x", encoding="utf-8")
    assert secret("WECHATY_PUPPET_SERVICE_TOKEN") == "puppet_service_x"
    with pytest.raises(KeyError):
        secret("GRIDBOT_PASSWORD")


def test_no_secrets_folder_is_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDBOT_SECRETS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("GRIDBOT_CSRF_SECRET", raising=False)
    assert secret("GRIDBOT_CSRF_SECRET") is None


def test_the_database_url_may_come_from_a_secret_file(secrets_dir, tmp_path):
    assert database_url() == "sqlite:///gridbot.sqlite3"
    url = f"sqlite:///{tmp_path / 'secret.sqlite3'}"
    (secrets_dir / "GRIDBOT_DATABASE_URL").write_text(url + "\n", encoding="utf-8")
    assert database_url() == url
    assert database_url("sqlite:///given.sqlite3") == "sqlite:///given.sqlite3"


def test_a_secret_file_that_cannot_be_read_is_named_in_one_line(secrets_dir, tmp_path):
    # Another secret's unreadable file is no matter to this one.
    (secrets_dir / "GRIDBOT_CSRF_SECRET").write_bytes(b"\xff\xfe")
    url = f"sqlite:///{tmp_path / 'secret.sqlite3'}"
    (secrets_dir / "GRIDBOT_DATABASE_URL").write_text(url, encoding="utf-8")
    assert database_url() == url
    with pytest.raises(SecretError, match="GRIDBOT_CSRF_SECRET .*: not UTF-8 text"):
        secret("GRIDBOT_CSRF_SECRET")
    (secrets_dir / "GRIDBOT_DATABASE_URL").unlink()
    (secrets_dir / "GRIDBOT_DATABASE_URL").symlink_to(tmp_path / "nothing")
    with pytest.raises(SecretError, match=f"GRIDBOT_DATABASE_URL from {secrets_dir}"):
        database_url()
    # A command says so in one line, with no traceback.
    result = subprocess.run([sys.executable, "-m", "bot.cli", "tickets", "list"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={**os.environ, "GRIDBOT_CONFIG": str(REPO / "config.yaml")})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cannot read the secret GRIDBOT_DATABASE_URL from {secrets_dir}: path does not exist"]


def webhook_config(tmp_path) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config["transport"] = {"kind": "webhook", "callback_url": "http://127.0.0.1:9/callback"}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_config_check_takes_the_webhook_secret_from_a_file(secrets_dir, tmp_path):
    path = webhook_config(tmp_path)
    refused = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert refused.exit_code == 2 and "transport.secret: required" in refused.output
    (secrets_dir / "GRIDBOT_WEBHOOK_SECRET").write_text("k" * 32, encoding="utf-8")
    accepted = CliRunner().invoke(app, ["config", "check"], env={"GRIDBOT_CONFIG": str(path)})
    assert accepted.exit_code == 0 and accepted.output.startswith("ok: ")


# ---- the Docker image ----------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def image_env() -> dict[str, str]:
    env = {}
    for keyword, arguments in dockerfile():
        if keyword == "ENV":
            env |= dict(re.findall(r"(\w+)=(\S+)", arguments))
    return env


def test_the_image_runs_as_a_user_from_the_data_volume_and_leaves_the_database_to_secrets():
    steps = dockerfile()
    [user] = [arguments for keyword, arguments in steps if keyword == "USER"]
    assert user not in ("root", "0")
    workdirs = [arguments for keyword, arguments in steps if keyword == "WORKDIR"]
    volumes = [arguments for keyword, arguments in steps if keyword == "VOLUME"]
    assert workdirs[-1] == "/data" and volumes == ["/data"]
    env = image_env()
    # A GRIDBOT_DATABASE_URL set in the image would hide the secret file of that name.
    assert "GRIDBOT_DATABASE_URL" not in env
    assert env["GRIDBOT_CONFIG"] == "/app/config.yaml" and env["GRIDBOT_SECRETS_DIR"] == "/run/secrets"
    assert ("COPY", "config.yaml ./") in steps and workdirs[0] == "/app"


def test_the_readme_mounts_where_the_image_reads():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    docker = readme[readme.index("## Docker"):readme.index("## Performance")]
    assert ":/app/config.yaml:ro" in docker and ":/run/secrets:ro" in docker and ":/data" in docker
    for name in SECRETS:
        assert f"`{name}`" in docker, name
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert "./config.yaml:/app/config.yaml:ro" in compose["services"]["bot"]["volumes"]


def test_the_image_entry_command_runs_with_its_own_config_and_secret_files(tmp_path):
    """ENTRYPOINT + CMD as the image runs them, in a working folder standing for /data, with the
    image's environment pointed at a config and a secrets folder of one's own."""
    steps = dict(dockerfile())
    command = json.loads(steps["ENTRYPOINT"]) + json.loads(steps["CMD"])
    assert command == ["gridbot", "run", "--host", "0.0.0.0", "--port", "8000"]
    port = free_port()
    command = ["gridbot", "run", "--host", "127.0.0.1", "--port", str(port)]   # here, not in a container
    data, secrets = tmp_path / "data", tmp_path / "secrets"
    data.mkdir()
    secrets.mkdir()
    database = tmp_path / "from-the-secret.sqlite3"
    (secrets / "GRIDBOT_DATABASE_URL").write_text(f"sqlite:///{database}\n", encoding="utf-8")
    (secrets / "GRIDBOT_WEBHOOK_SECRET").write_text("k" * 32 + "\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in SECRETS}
    env |= image_env() | {"GRIDBOT_CONFIG": str(webhook_config(tmp_path)),
                          "GRIDBOT_SECRETS_DIR": str(secrets)}
    gridbot = shutil.which("gridbot", path=str(Path(sys.executable).parent)) or "gridbot"
    process = subprocess.Popen([gridbot, *command[1:]], cwd=data, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "gridbot run did not come up"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "transport": "webhook"}
        assert database.exists() and not list(data.glob("*.sqlite3"))
    finally:
        process.terminate()
        process.wait(timeout=30)
