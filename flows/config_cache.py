"""A validated config kept between runs: what a cache entry holds and how it is built back
(bot/config_loading.py keeps the entries in files).

Validating Liuyang's 33,000-node config takes about a second (YAML, the models, the checks of
the network's meaning); building it back from an entry takes a fifth of that. An entry holds:

- `rest`: the file's data outside `network`, as read from YAML. It is validated again on load
  (a few hundred values, a few milliseconds), so its models need no format of their own;
- `network`: the network as validated (text stripped, ids as text), one list per node, built back
  into `Node`s without validating again: that is the part that takes the time;
- `fingerprint`: the network's `Network.fingerprint`, which a command that answers one message
  would otherwise compute by numbering and hashing every node (~40 ms for Liuyang).

An entry is JSON: reading one runs no code, whatever is in the file. It is only used under the
key it was written for (`cache_key`): the config file's bytes and the code that validated them.

Secrets: a GridConfig holds nothing read from the environment (the transport reads its token and
its secret when it needs them, flows/environment.py), so an entry holds none. A config that
carries a credential in the file itself (`transport.token`, `transport.secret`, a
`callback_url` with a password or key) is not kept: its copy would outlive the file's
permissions and its edits.
"""

from __future__ import annotations

import hashlib
import json
from itertools import repeat
from typing import Any

from flows.config import GridConfig, Group, Member, Node, PlaceHead
from flows.credentials import mask_url

__all__ = ["FORMAT", "cache_key", "config_from", "entry", "holds_credentials", "kept_fingerprint"]

FORMAT = 2   # the shape of an entry; part of the key

# A network placeholder for validating `rest` alone; the real network replaces it.
_PLACEHOLDER_NODE = {"id": "-", "level": "-", "name": "-", "group": {"room": "-", "name": "-"},
                     "head": {"id": "-", "name": "-"}}


def cache_key(raw: bytes, code: str) -> str:
    """The key of an entry: a SHA-256 hex digest of the config file's bytes `raw` and of `code`,
    a digest of everything else the validated config depends on (the validating code, the
    libraries' versions; see bot/config_loading.py)."""
    digest = hashlib.sha256(f"gridbot-config-cache {FORMAT} {code}\n".encode())
    digest.update(raw)
    return digest.hexdigest()


def holds_credentials(config: GridConfig) -> bool:
    """Whether the config file itself carries a credential: a transport token or secret, or a
    callback URL with a password or a secret query value (`?key=…`)."""
    transport = config.transport
    url = transport.callback_url
    return bool(transport.token or transport.secret or (url and mask_url(url) != url))


def entry(data: Any, config: GridConfig) -> dict | None:
    """What to keep of `config`, validated from the YAML `data`: a JSON-ready dict, or None when
    it is not to be kept (it holds a credential, or its data is not plain JSON)."""
    if holds_credentials(config) or not isinstance(data, dict):
        return None
    rest = {key: value for key, value in data.items() if key != "network"}
    try:
        if json.loads(json.dumps(rest, allow_nan=False)) != rest:
            return None   # e.g. a number as a mapping's key: JSON would hand it back as text
    except (TypeError, ValueError):
        return None
    from flows.network import Network

    fingerprint = Network(config).fingerprint
    _keep(config.network, fingerprint)   # the command that validated goes on to use it
    return {"format": FORMAT, "rest": rest, "network": _row(config.network),
            "fingerprint": fingerprint}


def config_from(kept: dict) -> GridConfig:
    """The GridConfig of an entry made by `entry`. Raises (ValueError, KeyError, TypeError,
    pydantic's ValidationError…) when `kept` is not such an entry: the caller validates the
    file instead."""
    if kept.get("format") != FORMAT:
        raise ValueError(f"entry format {kept.get('format')!r}, expected {FORMAT}")
    rest = kept["rest"]
    if not isinstance(rest, dict) or "network" in rest:
        raise ValueError("rest: a mapping without network expected")
    fingerprint = kept["fingerprint"]
    if not isinstance(fingerprint, str):
        raise TypeError("fingerprint: text expected")
    shell = GridConfig.model_validate({**rest, "network": _PLACEHOLDER_NODE})
    config = shell.model_copy(update={"network": _network(kept["network"])})
    _keep(config.network, fingerprint)
    return config


