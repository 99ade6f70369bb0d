"""A network the size of Liuyang's (1.5 M residents) for the benchmarks: one city, 30 townships,
300 villages, 1,100 branches and 32,000 micro-grids, each micro-grid covering two buildings of
its village. Ids, rooms and buildings follow a pattern, so a benchmark can pick any of them.

    python bench/liuyang.py liuyang.yaml     # write the config (policy from the demo config.yaml)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TOWNSHIPS, VILLAGES, BRANCHES, MICROGRIDS = 30, 300, 1_100, 32_000
BUILDINGS_PER_MICROGRID = 2


def spread(total: int, over: int) -> list[int]:
    """`total` things over `over` parents, as evenly as whole numbers allow."""
    share, extra = divmod(total, over)
    return [share + (1 if index < extra else 0) for index in range(over)]


@dataclass(frozen=True)
class Microgrid:
    id: str
    room: str
    head_id: str
    buildings: tuple[int, ...]   # building numbers, unique within the village


def _node(node_id: str, level: str, name: str, head: int, children: list | None = None,
          covers: list[str] | None = None) -> dict:
    node = {"id": node_id, "level": level, "name": name,
            "group": {"room": f"{node_id}@chatroom", "name": f"{name}群"},
            "head": {"id": f"wxid_{node_id}", "name": f"负责人{head}"}}
    if covers is not None:
        node["covers"] = covers
    if children is not None:
        node["children"] = children
    return node


def _covers(grid_id: str, buildings: tuple[int, ...], building_heads: bool) -> list:
    if not building_heads:
        return [f"{number}栋" for number in buildings]
    return [{"place": f"{number}栋", "head": {"id": f"wxid_{grid_id}-{number}", "name": f"楼栋长{grid_id}-{number}"}}
            for number in buildings]


def network_tree(microgrids: list[Microgrid] | None = None, total: int = MICROGRIDS,
                 building_heads: bool = False) -> dict:
    """The network as the config's `network:` mapping, with `total` micro-grids under Liuyang's
    townships, villages and branches; appends each micro-grid to `microgrids`. With
    `building_heads` every building names its own head (楼栋长), as in Pingxiang's grids."""
    villages_per_township = spread(VILLAGES, TOWNSHIPS)
    branches_per_village = spread(BRANCHES, VILLAGES)
    microgrids_per_branch = spread(total, BRANCHES)
    village_number = branch_number = head = 0
    townships = []
    for township_index in range(TOWNSHIPS):
        villages = []
        for _ in range(villages_per_township[township_index]):
            next_building = 1
            branches = []
            for _ in range(branches_per_village[village_number]):
                grids = []
                for grid_index in range(microgrids_per_branch[branch_number]):
                    grid_id = f"m{branch_number}-{grid_index}"
                    buildings = tuple(range(next_building, next_building + BUILDINGS_PER_MICROGRID))
                    next_building += BUILDINGS_PER_MICROGRID
                    head += 1
                    grids.append(_node(grid_id, "microgrid", f"第{grid_id}微网格", head,
                                       covers=_covers(grid_id, buildings, building_heads)))
                    if microgrids is not None:
                        microgrids.append(Microgrid(grid_id, f"{grid_id}@chatroom",
                                                    f"wxid_{grid_id}", buildings))
                head += 1
                branches.append(_node(f"b{branch_number}", "branch", f"第{branch_number}支部",
                                      head, grids))
                branch_number += 1
            head += 1
            villages.append(_node(f"v{village_number}", "village", f"第{village_number}村",
                                  head, branches))
            village_number += 1
        head += 1
        townships.append(_node(f"t{township_index}", "township", f"第{township_index}镇",
                               head, villages))
    return _node("liuyang", "city", "浏阳市", 0, townships)


def liuyang_config(microgrids: list[Microgrid] | None = None, total: int = MICROGRIDS,
                   building_heads: bool = False) -> dict:
    """The demo config's policy and transport over the Liuyang-sized network."""
    demo = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    demo["levels"] = ["city", "township", "village", "branch", "microgrid"]
    demo["network"] = network_tree(microgrids, total, building_heads)
    return demo


def write_config(path: Path, microgrids: list[Microgrid] | None = None,
                 building_heads: bool = False) -> Path:
    text = yaml.dump(liuyang_config(microgrids, building_heads=building_heads),
                     Dumper=yaml.CSafeDumper, allow_unicode=True,
                     sort_keys=False, width=200)
    path.write_text(text, encoding="utf-8")
    return path


def ready_for_commands(config: Path, env: dict) -> None:
    """As a deployment stands before its commands run: the code's bytecode compiled (as `pip
    install` compiles a package's; an editable checkout writes it at its first run) and the
    config validated once, its cache filled (`gridbot config check`)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "api", "bot", "flows", "models"],
                   cwd=REPO, capture_output=True, check=False)
    subprocess.run([sys.executable, "-m", "bot.cli", "config", "check", "--config", str(config)],
                   env=env, cwd=REPO, capture_output=True, check=False)


def iter_nodes(node: dict) -> Iterator[dict]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.get("children", ()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    target = write_config(Path(sys.argv[1]))
    print(f"wrote {target}: {sum(1 for _ in iter_nodes(network_tree()))} nodes, "
          f"{MICROGRIDS} micro-grids, {target.stat().st_size / 1e6:.1f} MB")
