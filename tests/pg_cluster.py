"""A throw-away PostgreSQL server for the tests: `initdb` in a temporary folder, started on a free
port of 127.0.0.1, dropped after the run. Debian's `postgresql` package provides the programs
(`.ci/run` installs it); nothing already running is assumed.

PostgreSQL refuses to run as root; when the tests run as root the cluster belongs to the
`postgres` user the package creates, and its programs are started through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from local_server import free_port


def find_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class MissingPrograms(RuntimeError):
    """PostgreSQL's programs are not installed here."""


class Cluster:
    """`durable=False` (the tests) skips syncing to disk; the benchmarks measure a durable one."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.initdb = find_program("initdb")
        self.pg_ctl = find_program("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise MissingPrograms("PostgreSQL's initdb and pg_ctl were not found "
                                  "(apt-get install postgresql)")
        self.folder = Path(tempfile.mkdtemp(prefix="gridbot-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.owner = "postgres" if os.geteuid() == 0 else None
        if self.owner:
            user = pwd.getpwnam(self.owner)
            os.chown(self.folder, user.pw_uid, user.pw_gid)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.owner, "--"] if self.owner else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> str:
        """Create and start the cluster; returns the URL of an empty database `gridbot`."""
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C")
        settings = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        if not self.durable:
            settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-o", settings, "start")
        return self.create_database("gridbot")

    def create_database(self, name: str) -> str:
        """An empty database in the cluster; returns its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
