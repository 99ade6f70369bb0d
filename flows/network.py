"""The network index: the config's tree of nodes, indexed once for O(1) look-ups.

Liuyang runs 32,000 micro-grids, so every question the bot asks per message (which node is this
room, who is above it, which micro-grid covers 7栋) is a dict look-up, never a walk of the tree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import repeat
from typing import TYPE_CHECKING

from flows.numerals import CHINESE_NUMERAL_CHARS, to_arabic

if TYPE_CHECKING:  # only types: flows.config imports parse_cover from here to check covers
    from flows.config import GridConfig, Member, Node

__all__ = ["Cover", "Mention", "Network", "PlaceHeadOf", "cover_head", "cover_text", "fold_name",
           "members_of", "parse_cover", "role_ids"]

# A building or unit number: Arabic, full-width or Chinese digits.
_NUMBER = f"[0-9０-９{CHINESE_NUMERAL_CHARS}]+"
_COVER = re.compile(
    rf"第?(?P<building>{_NUMBER})(?:栋|幢|号楼|[#＃]楼?|号栋)"
    rf"(?:(?P<first>{_NUMBER})(?:[-－–—~～至到](?P<last>{_NUMBER}))?单元)?"
)
_COVER_FORMS = "expected a building like '7栋', '7号楼', '7幢', '8栋3单元' or '8栋1-2单元'"
_MAX_UNITS = 99  # a range wider than this is a typo, not a building


@dataclass(frozen=True, slots=True)
class Cover:
    """A building, or some units of it, that a micro-grid is responsible for.

    `units` is None for the whole building; numbers are Arabic-digit strings ("7", not "七").
    """

    building: str
    units: frozenset[str] | None = None

    def holds(self, building: str | None, unit: str | None) -> bool:
        """Whether a parsed place (Arabic-digit strings, as the request parser gives them) lies
        in this cover: its building, and for a cover of some units one of those units. The
        same rule as `flows.open_tickets.in_places` writes in SQL."""
        if building != self.building:
            return False
        return self.units is None or unit in self.units

    def within(self, other: Cover) -> bool:
        """Whether every unit of this cover is one of `other`'s (a whole building only within a
        whole building)."""
        if self.building != other.building:
            return False
        if other.units is None:
            return True
        return self.units is not None and self.units <= other.units

    @property
    def title(self) -> str:
        """What the head of this place is called: 楼栋长 for a building, 单元长 for units."""
        return "楼栋长" if self.units is None else "单元长"

    def overlaps(self, other: Cover) -> bool:
        if self.building != other.building:
            return False
        if self.units is None or other.units is None:
            return True
        return not self.units.isdisjoint(other.units)

    def __str__(self) -> str:
        if self.units is None:
            return f"{self.building}栋"
        numbers = sorted(int(unit) for unit in self.units)
        if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 1:
            return f"{self.building}栋{numbers[0]}-{numbers[-1]}单元"
        return f"{self.building}栋{'、'.join(map(str, numbers))}单元"


def parse_cover(text: str) -> Cover:
    """`7栋`, `7号楼`, `七栋`, `十一号楼`, `８栋`, `8栋3单元`, `8栋1-2单元` → a Cover.

    Raises ValueError with a short reason when the text is not one building (with units).
    """
    if not isinstance(text, str):
        raise ValueError(f"{_COVER_FORMS}, got {type(text).__name__}")
    return _parse_cover(text)


@lru_cache(maxsize=4096)  # the same few hundred texts ("1栋") recur across 32,000 micro-grids
def _parse_cover(text: str) -> Cover:
    compact = re.sub(r"\s+", "", text)  # also the full-width space of Chinese input
    match = _COVER.fullmatch(compact)
    if match is None:
        raise ValueError(_COVER_FORMS)
    building = _number(match["building"], "building")
    if match["first"] is None:
        return Cover(building)
    first = int(_number(match["first"], "unit"))
    last = first if match["last"] is None else int(_number(match["last"], "unit"))
    if last < first:
        raise ValueError(f"unit range {first}-{last} runs backwards")
    if last - first >= _MAX_UNITS:
        raise ValueError(f"unit range {first}-{last} is wider than {_MAX_UNITS} units")
    return Cover(building, frozenset(str(unit) for unit in range(first, last + 1)))


def _number(text: str, what: str) -> str:
    number = to_arabic(text)
    if number is None:
        raise ValueError(f"{what} number '{text}' is not a number")
    if number == "0":
        raise ValueError(f"{what} number cannot be 0")
    return number


def cover_text(item: object) -> str:
    """The place an item of a micro-grid's `covers` names: the item itself when it is text
    (`"7栋"`), else its `place` (`{place: "4栋", head: …}`, flows.config.PlaceHead)."""
    return item if isinstance(item, str) else item.place  # type: ignore[attr-defined]


def cover_head(item: object) -> Member | None:
    """The building or unit head (楼栋长、单元长) an item of `covers` names; None for text."""
    return None if isinstance(item, str) else item.head  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PlaceHeadOf:
    """A building or unit head (楼栋长、单元长) and the place of a micro-grid they head."""

    head: Member
    grid: Node
    place: Cover

    @property
    def title(self) -> str:
        return self.place.title


def members_of(node: Node) -> list[Member]:
    """Who may act for a node: its head first, then its deputies."""
    return [node.head, *node.deputies]


def role_ids(node: Node) -> frozenset[str]:
    """Member ids of the node's head and deputies, for membership tests."""
    return frozenset(member.id for member in members_of(node))


