"""Fresh databases for a benchmark: SQLite files in a scratch folder, or databases in a
throw-away PostgreSQL cluster started for the run (the tests' helper, here with fsync on)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BACKENDS = ("sqlite", "postgresql")


@contextmanager
def fresh_databases(backend: str, folder: Path) -> Iterator[Callable[[str], str]]:
    """Yields `new(name)`, which makes an empty database and returns its URL."""
    if backend == "sqlite":
        yield lambda name: f"sqlite:///{folder / f'{name}.sqlite3'}"
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from pg_cluster import Cluster

    cluster = Cluster(durable=True)
    cluster.start()
    try:
        yield cluster.create_database
    finally:
        cluster.stop()