# The network last built back by `config_from` (or kept by `entry`) and its fingerprint: one, so a process that
# loads configs again and again keeps no more than the one it uses.
_last_built: tuple[Node, str] | None = None


def _keep(root: Node, fingerprint: str) -> None:
    global _last_built
    _last_built = (root, fingerprint)


def kept_fingerprint(root: Node) -> str | None:
    """The `Network.fingerprint` kept with the entry that `root` (a network's top node) was built
    back from or that `entry` kept, or None for any other network (made in code, copied)."""
    last = _last_built
    return last[1] if last is not None and last[0] is root else None


# ---- the network, one list per node: [id, level, name, room, group name, head id, head name,
# [deputy id, deputy name, …], [cover, …], [child, …]]; a cover is its text, or [place, head id,
# head name] for one that names a building or unit head ---------------------------------------

def _row(root: Node) -> list:
    def row(node: Node, children: list) -> list:
        deputies = [text for member in node.deputies for text in (member.id, member.name)]
        return [node.id, node.level, node.name, node.group.room, node.group.name, node.head.id,
                node.head.name, deputies, [_cover_row(item) for item in node.covers], children]

    top = row(root, [])
    stack = [(root, top[9])]
    while stack:  # iterative: no recursion limit, whatever the network's depth
        node, into = stack.pop()
        for child in node.children:
            kept = row(child, [])
            into.append(kept)
            stack.append((child, kept[9]))
    return top


# The models are frozen dataclasses with slots: each field is set through its slot, as their own
# __init__ sets it, the slots looked up once rather than for every one of 33,000 nodes.
_new = object.__new__
_MEMBER_ID, _MEMBER_NAME = (Member.__dict__[field].__set__ for field in ("id", "name"))
_GROUP_ROOM, _GROUP_NAME = (Group.__dict__[field].__set__ for field in ("room", "name"))
_PLACE, _PLACE_HEAD = (PlaceHead.__dict__[field].__set__ for field in ("place", "head"))
(_NODE_ID, _NODE_LEVEL, _NODE_NAME, _NODE_GROUP, _NODE_HEAD, _NODE_DEPUTIES, _NODE_CHILDREN,
 _NODE_COVERS) = (Node.__dict__[field].__set__ for field in (
    "id", "level", "name", "group", "head", "deputies", "children", "covers"))
_TEXT = repeat(str)


def _member(member_id: str, name: str) -> Member:
    member = _new(Member)
    _MEMBER_ID(member, member_id)
    _MEMBER_NAME(member, name)
    return member


def _cover_row(item: str | PlaceHead) -> str | list[str]:
    return item if isinstance(item, str) else [item.place, item.head.id, item.head.name]


def _cover(kept: str | list[str]) -> str | PlaceHead:
    if isinstance(kept, str):
        return kept
    place, head_id, head_name = kept
    item = _new(PlaceHead)
    _PLACE(item, place)
    _PLACE_HEAD(item, _member(head_id, head_name))
    return item


def _node(row: list, children: list[Node]) -> Node:
    node_id, level, name, room, group_name, head_id, head_name, deputies, covers, _ = row
    group = _new(Group)
    _GROUP_ROOM(group, room)
    _GROUP_NAME(group, group_name)
    node = _new(Node)
    _NODE_ID(node, node_id)
    _NODE_LEVEL(node, level)
    _NODE_NAME(node, name)
    _NODE_GROUP(node, group)
    _NODE_HEAD(node, _member(head_id, head_name))
    _NODE_DEPUTIES(node, [_member(deputies[at], deputies[at + 1])
                          for at in range(0, len(deputies), 2)] if deputies else [])
    _NODE_CHILDREN(node, children)
    # Nearly every cover is a building's text (64,000 at Liuyang's size): a list of texts
    # alone is kept as JSON read it (a list of its own).
    _NODE_COVERS(node, covers if all(map(isinstance, covers, _TEXT))
                 else [_cover(kept) for kept in covers])
    return node


def _network(top: list) -> Node:
    root = _node(top, [])
    stack = [(top[9], root.children)]
    while stack:
        rows, into = stack.pop()
        for row in rows:
            node = _node(row, [])
            into.append(node)
            stack.append((row[9], node.children))
    return root