def fold_name(name: str) -> str:
    """A display name as names are compared: normalised like every message (full-width forms,
    traditional characters, emoji; `flows.normalize`), spaces collapsed, lower case.
    `"邱煥武"` and `"邱焕武"` fold alike, as do `"Amy 周"` and `"amy\u3000周"`."""
    from flows.normalize import reading  # here: most commands never compare a name

    return " ".join(reading(name).text.split()).lower()


# How people address a head by surname in a group: 邱师傅, 老邱, 小周, 王书记, 周姐.
_TITLES = ("师傅", "书记", "支书", "主任", "网格长", "网格员", "组长", "楼长", "队长", "站长", "所长",
           "经理", "老师", "大姐", "大哥", "姐", "哥", "阿姨", "叔叔", "叔", "伯", "总", "同志",
           "村长", "社长", "主席", "委员", "专干", "警官", "部长", "科长", "局长")
_SURNAME_FORM = re.compile(
    rf"(?P<prefix>[老小阿])?(?P<surname>[\u4e00-\u9fff])(?P<title>{'|'.join(_TITLES)})?")


@dataclass(frozen=True)
class Mention:
    """Whom one @-mention names: no member (unknown), one (found) or several (ambiguous);
    `written` is the name as written, for an answer."""

    members: tuple[Member, ...]
    written: str


class _Ambiguous:
    """Marks an index entry claimed by two micro-grids: the place cannot be routed at that level."""

    def __repr__(self) -> str:
        return "AMBIGUOUS"


_AMBIGUOUS = _Ambiguous()


def _claim(index: dict, key: str | tuple[str, str], node_id: str) -> None:
    current = index.get(key)
    if current is None:
        index[key] = node_id
    elif current != node_id:
        index[key] = _AMBIGUOUS


class _CoverIndex:
    """The places the micro-grids under one node cover: each to a node id, or _AMBIGUOUS when
    two of them claim it (1栋 of two communities)."""

    __slots__ = ("any", "unit", "whole")

    def __init__(self) -> None:
        self.any: dict[str, str | _Ambiguous] = {}                # building, any unit of it
        self.whole: dict[str, str | _Ambiguous] = {}              # building, as a whole
        self.unit: dict[tuple[str, str], str | _Ambiguous] = {}   # (building, unit)

    def claim(self, cover: Cover, node_id: str) -> None:
        _claim(self.any, cover.building, node_id)
        if cover.units is None:
            _claim(self.whole, cover.building, node_id)
        else:
            for unit in cover.units:
                _claim(self.unit, (cover.building, unit), node_id)


