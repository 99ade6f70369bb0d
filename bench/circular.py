"""A circular (通知下发) from the top of the Liuyang-sized network (`bench/liuyang.py`: 33,431
nodes, 33,430 groups below the city): the time to write its posts to the outbox, beside a
baseline measured in the same run, and how long their delivery takes at the configured pace
(computed, not waited).

    python bench/circular.py [--backend sqlite|postgresql|both] [--runs 3] [--send-ms 300]

Written: `bot.circulars.issue`, as `通知 …` said in the city group does it (the circular's row:
past `policy.circulars.write_at_once_up_to` groups the posts are the scheduler's), then
`bot.circulars.send_due`, the scheduler's run that writes every group's post through the outbox
pipeline (stand-ins, masking, splitting) and its delivery row, in one transaction. Baseline: a plain bulk insert of the same outbox rows (same
rooms and text) in one transaction, no pipeline, no delivery rows.

Delivery, computed: pacing (`transport.posts_per_room_per_minute`) limits each group, and each
group gets one post (or the parts of a long one), so pacing alone lets every group have it within
its first minute. What takes longer is the one sender working through the outbox in order: the
bot's own cost per post (taking, sending to a transport that does nothing, marking delivered) is
measured on a sample of `--sample` posts and multiplied out; a chat service's own time per post
(`--send-ms`, an assumption to set from the gateway's logs, not a measurement) is added per post.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import func, insert, select, update  # noqa: E402

from bench.databases import BACKENDS, fresh_databases  # noqa: E402
from bench.liuyang import liuyang_config  # noqa: E402
from bench.report import print_table  # noqa: E402
from bot import circulars  # noqa: E402
from bot.outbox import PostPipeline, deliver_pending  # noqa: E402
from bot.transport import OutgoingPost  # noqa: E402
from flows import texts  # noqa: E402
from flows.config import parse_config  # noqa: E402
from flows.network import Network  # noqa: E402
from models.db import Database  # noqa: E402
from models.tables import OutboundPost  # noqa: E402

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai: no quiet hours
TEXT = ("明天（11月25日）9:00至17:00，因主干管网检修，全市部分区域停水。请各网格长转告居民提前储水，"
        "行动不便的独居老人请安排人员上门告知。咨询电话：0731-83456789。")
_POSTS = OutboundPost.__table__


class NoTransport:
    """A transport that takes every post at once: what remains is the bot's own cost."""

    async def send(self, post: OutgoingPost) -> None:
        return None


def write_circular(db: Database, network: Network, config) -> tuple[float, float, int]:
    """(seconds to take the `通知` as the dispatcher does, seconds for the scheduler's run to
    write its posts, groups): past `policy.circulars.write_at_once_up_to` groups the second
    part is the scheduler's, in its own thread."""
    top = network.root
    start = time.perf_counter()
    with db.session() as session:
        circulars.issue(
            session, network, PostPipeline.of(config, network), config.policy, node=top,
            sender_id=top.head.id, label=circulars.sender_label(top, top.head.name), text=TEXT, urgent=False,
            down_to=None, source_id=f"bench-{time.time_ns()}", room=top.group.room, now=NOW)
    taken = time.perf_counter() - start
    start = time.perf_counter()
    groups = circulars.send_due(config, db, network, NOW)
    return taken, time.perf_counter() - start, groups


def write_baseline(db: Database, network: Network) -> float:
    body = texts.CIRCULAR_POST.format(number=1, sender="浏阳市 负责人0", text=TEXT)
    rows = [{"room": network.node(node_id).group.room, "recipient_id": None, "text": body,
             "mentions": [], "reply_to": None, "created_at": NOW}
            for node_id in network.order[1:]]
    start = time.perf_counter()
    with db.engine.begin() as connection:
        connection.execute(insert(_POSTS), rows)
    return time.perf_counter() - start


def delivery_sample(db: Database, per_minute: int, sample: int) -> float:
    """Seconds per post for `deliver_pending` with a transport that does nothing, over the
    first `sample` undelivered posts (the others set aside meanwhile, then put back)."""
    with db.engine.begin() as connection:
        first = connection.execute(select(func.min(_POSTS.c.id)).where(
            _POSTS.c.delivered_at.is_(None))).scalar_one()
        connection.execute(update(_POSTS).where(_POSTS.c.id >= first + sample,
                                                _POSTS.c.delivered_at.is_(None))
                           .values(dead_at=NOW))
    start = time.perf_counter()
    sent = asyncio.run(deliver_pending(db, NoTransport(), lambda: NOW, per_minute))
    took = time.perf_counter() - start
    with db.engine.begin() as connection:
        connection.execute(update(_POSTS).where(_POSTS.c.dead_at == NOW).values(dead_at=None))
    return took / max(sent, 1)


def run(backend: str, runs: int, sample: int, send_ms: float) -> None:
    config = parse_config(liuyang_config())
    network = Network(config)
    groups = len(network) - 1
    per_minute = config.transport.posts_per_room_per_minute
    taken, written, baseline, per_post = [], [], [], []
    with tempfile.TemporaryDirectory() as folder, fresh_databases(backend, Path(folder)) as new:
        for number in range(runs):
            db = Database(new(f"circular{number}"))
            base_db = Database(new(f"baseline{number}"))
            took, wrote, count = write_circular(db, network, config)
            assert count == groups, (count, groups)
            taken.append(took)
            written.append(wrote)
            baseline.append(write_baseline(base_db, network))
            if number == 0:
                per_post.append(delivery_sample(db, per_minute, sample))
                with db.engine.connect() as connection:
                    parts = connection.execute(select(func.count()).select_from(_POSTS)).scalar_one()
            db.dispose()
            base_db.dispose()
    parts_per_group = parts / groups
    pacing_minutes = math.ceil(parts_per_group / per_minute)
    bot_seconds = per_post[0] * parts
    chat_seconds = parts * send_ms / 1000
    print(f"\n{backend}: a circular from the top to {groups:,} groups ({parts:,} posts), "
          f"{runs} run(s)")
    print_table(("measure", "GridBot", "baseline"), [
        ("take the 通知 (the circular's row; the message's transaction)",
         f"{min(taken) * 1000:.0f}–{max(taken) * 1000:.0f} ms", ""),
        ("write its posts and delivery rows (the scheduler's run, one transaction)",
         f"{min(written):.2f}–{max(written):.2f} s",
         f"bulk insert of the same outbox rows {min(baseline):.2f}–{max(baseline):.2f} s"),
        ("delivery, pacing alone (each group's posts / per minute)",
         f"{pacing_minutes} min ({parts_per_group:.0f} post a group, {per_minute}/min)", ""),
        (f"delivery, the bot's own cost ({sample:,} sent to a no-op transport)",
         f"{per_post[0] * 1000:.2f} ms a post → {bot_seconds / 60:.1f} min", ""),
        (f"delivery with {send_ms:.0f} ms a post at the chat service (assumed)",
         f"{(bot_seconds + chat_seconds) / 3600:.1f} h", ""),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--send-ms", type=float, default=300.0)
    options = parser.parse_args()
    for backend in (BACKENDS if options.backend == "both" else (options.backend,)):
        run(backend, options.runs, options.sample, options.send_ms)


if __name__ == "__main__":
    main()
