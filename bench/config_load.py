"""Loading the Liuyang-sized network (33,431 nodes, 32,000 micro-grids): config load and
validation with no cache entry (cold) and from the cache of validated configs (warm), building
the network index (also with a 楼栋长 named for each of its 64,000 buildings), routing per
message, a whole `gridbot chat` answering one line cold and warm, and the bot process's peak
memory.

    python bench/config_load.py [--rounds N]

Prints a table and one JSON line. The baseline is `json.loads` of the same tree: the least any
loader must spend to turn that much text into Python objects. The cache lives in a temporary
folder of the run ($XDG_CACHE_HOME), never the user's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.liuyang import MICROGRIDS, liuyang_config, write_config  # noqa: E402
from bench.report import print_table  # noqa: E402
from bot import config_loading  # noqa: E402
from flows.config import load_config, parse_config  # noqa: E402
from flows.config import Node  # noqa: E402
from flows.network import Network, cover_text, parse_cover  # noqa: E402
from flows.routing import route  # noqa: E402
from models.db import Database  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LOOKUPS = 200_000

# Run in a fresh interpreter so its peak is the bot's own: config, network index, parser model,
# a database and one message through the whole path.
_HOLD_NETWORK = """
import asyncio, sys
from bot.runtime import Bot
from bot.transports.simulator import Simulator
from flows.config import load_config
from flows.network import Network
from models.db import Database
config = load_config(sys.argv[1])
network = Network(config)
simulator = Simulator(network)
simulator.attach(Bot(config, Database(sys.argv[2]), simulator, network))
asyncio.run(simulator.say("m0-0@chatroom", "wxid_resident", "下单 1栋 3单元 楼道灯坏了"))
assert simulator.posts, "the request got no answer"
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))  # KiB
"""


def best_of(rounds: int, work) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


# One line `gridbot chat` answers with nothing: the least a chat script costs.
CHAT_LINE = json.dumps({"room": "m0-0@chatroom", "sender": "wxid_resident", "text": "收到",
                        "at": "2026-11-24T09:00:00+08:00"}, ensure_ascii=False) + "\n"


def chat_seconds(config_path: Path, database: str) -> tuple[float, float]:
    """`gridbot chat` in a new process answering CHAT_LINE, start to exit: (wall time, CPU time).
    The CPU time (user + system) is what the wall time would be on an idle machine."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli", "chat", "--config", str(config_path),
                    "--db", database], input=CHAT_LINE,
                   capture_output=True, text=True, check=True, cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime


