"""Understanding a `下单` request: its category, urgency and location (design §5).

The vocabulary (category keywords, urgency cues) is data, in `lexicon.yaml`, so an operator can
extend it; the location forms are grammar and live here as regexes compiled once at import. Every
function is pure: the same text and lexicon always give the same answer.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any


from flows import request_model
from flows.categories import CATEGORIES
from flows.commands import request_description
from flows.normalize import is_placeholder_only, reading
from flows.numerals import to_arabic

__all__ = ["CATEGORIES", "Lexicon", "LexiconError", "ParsedRequest", "analyse", "load_lexicon",
           "parse_request"]



@dataclass(frozen=True)
class ParsedRequest:
    """What the parser makes of one message; location parts are Arabic-digit strings."""

    is_request: bool
    category: str | None = None
    urgent: bool | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        # Spelt out: the key order is part of the `gridbot parse` JSON contract.
        return {"is_request": self.is_request, "category": self.category, "urgent": self.urgent,
                "building": self.building, "unit": self.unit, "floor": self.floor,
                "room": self.room, "description": self.description}


NOT_A_REQUEST = ParsedRequest(is_request=False)

# Full-width ASCII (１２, ？, ＃, －) and dashes read as their ASCII forms, in texts and keywords alike.
_NORMALIZE = str.maketrans({**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
                            "\u3000": " ", "—": "-", "–": "-"})


def _normalize(text: str) -> str:
    return text.translate(_NORMALIZE)


# -- the lexicon ---------------------------------------------------------------------------------

class LexiconError(ValueError):
    """A lexicon file or override that cannot be used; one line per problem."""


_LIST_SECTIONS = ("question", "urgent", "not_urgent", "negations", "neutral", "present",
                  "hypothetical", "lasting", "settled")
_SCALAR_SECTIONS = ("priority", "fallback", "question_fallback", "weights")
_DEFAULT_FILE = "lexicon.yaml"


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex alternation shaped as a trie (`re` tries alternatives one by one; sharing
    prefixes scans about 1.5 times faster than a flat list of this lexicon's keywords). Greedy
    optional tails make each match the longest keyword starting there."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if ends_here else group

    pattern = build(trie)
    return pattern or "(?!)"  # no words: a pattern that never matches


@dataclass(frozen=True, eq=False)
class Lexicon:
    """The parser's vocabulary, validated and compiled; build it with `load_lexicon`."""

    categories: Mapping[str, tuple[str, ...]]
    priority: tuple[str, ...]
    fallback: str
    question_fallback: str
    question: tuple[str, ...] = ()
    urgent: tuple[str, ...] = ()
    not_urgent: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    neutral: tuple[str, ...] = ()
    # Cues of time for the model: happening now, only imagined, going on for days.
    present: tuple[str, ...] = ()
    hypothetical: tuple[str, ...] = ()
    lasting: tuple[str, ...] = ()
    settled: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)  # per category; 1 when not given
    # The learned model (flows.request_model), which reads the words and this lexicon's cues;
    # without one, the keywords and cue lists decide alone.
    model: request_model.RequestModel | None = None
    _category_of: Mapping[str, str | None] = field(init=False, repr=False)
    _rank: Mapping[str, int] = field(init=False, repr=False)
    _scan: re.Pattern[str] = field(init=False, repr=False)
    _question: re.Pattern[str] = field(init=False, repr=False)
    _urgent: re.Pattern[str] = field(init=False, repr=False)
    _not_urgent: re.Pattern[str] = field(init=False, repr=False)
    _times: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False)
    _unnegated_urgent: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        category_of: dict[str, str | None] = {word: None for word in self.neutral}
        for code, words in self.categories.items():
            category_of.update((word, code) for word in words)
        negated = "".join(f"(?<!{re.escape(word)})" for word in self.negations)
        compiled = {
            "_category_of": MappingProxyType(category_of),
            "_rank": MappingProxyType({code: i for i, code in enumerate(self.priority)}),
            "_scan": re.compile(_trie_pattern(category_of)),
            "_question": re.compile(_trie_pattern(self.question)),
            "_urgent": re.compile(negated + "(?:" + _trie_pattern(self.urgent) + ")"),
            "_not_urgent": re.compile(_trie_pattern(self.not_urgent)),
            "_unnegated_urgent": re.compile(_trie_pattern(self.urgent)),
            "_times": tuple((name, re.compile(_trie_pattern(getattr(self, name))))
                            for name in ("present", "hypothetical", "lasting", "settled")),
        }
        for name, value in compiled.items():
            object.__setattr__(self, name, value)  # frozen: derived once, here

    def keyword_scores(self, text: str) -> dict[str, float]:
        """Per category, the weighted count of its distinct keywords in a normalized text."""
        # A set: a keyword repeated is one piece of evidence, not several.
        scores: dict[str, float] = {}
        for word in set(self._scan.findall(text)):
            code = self._category_of[word]
            if code is not None:
                scores[code] = scores.get(code, 0) + self.weights.get(code, 1)
        return scores

    def keyword_category(self, text: str) -> str:
        """The category the keywords alone give (ties by `priority`; none: the fallbacks)."""
        scores = self.keyword_scores(text)
        if not scores:
            return self.question_fallback if self._question.search(text) else self.fallback
        return min(scores, key=lambda code: (-scores[code], self._rank[code]))

    def keyword_urgent(self, text: str) -> bool:
        """Whether an urgent cue is found and no past or settled cue (the cue lists alone)."""
        return self._urgent.search(text) is not None and self._not_urgent.search(text) is None

    def cues(self, text: str) -> list[str]:
        """What this lexicon sees in a normalized text, as the model's cue features: each category
        with a keyword (`kw:repair`), the keywords' winner (`top:repair`, and `top:repair+question`
        when it is asked about), urgent cues found only negated (`没有煤气味了`), an urgent cue, a past or
        settled cue, both, a question, a time cue (present, hypothetical, lasting, settled) alone
        and with an urgent cue, a past cue with no present one."""
        scores = self.keyword_scores(text)
        found = [f"kw:{code}" for code in scores]
        asks = self._question.search(text) is not None
        if scores:
            top = min(scores, key=lambda code: (-scores[code], self._rank[code]))
            found += [f"top:{top}", f"top:{top}+question"] if asks else [f"top:{top}"]
        urgent = self._urgent.search(text) is not None
        if not urgent and self._unnegated_urgent.search(text):
            found.append(request_model.NEGATED_ONLY)  # 没有煤气味了
        past = self._not_urgent.search(text) is not None
        found += [name for name, present in (("urgent_cue", urgent), ("past_cue", past),
                                             ("urgent_and_past", urgent and past),
                                             ("question", asks))
                  if present]
        times = {name for name, pattern in self._times if pattern.search(text)}
        for name in times:
            found += [name, f"urgent_cue_and_{name}"] if urgent else [name]
        if "present" not in times:  # 昨天有人打架, 已经找到了; against 上次…现在又
            if "settled" in times:
                found.append(request_model.SETTLED_ONLY)
            if past or "settled" in times:
                found.append(request_model.PAST_ONLY)
        return found

    def category(self, text: str) -> str:
        """The category of a normalized description."""
        if self.model is None:
            return self.keyword_category(text)
        return self.model.read(text, self.cues).category

    def is_urgent(self, text: str) -> bool:
        """Whether a normalized description reports danger now (a past or settled one is not)."""
        if self.model is None:
            return self.keyword_urgent(text)
        return self.model.read(text, self.cues).urgent


