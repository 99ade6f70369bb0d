"""`gridbot config check` run as a user runs it, on a config written for the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import REPO


def shipped_config() -> dict[str, Any]:
    """The shipped config.yaml as data, to change before `check_config`."""
    return yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def check_config(folder: Path, data: dict[str, Any]) -> tuple[int, str]:
    """`gridbot config check` on `data` written to `folder`/config.yaml: (its exit code, what it
    printed on stdout and stderr)."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config", "check", "--config",
                             str(path)], capture_output=True, text=True, cwd=REPO)
    return result.returncode, result.stdout + result.stderr
