"""The crash run of issue 19: signed requests through a real `gridbot run` with the webhook
transport, the process killed with SIGKILL while a post is in flight (its lease held), started
again, every request sent again. Counts tickets and lost requests, and times a new reply in the
room whose post was in flight, from the restart (the process started) and from its first answer.

    python bench/crash_run.py [--requests N] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the crash run is the test's, at a bench's size

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.report import print_table  # noqa: E402
from models.db import Database  # noqa: E402
from test_outbox_leases import crash_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="sqlite")
    options = parser.parse_args()
    rows = []
    for backend in BACKENDS if options.backend == "both" else (options.backend,):
        with tempfile.TemporaryDirectory(prefix="gridbot-crash-") as folder, \
                fresh_databases(backend, Path(folder)) as new:
            db = Database(new("crash"))
            figures = crash_run(db, Path(folder), options.requests)
            db.dispose()
        rows.append([backend, figures["requests"], figures["killed_after"], figures["tickets"],
                     figures["lost"], figures["waiting"],
                     f"{figures['reply_after_restart_s']:.2f} s",
                     f"{figures['reply_after_up_s']:.2f} s"])
    print_table(["backend", "requests", "killed after", "tickets", "lost", "posts waiting",
                 "reply after restart", "after it answers"], rows)


if __name__ == "__main__":
    main()