def _words(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(f"{where}: a list of words expected")
        return ()
    words: list[str] = []
    for i, word in enumerate(value):
        if not isinstance(word, str) or not _normalize(word).strip():
            problems.append(f"{where}[{i}]: a non-empty word expected, got {word!r}")
            continue
        word = _normalize(word).strip()
        if word not in words:
            words.append(word)
    return tuple(words)


def _lexicon_from(data: Any, model: Any = None) -> Lexicon:
    """Validate raw lexicon data and compile it; every problem is reported, not only the first."""
    if not isinstance(data, Mapping):
        raise LexiconError("lexicon: a mapping expected")
    problems = [f"{key}: unknown key" for key in data
                if key not in ("categories", *_LIST_SECTIONS, *_SCALAR_SECTIONS)]
    raw_categories = data.get("categories")
    if not isinstance(raw_categories, Mapping):
        raw_categories = {}
        problems.append("categories: a mapping of category code to words expected")
    problems += [f"categories.{code}: unknown category" for code in raw_categories
                 if code not in CATEGORIES]
    categories = {code: _words(raw_categories.get(code), f"categories.{code}", problems)
                  for code in CATEGORIES}
    problems += [f"categories.{code}: missing" for code in CATEGORIES if not categories[code]]
    lists = {name: _words(data.get(name), name, problems) for name in _LIST_SECTIONS}

    owner: dict[str, str] = {word: "neutral" for word in lists["neutral"]}
    for code, words in categories.items():
        for word in words:
            if word in owner:
                problems.append(f"categories.{code}: {word!r} is also in {owner[word]}")
            owner.setdefault(word, f"categories.{code}")

    priority = data.get("priority")
    if (not isinstance(priority, list) or len(priority) != len(CATEGORIES)
            or set(priority) != set(CATEGORIES)):
        problems.append(f"priority: each of {', '.join(CATEGORIES)} once expected")
        priority = list(CATEGORIES)
    for name in ("fallback", "question_fallback"):
        if data.get(name) not in CATEGORIES:
            problems.append(f"{name}: one of {', '.join(CATEGORIES)} expected")
    weights = data.get("weights") or {}
    if not isinstance(weights, Mapping) or any(
            code not in CATEGORIES or isinstance(w, bool) or not isinstance(w, int | float) or w <= 0
            for code, w in weights.items()):
        problems.append("weights: a mapping of category code to a positive number expected")
        weights = {}
    if problems:
        raise LexiconError("\n".join(problems))
    return Lexicon(categories=MappingProxyType(categories), priority=tuple(priority),
                   fallback=data["fallback"], question_fallback=data["question_fallback"],
                   weights=MappingProxyType(dict(weights)), model=model, **lists)


def _extended(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with the override's words appended to its lists; overrides only ever add words."""
    if not isinstance(overrides, Mapping):
        raise LexiconError("overrides: a mapping expected")
    merged = copy.deepcopy(dict(data))
    problems = []
    for key, value in overrides.items():
        if key == "categories" and isinstance(value, Mapping):
            if not isinstance(merged.get("categories"), dict):
                merged["categories"] = {}  # a broken file is reported by the validation
            for code, words in value.items():
                if code not in CATEGORIES:
                    problems.append(f"overrides.categories.{code}: unknown category")
                elif not isinstance(words, list):
                    problems.append(f"overrides.categories.{code}: a list of words expected")
                else:
                    merged["categories"][code] = list(merged["categories"].get(code) or []) + words
        elif key in _LIST_SECTIONS and isinstance(value, list):
            merged[key] = list(merged.get(key) or []) + value
        else:
            problems.append(f"overrides.{key}: only categories.<code> and "
                            f"{', '.join(_LIST_SECTIONS)} can be extended, with lists of words")
    if problems:
        raise LexiconError("\n".join(problems))
    return merged


@cache
def _default_data() -> dict[str, Any]:
    import yaml   # at the first request read, not at every command's start

    text = resources.files("flows").joinpath(_DEFAULT_FILE).read_text(encoding="utf-8")
    # libyaml's SafeLoader when PyYAML has it: the same reading, a tenth of the time at start.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


@cache
def _default_lexicon() -> Lexicon:
    return _lexicon_from(_default_data(), request_model.load())


def load_lexicon(path: str | Path | None = None,
                 overrides: Mapping[str, Any] | None = None) -> Lexicon:
    """The lexicon in `path` (default: the shipped `lexicon.yaml`), extended by `overrides`.

    `overrides` has the file's shape and only adds words, e.g.
    `{"categories": {"repair": ["不通风"]}, "urgent": ["冒黑烟"]}`. The shipped lexicon without
    overrides is built once and shared. The shipped category model (for descriptions with no
    keyword) goes with the shipped lexicon, overrides or not; a lexicon file of one's own has its
    `fallback` instead. Raises `LexiconError` naming every problem.
    """
    if path is None and not overrides:
        return _default_lexicon()
    if path is None:
        data = _default_data()
    else:
        import yaml

        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise LexiconError(f"{path}: a mapping expected")
    model = request_model.load() if path is None else None
    return _lexicon_from(_extended(data, overrides) if overrides else data, model)


# -- location ------------------------------------------------------------------------------------

# A Chinese place number as people write it (七, 十一, 二十, 二十三); positional runs such as
# 一二 are left out on purpose: `一二楼之间` is a range, not floor 12. 两 is left out too: `两栋楼`
# counts buildings, nobody calls one 两号楼.
_CN = "[一二三四五六七八九]?十[一二三四五六七八九]?|[一二三四五六七八九]"
# A place number starts a number (not the tail of 24 or 十一) and is not 这一栋 / 同一楼层 / 每一层.
_START = r"(?<![0-9零〇一二两三四五六七八九十百千几这那同每哪.\-])"
_BUILDING = re.compile(
    rf"{_START}(?:第\s*)?(?P<n>[0-9]{{1,3}}|{_CN})\s*(?:号\s*[楼栋幢座]|[栋幢]|(?<=[0-9])座(?![位椅机谈])|#\s*楼?)")
_UNIT = re.compile(rf"{_START}(?:第\s*)?(?P<n>[0-9]{{1,2}}|{_CN})\s*单元")
# 六楼以上 and 6层高 describe a building, not a place in it; 负一层 and 地下二层 are car parks;
# 一层水 and 一层灰 are a layer of something.
_FLOOR = re.compile(
    rf"{_START}(?<![负下了有盖着哒])(?P<n>[0-9]{{1,2}}|{_CN})\s*(?:楼|层(?![水灰油冰土雪泥膜皮苔]))"
    rf"(?!\s*(?:以上|以下|以内|及以|高|左右))")
# `三楼到六楼` and `一层一层` name no one floor: taken out before a floor is looked for.
_FLOOR_RANGE = re.compile(
    rf"(?:[0-9]{{1,2}}|{_CN})\s*[楼层]\s*(?:到|至|~|-)\s*(?:[0-9]{{1,2}}|{_CN})\s*[楼层]|([一每])层\1层")
# building-unit-room, e.g. 2-1-302.
_COMPACT = re.compile(
    r"(?<![0-9./\-])(?<![0-9]:)(?P<b>[0-9]{1,3})\s*-\s*(?P<u>[0-9]{1,2})\s*-\s*(?P<r>[0-9]{3,4})"
    r"(?![0-9]|\s*-)")
# What follows a number that counts, weighs, costs or dates something rather than naming a room.
_NOT_A_ROOM_AFTER = (r"[.:/~\-]\s*[0-9]|[A-Za-z%]|元|块|角|毛|年|月|日|号|天|周|个|次|米|平|斤|克"
                     r"|公[里斤]|度|分|秒|点|时|岁|人|户|辆|只|条|路|线|万|千|百|多|余|名|位|家|间"
                     r"|张|台|部|件|份|期|届|班|级|倍|栋|幢|楼|层|单元|#|型|国道|省道")
# `401家里` is a room with the home in it; `3家` counts households. `1501天天…`, `502天花板` and
# `502楼上` are rooms followed by what happens there.
_NOT_A_ROOM_AFTER = (_NOT_A_ROOM_AFTER.replace("|家|", "|家(?![里中门的])|")
                     .replace("|天|", "|天(?![天花])|").replace("|楼|", "|楼(?![上下])|"))
# A room number is 3 or 4 digits, floor then door; 11-digit phones and 5-digit hotlines never fit.
_ROOM = re.compile(
    r"(?<![0-9A-Za-z.:/#\-])(?<![0-9]\s)(?<![打拨])(?P<n>[1-9][0-9]{2,3})(?![0-9])"
    rf"(?:\s*(?P<suffix>室|号房|房间|房)|(?!\s?[0-9]|\s*(?:{_NOT_A_ROOM_AFTER})))")
# A bare number is taken for a room only when its door part looks like one (01-30) and it is no
# emergency number; with 室 or 房 it always is.
_MAX_DOOR = 30
_HOTLINES = frozenset({"110", "114", "119", "120", "122"})
_MAY_HOLD_A_PLACE = re.compile("[0-9一二三四五六七八九十]")


def _first_number(pattern: re.Pattern[str], text: str, limit: int) -> str | None:
    for match in pattern.finditer(text):
        value = to_arabic(match.group("n"))
        if value is not None and 1 <= int(value) <= limit:
            return value
    return None


def _room(text: str) -> str | None:
    for match in _ROOM.finditer(text):
        digits = match.group("n")
        if match.group("suffix"):
            return digits
        if 1 <= int(digits[-2:]) <= _MAX_DOOR and digits not in _HOTLINES:
            return digits
    return None


def _location(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(building, unit, floor, room) of a normalized description; the first of each form wins."""
    if not _MAY_HOLD_A_PLACE.search(text):
        return None, None, None, None  # most of the cost is skipped for texts with no number
    building = unit = room = None
    compact = _COMPACT.search(text)
    if compact:
        building, unit, room = (to_arabic(compact.group(g)) for g in ("b", "u", "r"))
    building = building or _first_number(_BUILDING, text, 999)
    unit = unit or _first_number(_UNIT, text, 99)
    room = room or _room(text)
    floor = _first_number(_FLOOR, _FLOOR_RANGE.sub(" ", text), 99)
    if floor is None and room is not None and len(room) >= 3:
        floor = room[:-2]  # 1102 is door 02 on floor 11
    return building, unit, floor, room


# -- contact details ------------------------------------------------------------------------------

# A contact line says who to call, nothing about the problem (`联系人王先生 0731-84561234`,
# `电话138 1234 5678`, `微信同号`): it is read as a space, so that it is no evidence for a category,
# an urgency or a room.
_CONTACT = re.compile(
    r"(?:联系人|联系方式|联系电话|电话|手机|手机号|微信|微信号|tel|Tel|TEL)?\s*[:：]?\s*"
    r"(?:[王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文][先女老]?[生士师]?\s*)?"
    r"(?<![0-9])(?:1[3-9][0-9](?:[\s-]?[0-9]{4}){2}|0[0-9]{2,3}[\s-]?[0-9]{7,8})(?![0-9])"
    r"(?:\s*[(（]?微信同号[)）]?)?")


def without_contacts(text: str) -> str:
    """A normalized description with its phone numbers (and the name and words that introduce
    them) read as spaces."""
    if not any(ch.isdigit() for ch in text):
        return text
    return _CONTACT.sub(" ", text)


# -- the parser ----------------------------------------------------------------------------------

def analyse(description: str, lexicon: Lexicon | None = None) -> ParsedRequest:
    """Category, urgency and location of a request's description (the text after `下单`)."""
    description = description.strip()
    if not description:
        return NOT_A_REQUEST
    lexicon = lexicon or load_lexicon()
    text = without_contacts(reading(description).text)
    building, unit, floor, room = _location(text)
    if lexicon.model is None:
        category, urgent = lexicon.keyword_category(text), lexicon.keyword_urgent(text)
    else:
        read = lexicon.model.read(text, lexicon.cues)
        category, urgent = read.category, read.urgent
    return ParsedRequest(is_request=True, category=category, urgent=urgent, building=building,
                         unit=unit, floor=floor, room=room, description=description)


def training_examples(paths: Iterable[str | Path]
                      ) -> tuple[list[request_model.Example], tuple[str, ...], request_model.Cues]:
    """The labelled requests in `paths` (JSON Lines, tests/data/LABELLING.md) read as the parser
    reads them, and the shipped lexicon's cues: what `request_model.train` needs. (The lexicon's
    words reach the model as cues, not as examples: a keyword alone is no request, and would teach
    that 煤气味 is not urgent.)"""
    import json

    lexicon = _lexicon_from(_default_data())
    examples = []
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                row = json.loads(line) if line.strip() else None
                if row and row["is_request"]:
                    text = without_contacts(reading(row["description"]).text)
                    examples.append(request_model.Example(text, row["category"], bool(row["urgent"])))
    return examples, CATEGORIES, lexicon.cues


def parse_request(text: str, lexicon: Lexicon | None = None) -> ParsedRequest:
    """A whole message parsed; chatter, a bare `下单` and one with only a media placeholder
    (`下单 [图片]`) are not requests."""
    description = request_description(text)
    if not description or is_placeholder_only(description):
        return NOT_A_REQUEST
    return analyse(description, lexicon)