class Network:
    """Read-only index over a validated GridConfig (use flows.config.load_config / parse_config).

    Building it is O(nodes); every look-up below is O(1) apart from `ancestors` (O(depth)), the
    first `subtree_ids` or `microgrid_covering` under a node (O(subtree), then cached) and the
    first `resolve_mention` (O(members), then indexed). What only some commands ask is indexed
    when first asked: Liuyang's 33,000 nodes take a second to index in full, and a command
    answering one message should not wait for that.
    """

    def __init__(self, config: GridConfig) -> None:
        self.config = config
        self.root: Node = config.network
        self.levels: tuple[str, ...] = tuple(config.levels)
        self.microgrid_level: str = self.levels[-1]
        self._nodes: dict[str, Node] = {}
        self._by_room: dict[str, Node] = {}
        self._led_by: dict[str, list[Node]] = {}    # member id -> nodes they head or deputise
        self._members: dict[str, Member] = {}       # member id -> member, first seen wins
        self._parent: dict[str, Node | None] = {}
        # Nearest first; shared tuples keep 32,000 micro-grids × depth small.
        self._ancestors: dict[str, tuple[Node, ...]] = {}
        self._subtree_cache: dict[str, frozenset[str]] = {}
        self._chains: dict[str, tuple[str, ...]] = {}
        # Per node X asked about, which micro-grid under X covers a place (_CoverIndex).
        self._cover_cache: dict[str, _CoverIndex] = {}
        # Building and unit heads (楼栋长、单元长), only for the micro-grids that name them:
        # grid id -> {(building, unit or None for the whole building): its head}.
        self._place_heads: dict[str, dict[tuple[str, str | None], PlaceHeadOf]] = {}
        self._places_led: dict[str, list[PlaceHeadOf]] = {}  # member id -> the places they head
        self._index()

    def _index(self) -> None:
        # Every command pays this walk of 33,000 nodes at start: the tables as locals, covers
        # that are plain text (nearly all) passed over without a call per item, and what only
        # a look-up by name needs left to `_named`.
        nodes, by_room, parents, chains = self._nodes, self._by_room, self._parent, self._ancestors
        led_by, members = self._led_by, self._members
        text = repeat(str)
        stack: list[tuple[Node, Node | None, tuple[Node, ...]]] = [(self.root, None, ())]
        while stack:  # iterative: no recursion limit, whatever the config's shape
            node, parent, ancestors = stack.pop()
            node_id = node.id
            if node_id in nodes:
                raise ValueError(f"duplicate node id {node_id!r}; check the config with load_config")
            nodes[node_id] = node
            by_room[node.group.room] = node
            parents[node_id] = parent
            chains[node_id] = ancestors
            for member in members_of(node):
                member_id = member.id
                if member_id not in members:
                    members[member_id] = member
                led = led_by.get(member_id)
                if led is None:
                    led_by[member_id] = [node]
                else:
                    led.append(node)
            if node.covers and not all(map(isinstance, node.covers, text)):
                self._index_place_heads(node)
            if node.children:
                below = (node, *ancestors)
                stack.extend([(child, node, below) for child in reversed(node.children)])

    @cached_property
    def _named(self) -> dict[str, list[tuple[Member, Node]]]:
        """Display name -> (member, node) of heads and deputies, and of building and unit heads
        with their micro-grid, in config order (a node's own members before its place heads).
        Built at the first look-up by name, not at start."""
        named: dict[str, list[tuple[Member, Node]]] = {}
        for node in self._nodes.values():
            for member in members_of(node):
                named.setdefault(member.name, []).append((member, node))
            for item in node.covers:
                if (head := cover_head(item)) is not None:
                    named.setdefault(head.name, []).append((head, node))
        return named

    @cached_property
    def _names(self) -> tuple[dict[str, list[tuple[Member, Node]]], dict[str, list[tuple[Member, Node]]]]:
        """Heads and deputies, then building and unit heads (with their micro-grid), by
        fold_name(name), and by its first character; config order. Folding costs ~20 µs a
        name: built at the first look-up by name, not at start."""
        folded: dict[str, list[tuple[Member, Node]]] = {}
        by_initial: dict[str, list[tuple[Member, Node]]] = {}
        everyone = [(member, node) for node in self._nodes.values() for member in members_of(node)]
        everyone += [(led.head, led.grid) for places in self._places_led.values() for led in places]
        for member, node in everyone:
            name = fold_name(member.name)
            folded.setdefault(name, []).append((member, node))
            if name:
                by_initial.setdefault(name[0], []).append((member, node))
        return folded, by_initial

    @property
    def _folded(self) -> dict[str, list[tuple[Member, Node]]]:
        return self._names[0]

    @property
    def _by_initial(self) -> dict[str, list[tuple[Member, Node]]]:
        return self._names[1]

    def _covers_under(self, within_id: str) -> _CoverIndex:
        """Which micro-grid at or under the node covers each place, from the covers of its
        subtree; built when first asked, then kept."""
        index = self._cover_cache.get(within_id)
        if index is None:
            index = _CoverIndex()
            stack = [self.node(within_id)]
            while stack:
                node = stack.pop()
                for item in node.covers:
                    index.claim(parse_cover(cover_text(item)), node.id)
                stack.extend(node.children)
            self._cover_cache[within_id] = index
        return index

    def _index_place_heads(self, node: Node) -> None:
        for item in node.covers:
            head = cover_head(item)
            if head is None:
                continue
            led = PlaceHeadOf(head, node, parse_cover(cover_text(item)))
            places = self._place_heads.setdefault(node.id, {})
            units = (None,) if led.place.units is None else sorted(led.place.units)
            for unit in units:
                places.setdefault((led.place.building, unit), led)
            self._places_led.setdefault(head.id, []).append(led)
            # Named (`_named`) and @-mentioned like a deputy of their micro-grid.
            self._members.setdefault(head.id, head)

    # ---- look-ups -------------------------------------------------------------------------

    def node(self, node_id: str) -> Node:
        """The node with that id; KeyError when there is none."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(f"no node with id {node_id!r} in the network") from None

    def get(self, node_id: str) -> Node | None:
        return self._nodes.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node_for_room(self, room: str) -> Node | None:
        return self._by_room.get(room)

    def member_name(self, member_id: str) -> str | None:
        """The display name the config gives a head, deputy, or building or unit head; None
        for anyone else."""
        member = self._members.get(member_id)
        return None if member is None else member.name

    def nodes_led_by(self, member_id: str) -> list[Node]:
        """The nodes a member heads or deputises, in config order; empty for residents (and for
        a building or unit head who heads no node: `places_led_by`)."""
        return list(self._led_by.get(member_id, ()))

    def places_led_by(self, member_id: str) -> list[PlaceHeadOf]:
        """The buildings and units a member heads (楼栋长、单元长), in config order."""
        return list(self._places_led.get(member_id, ()))

    def leads_anything(self, member_id: str) -> bool:
        """Whether a member heads or deputises a node, or heads a building or unit."""
        return member_id in self._led_by or member_id in self._places_led

    def place_head(self, node_id: str, building: str | None, unit: str | None) -> PlaceHeadOf | None:
        """The head nearest a parsed place in micro-grid `node_id`: its unit's head (单元长), else
        its building's (楼栋长); None when no building was parsed or the grid names no head for
        it. A unit head inside a building that has a building head is the nearer one. O(1).
        `building` and `unit` are Arabic-digit strings, as the request parser returns them."""
        places = self._place_heads.get(node_id)
        if not places or not building:
            return None
        if unit is not None and (found := places.get((building, unit))) is not None:
            return found
        return places.get((building, None))

    def heads_place(self, member_id: str, node_id: str, building: str | None,
                    unit: str | None) -> bool:
        """Whether a member heads a place of micro-grid `node_id` that holds a parsed place: its
        unit, or its whole building (a building head's building holds every unit of it, those
        with a unit head of their own too). False with no building parsed."""
        return any(led.grid.id == node_id and led.place.holds(building, unit)
                   for led in self._places_led.get(member_id, ()))

    def members_named(self, name: str, seen_from: Node) -> list[Member]:
        """Heads and deputies with that display name whom a group can address: those of its own
        node, the nodes above it and the nodes below it. Distinct members, config order."""
        above = {ancestor.id for ancestor in self.ancestors(seen_from.id)}
        below = self.subtree_ids(seen_from.id)
        found = {member.id: member for member, node in self._named.get(name, ())
                 if node.id in above or node.id in below}
        return list(found.values())

    def member(self, member_id: str) -> Member | None:
        """The head, deputy, or building or unit head with that id (as the config first names
        them); None otherwise."""
        return self._members.get(member_id)

    def addressable(self, member_id: str, seen_from: Node) -> bool:
        """Whether a member heads or deputises a node a group can address (its own node, a node
        above it or a node below it), or heads a building or unit of such a micro-grid."""
        led = [*self._led_by.get(member_id, ()),
               *(place.grid for place in self._places_led.get(member_id, ()))]
        if not led:
            return False
        above = {ancestor.id for ancestor in self._ancestors[seen_from.id]}
        below = self.subtree_ids(seen_from.id)
        return any(node.id in above or node.id in below for node in led)

    def members_with_ids(self, member_ids: Iterable[str], seen_from: Node) -> list[Member]:
        """The addressable heads and deputies among member ids a transport passed with a
        message's mentions, in order, each once; ids of anyone else are left out."""
        found = {member_id: self._members[member_id] for member_id in member_ids
                 if member_id in self._members and self.addressable(member_id, seen_from)}
        return list(found.values())

    def resolve_mention(self, written: str, seen_from: Node,
                        seen_names: Mapping[str, Iterable[str]] | None = None) -> Mention:
        """Whom an @-mention names, among the heads and deputies `seen_from`'s group can address
        (building and unit heads of its micro-grids among them; their names are indexed at
        the first call).

        `written` is what follows the `@`, up to the mention's end (U+2005, a line break or the
        end of the text), so it may hold a name with spaces (`Amy 周`) or run on into the
        sentence when nothing separates them (`周敏请跟进`). `seen_names` maps other display
        names members were seen using, folded (`fold_name`), to their member ids: a group
        nickname such as `网格长-邱煥武`. Tried in turn, the first that names someone wins: the whole
        text is a name; a name starts it (the longest); a name is inside it (`4栋楼长周敏`); a
        surname with a title (`邱师傅`, `老周`), when one addressable member has that surname.
        """
        seen_names = seen_names or {}
        folded = fold_name(written)
        shown = written.split()[0] if written.split() else written

        def members_for(name: str) -> list[Member]:
            found: dict[str, Member] = {}
            for member, node in self._folded.get(name, ()):
                if self.addressable(member.id, seen_from):
                    found.setdefault(member.id, member)
            for member_id in seen_names.get(name, ()):
                member = self._members.get(member_id)
                if member is not None and self.addressable(member_id, seen_from):
                    found.setdefault(member_id, member)
            return list(found.values())

        def known(name: str) -> bool:
            return name in self._folded or name in seen_names

        for end in range(len(folded), 0, -1):  # the whole text, else the longest name starting it
            prefix = folded[:end].rstrip()
            if known(prefix) and (starting := members_for(prefix)):
                return Mention(tuple(starting), starting[0].name)
        inside: dict[str, Member] = {}
        for length in range(len(folded) - 1, 1, -1):  # the longest name inside it
            for start in range(1, len(folded) - length + 1):
                part = folded[start:start + length]
                if known(part):
                    for member in members_for(part):
                        inside.setdefault(member.id, member)
            if inside:
                return Mention(tuple(inside.values()), shown)
        form = _SURNAME_FORM.fullmatch(folded)
        if form is not None and (form.group("prefix") or form.group("title")):
            by_surname = {member.id: member for member, node in
                          self._by_initial.get(form.group("surname"), ())
                          if self.addressable(member.id, seen_from)}
            if by_surname:
                return Mention(tuple(by_surname.values()), shown)
        return Mention((), shown)

    def parent(self, node_id: str) -> Node | None:
        self.node(node_id)  # unknown ids fail loudly rather than look like the root
        return self._parent[node_id]

    def ancestors(self, node_id: str) -> list[Node]:
        """Parent, grandparent, … up to the root; empty for the root."""
        self.node(node_id)
        return list(self._ancestors[node_id])

    def chain(self, node_id: str) -> tuple[str, ...]:
        """The ids of the node, its parent, … up to the root: `(node_id, *ancestors' ids)`.
        Cached per node: the figures of a city walk it once per node with open tickets."""
        found = self._chains.get(node_id)
        if found is None:
            self.node(node_id)
            found = self._chains[node_id] = (node_id, *(a.id for a in self._ancestors[node_id]))
        return found

    def depth(self, node_id: str) -> int:
        """0 for the root, 1 for its children, …"""
        self.node(node_id)
        return len(self._ancestors[node_id])

    def is_microgrid(self, node_or_id: Node | str) -> bool:
        node = self.node(node_or_id) if isinstance(node_or_id, str) else node_or_id
        return node.level == self.microgrid_level

    def level_index(self, node_or_id: Node | str) -> int:
        """Position of the node's level in `levels`: 0 for the top level."""
        node = self.node(node_or_id) if isinstance(node_or_id, str) else node_or_id
        return self._level_positions[node.level]

    @cached_property
    def _level_positions(self) -> dict[str, int]:
        return {level: position for position, level in enumerate(self.levels)}

    def subtree_ids(self, node_id: str) -> frozenset[str]:
        """Ids of the node and everything below it."""
        cached = self._subtree_cache.get(node_id)
        if cached is None:
            ids: list[str] = []
            stack = [self.node(node_id)]
            while stack:
                node = stack.pop()
                ids.append(node.id)
                stack.extend(node.children)
            cached = self._subtree_cache[node_id] = frozenset(ids)
        return cached

    @cached_property
    def intervals(self) -> dict[str, tuple[int, int]]:
        """Each node's (first, last) position in a depth-first numbering of the tree (a nested
        set): the root is (0, len-1), and a node's subtree is exactly the nodes whose first
        position lies in its interval. The database holds the same numbering
        (`models.subtrees`), so "in the subtree of N" is one range, whatever N's size."""
        order = list(self._nodes)                # parents before their children, depth-first
        count = len(order)
        position = dict(zip(order, range(count)))
        # Positions in lists, not ids in dicts: every command's start pays this walk.
        up = [-1 if parent is None else position[parent.id]
              for parent in map(self._parent.__getitem__, order)]
        last = list(range(count))
        for at in range(count - 1, 0, -1):       # children are done before their parent
            above = up[at]
            if last[at] > last[above]:
                last[above] = last[at]
        return dict(zip(order, zip(range(count), last)))

    @cached_property
    def order(self) -> list[str]:
        """Every node id in depth-first order (parents first, children in config order): the
        positions of `intervals`, so `order[first:last + 1]` is a node's subtree."""
        return list(self.intervals)

    @cached_property
    def fingerprint(self) -> str:
        """16 hex digits naming the tree's shape (ids in depth-first order with their intervals,
        and their groups' rooms): equal for two configs that differ only in names, heads or
        policy. A config built back from the cache (flows/config_cache.py) brings it along."""
        from flows.config_cache import kept_fingerprint

        kept = kept_fingerprint(self.root)
        if kept is not None:
            return kept
        nodes = self._nodes
        # One text hashed at once: the same bytes as line by line, a third of the time.
        text = "".join([f"{node_id}\t{first}\t{last}\t{nodes[node_id].group.room}\n"
                        for node_id, (first, last) in self.intervals.items()])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def nodes(self) -> Iterator[Node]:
        """Every node, parents before their children (depth-first, in config order)."""
        return iter(self._nodes.values())

    def microgrids(self) -> Iterator[Node]:
        return (node for node in self._nodes.values() if node.level == self.microgrid_level)

    def microgrid_covering(self, within_id: str, building: str, unit: str | None = None) -> Node | None:
        """The one micro-grid at or under `within_id` that covers the building (and unit).

        A whole-building cover matches every unit of it. With no unit, only a micro-grid that is
        alone in covering (part of) the building is an answer. None when nobody covers the place or
        when two micro-grids under `within_id` do (the same 1栋 in two communities).
        `building` and `unit` are Arabic-digit strings, as the request parser returns them.
        """
        index = self._covers_under(within_id)
        if unit is None:
            found = index.any.get(building)
        else:
            whole = index.whole.get(building)
            in_unit = index.unit.get((building, unit))
            if whole is not None and in_unit is not None and whole != in_unit:
                return None  # two micro-grids under within_id claim it
            found = whole if whole is not None else in_unit
        if found is None or found is _AMBIGUOUS:
            return None
        return self._nodes[found]