def cold_and_warm_chat(rounds: int, config_path: Path, folder: Path,
                       cache: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    """Best of `rounds` `gridbot chat` runs with the cache emptied before each (cold), then with
    its entry there (warm): the least wall and the least CPU time of each. The database is there
    already, as the bot's is."""
    database = f"sqlite:///{folder / 'chat.sqlite3'}"
    Database(database).dispose()
    cold = []
    for _ in range(rounds):
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(chat_seconds(config_path, database))
    warm = [chat_seconds(config_path, database) for _ in range(rounds)]
    return tuple(map(min, zip(*cold))), tuple(map(min, zip(*warm)))


def cached_loads(rounds: int, path: Path, cache: Path) -> tuple[float, float, object]:
    """Best of `rounds` loads through the cache (bot/config_loading.py) with no entry, each
    validating and writing it, then with the entry there."""
    def cold():
        shutil.rmtree(cache, ignore_errors=True)
        return config_loading.load_config(path)
    cold_s, config = best_of(rounds, cold)
    warm_s, warm = best_of(rounds, lambda: config_loading.load_config(path))
    assert warm == config, "the cache gave another config"
    return cold_s, warm_s, config


def routing_cases(network: Network) -> list[tuple[Node, str, str]]:
    """(village group, building, expected micro-grid) for every whole building a micro-grid
    covers alone within its village."""
    cases = []
    for grid in network.microgrids():
        village = network.ancestors(grid.id)[1] if network.depth(grid.id) >= 2 else None
        for cover in (parse_cover(cover_text(item)) for item in grid.covers):
            if village is not None and cover.units is None and network.microgrid_covering(
                    village.id, cover.building) is grid:
                cases.append((village, cover.building, grid.id))
    return cases


def routing_ns(network: Network) -> float:
    """Nanoseconds per routing of a building posted in a village group to its micro-grid."""
    rng = random.Random(7)
    cases = routing_cases(network)
    picks = [rng.choice(cases) for _ in range(LOOKUPS)]
    started = time.perf_counter()
    for village, building, expected in picks:
        if route(network, village, building, None).id != expected:
            raise AssertionError(f"building {building} routed wrongly")
    return (time.perf_counter() - started) / LOOKUPS * 1e9


def load_and_index(rounds: int, path: Path) -> tuple[float, float, float]:
    """The best seconds to load and check the config at `path`, to index its network, and to
    resolve the first @-mention then (which folds the building heads' names)."""
    load_s, config = best_of(rounds, lambda: load_config(path))
    index_s, _ = best_of(rounds, lambda: Network(config))

    def first_mention() -> float:
        network = Network(config)
        started = time.perf_counter()
        network.resolve_mention("负责人1", network.root)
        return time.perf_counter() - started

    return load_s, index_s, min(first_mention() for _ in range(rounds))


def peak_rss_mb(config_path: Path, folder: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _HOLD_NETWORK, str(config_path), f"sqlite:///{folder / 'rss.sqlite3'}"],
        capture_output=True, text=True, check=True, cwd=REPO)
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rounds", type=int, default=3)
    rounds = options.parse_args().rounds
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        os.environ["XDG_CACHE_HOME"] = str(folder / "cache")   # the commands run below too
        os.environ.pop(config_loading.NO_CACHE_ENV, None)
        cache = folder / "cache" / config_loading.CACHE_DIR_NAME
        path = write_config(folder / "liuyang.yaml")
        as_json = json.dumps(liuyang_config(), ensure_ascii=False)
        baseline, _ = best_of(rounds, lambda: json.loads(as_json))
        load_s, warm_s, config = cached_loads(rounds, path, cache)
        index_s, network = best_of(rounds, lambda: Network(config))
        chat_cold, chat_warm = cold_and_warm_chat(rounds, path, folder, cache)
        # Pingxiang's way: every building names its head (楼栋长), 64,000 of them.
        headed = write_config(folder / "headed.yaml", building_heads=True)
        headed_load_s, headed_index_s, headed_mention_s = load_and_index(rounds, headed)
        demo_ns = routing_ns(Network(load_config(REPO / "config.yaml")))
        tenth_ns = routing_ns(Network(parse_config(liuyang_config(total=MICROGRIDS // 10))))
        big_ns = routing_ns(network)
        rss = peak_rss_mb(path, folder)
    rows = [
        ("config load + validation, cold (no cache entry)", f"{load_s:.2f} s", f"{baseline:.2f} s", f"{load_s / baseline:.1f}×", "< 2 s"),
        ("config load, warm (cache hit)", f"{warm_s:.2f} s", f"{baseline:.2f} s", f"{warm_s / baseline:.1f}×", ""),
        ("network index build", f"{index_s:.2f} s", "", "", ""),
        ("load + index, cold / warm", f"{load_s + index_s:.2f} / {warm_s + index_s:.2f} s", "", "", "< 2 s"),
        ("gridbot chat, one line, cold (no cache entry)",
         f"{chat_cold[0]:.2f} s, CPU {chat_cold[1]:.2f} s", "", "", ""),
        ("gridbot chat, one line, warm (cache hit)",
         f"{chat_warm[0]:.2f} s, CPU {chat_warm[1]:.2f} s", "", "", "< 1 s"),
        ("load + index, a 楼栋长 for every building", f"{headed_load_s + headed_index_s:.2f} s", "", "", "< 2 s"),
        ("  then the first @-mention (folds their names)", f"{headed_mention_s:.2f} s", "", "", ""),
        ("routing a building, 32,000 grids", f"{big_ns:,.0f} ns", "", "", "O(1)"),
        ("routing a building, 3,200 grids", f"{tenth_ns:,.0f} ns", "", "", ""),
        ("routing a building, demo's 6 grids", f"{demo_ns:,.0f} ns", "", "", ""),
        ("bot process peak RSS", f"{rss:.0f} MB", "", "", "< 300 MB"),
    ]
    print(f"Liuyang-sized network: {len(network):,} nodes, {MICROGRIDS:,} micro-grids; "
          f"best of {rounds} rounds")
    print_table(("measure", "GridBot", "json.loads", "ratio", "target"), rows)
    print(json.dumps({"bench": "config_load", "nodes": len(network), "microgrids": MICROGRIDS,
                      "load_s": round(load_s, 3), "warm_load_s": round(warm_s, 3),
                      "index_s": round(index_s, 3), "chat_cold_s": round(chat_cold[0], 3),
                      "chat_cold_cpu_s": round(chat_cold[1], 3), "chat_warm_s": round(chat_warm[0], 3),
                      "chat_warm_cpu_s": round(chat_warm[1], 3),
                      "headed_load_s": round(headed_load_s, 3), "headed_index_s": round(headed_index_s, 3),
                      "headed_first_mention_s": round(headed_mention_s, 3),
                      "json_baseline_s": round(baseline, 3), "routing_ns": round(big_ns), "tenth_routing_ns": round(tenth_ns), "demo_routing_ns": round(demo_ns),
                      "peak_rss_mb": round(rss)}))


if __name__ == "__main__":
    main()
