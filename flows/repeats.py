"""One problem, many reports (一事多报): whether a new request reports the same problem as an open
ticket of its grid, so that it is joined to that ticket instead of opening another (design §7,
"One problem, many reports"; the 2025 national guidance for 12345 hotlines asks that repeated
reports of one matter be recognised and merged).

A wrong join hides a problem; a missed one only costs a second ticket. A request is compared as a
`Report`: the things it names (`flows/problems.yaml`: the water supply, the lift, the stairwell
lamp), its places (buildings, units, floors, rooms, the east gate and the west gate, 一期 and 二期,
a village's groups), its problem's words and a few cues (同上, 我也是, 又有, 这次, 还是, 我家).
Two hard rules come first: places that disagree are never the same problem, and personal matters
(a certificate, a subsidy, an elder's care, a quarrel) are never joined across households. The
rest is decided by the pair model of `flows.repeat_model`, fitted on the labelled pairs of
tests/data/repeats/ (`python -m flows.repeats FILE…` measures it on labelled pairs). Pure: no
I/O, time passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


from flows import repeat_model
from flows.normalize import reading
from flows.numerals import to_arabic
from flows.repeat_model import RepeatModel
from flows.request_parser import Lexicon, ParsedRequest, analyse, without_contacts

__all__ = ["PERSONAL_CATEGORIES", "PERSONAL_FAMILIES", "Candidate", "Report", "best_match",
           "from_two_homes", "is_me_too", "measure",
           "notice_covers", "personal", "places_agree", "read_notice",
           "read_pairs", "report_of", "same_problem", "surely_same"]

# Categories of a household's own matter: two households' requests are two matters.
PERSONAL_CATEGORIES = frozenset({"service", "care", "dispute"})
# Things of a household's own (flows/problems.yaml): two households' subsidies are two matters.
PERSONAL_FAMILIES = frozenset({"paper", "allowance", "insurance", "elder_service", "bill"})

_NUMBER = r"[0-9零〇一二两三四五六七八九十百幺]+"
# Places and numbers say where, not what: they are compared as parsed fields, not as words.
_PLACE = re.compile(
    rf"{_NUMBER}\s*(?:号楼|栋|幢|座|单元|楼|层|室|号|房|户|#|组)|"
    r"[0-9]+(?:[-－—][0-9]+)+|[0-9]+|[A-Za-z]区")
# Parts of a compound the parser does not read as a place: gates, sides, areas, phases. Two
# reports naming two of them name two places (东门 and 西门, 左边 and 右边: the one side however
# it is said). Where a thing stands beside a building (门口, 前面, 后面) is told loosely, by one
# resident as 门口 and by another as 前面: those are read by the pair model, never as a
# disagreement.
_AREA = re.compile(r"村口|[东南西北]门|[东南西北]边|[东南西北]侧|村?[东南西北]头|村[东南西北](?!西)|"
                   r"[A-Za-z]区|[0-9一二三四五六七八九十]期|入口|出口|高层|低层|"
                   r"左边|右边|靠左|靠右|左侧|右侧|左手边|右手边|客梯|货梯")
_SIDE = {"靠左": "左边", "左侧": "左边", "左手边": "左边", "靠右": "右边", "右侧": "右边",
         "右手边": "右边", "东侧": "东边", "南侧": "南边", "西侧": "西边", "北侧": "北边",
         **{f"村{side}{end}": f"{side}头" for side in "东南西北" for end in ("头", "")}}
_SPOT = re.compile(r"门口|前面|后面|后头|背后|旁边|边上|楼下|楼上|楼顶|顶楼|一楼|地下|车库|地库|商铺|"
                   r"进门|里面|外面|[\u4e00-\u9fff]{1,2}(?:场|园|坛|棚|站|店|馆|部|委会|厅|池)")
# A named landmark (篮球场, 幼儿园, 村部, 垃圾站): two of them are two places, unlike 门口 and 前面.
_LANDMARK = re.compile(r"[\u4e00-\u9fff]{1,2}(?:场|园|坛|棚|站|店|馆|部|委会|厅|池)")
# When in the day (早上 and 晚上 of two reports are often two events: the works at 6:00 and at 23:00).
_TIME = re.compile(r"早上|早晨|上午|中午|下午|傍晚|晚上|半夜|凌晨|夜里|深夜")
_TIME_SAME = {"早晨": "早上", "夜里": "半夜", "深夜": "半夜", "凌晨": "半夜"}
# Somewhere else than the group's own place (隔壁小区也停水了), or a question about what is planned
# (停水通知贴了吗？明天几点停): neither reports the open problem.
_ELSEWHERE = re.compile(r"隔壁小区|对面小区|隔壁村|别的小区|其他小区|外面小区|隔壁楼")
# Planned: a notice asked after or a cut to come, not `没通知啊` or `能不能提前通知` of the cut now
# (both said of a cut under way).
_PLANNED = re.compile(r"几点停|哪天停|几号停|下周几停|什么时候停|通知贴|通知什么时候贴|什么时候贴|"
                      r"计划停|要停水|要停电|要停气|明天停|后天停|下周停")
# What is wrong with the thing, in a few kinds: the same lift broken and the same lift dirty are
# two problems, a lamp 坏了 and 不亮 one.
_FAULTS = {
    "broken": "坏|不亮|失灵|不动|不走|不转|不响|没反应|黑屏|打不开|刷不开|不识别|认不出|卡住|卡在|"
              "不行了|乱跑|没动静|莫得动静|罢工|离线|没声音|急停",
    "flicker": "闪",
    "leak": "漏|渗|滴水|冒水|淌水|溢水",
    "blocked": "堵|满了|满得|溢出|堆满|堆成|没人收|没人清|没拉走",
    "fallen": "倒了|掉了|掉下|要掉|歪了|塌|断了|裂|松了|翘|晃",
    "loud": "响|吵|叫|吆喝|喊|轰|声音太大|声音好大|太大声",
    "smelly": "臭|味",
    "burning": "着火|烧|冒烟|火花",
    "dirty": "脏|屎|尿|吐|粪",
    "hurt": "夹|咬|摔|砸到|撞|伤|蛰|扎",
    "open": "开着|关不上|合不上|锁了|锁死|进不来|进不去|出不去",
    "missing": "没了|不见了|丢了|被偷|没盖",
}
_FAULT = re.compile("|".join(f"(?P<{kind}>{words})" for kind, words in _FAULTS.items()))
_SPOT_SAME = {"后头": "后面", "背后": "后面", "边上": "旁边", "地库": "车库", "地下": "车库"}
# The reporter's own home, belongings or quarrel (我家, 家里, 我妈, 我的车, 我和对门): two
# households telling of their own homes tell of two homes unless the thing is shared (an outage).
_OWN = re.compile(r"我和|我跟|跟我|和我|我家|我们家|俺家|俺们家|家里|我的|我妈|我爸|我老|我奶奶|"
                  r"我爷爷|我婆婆|我儿子|"
                  r"我孙子|我闺女|我车|我电瓶|我门|我医保|我也|我屋|屋头")
# Said to be the reporter's alone: 邻居家有电, 就我家没电.
_ONLY_ME = re.compile(r"邻居家[^，,。 ]*有|别人家|其他人家|对门家里有|就我家|只有我家|别的楼层好像有")
# A follow-up of what was reported: 还是没人来修, 到底什么时候, 怎么还没.
_STILL = re.compile(r"还是|还没|还在|到底|怎么还|一直|好几天|几个小时|都一天|天了")
# Words that say nothing of the problem: who is writing, courtesy, emphasis, time.
_FILLER = re.compile(
    r"麻烦|请|帮忙|帮|一下|谢谢|辛苦|你们|我们|我家|我|家里|也|又|还|都|了|的|啊|呀|吧|呢|嘛|哦|喔|"
    r"哈|啦|吗|就|是|在|有|很|太|真|好|快|急|紧急|今天|昨天|早上|上午|下午|晚上|刚才|现在|一直|"
    r"已经|同一个问题|同样|同上|小区|楼道|单元|楼|栋|号|门口|这边|那边|这里|那里")
# A person named by surname and address (王阿姨, 李大爷, 老李家): two names are two people, two
# households' matters (an elder not seen for days, a fire at a house).
_PERSON = re.compile(r"(?:老)?([王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯董程曹袁邓许沈曾彭"
                     r"吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦"
                     r"江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文])(?:阿姨|大爷|奶奶|爷爷|大叔|叔叔|"
                     r"婶|大妈|老太|老头|师傅|老师|家|大哥|大姐)")
# Who provides a supply (电信 and 联通 broadband down are two companies' faults to call in).
_PROVIDER = re.compile(r"电信|联通|移动(?=宽带|网|光)|广电")
# A village's groups (村民小组: 三组, 4组) are places as buildings are.
_ANY_NUMBER = re.compile(r"[0-9]+|[零〇一二两三四五六七八九十百幺]+(?=号楼|栋|幢|单元|楼|层|室|号|房|组)")
_NOT_WORD = re.compile(r"[^\w]|_")
# A chat expression the normaliser does not know ([怒], [捂脸]): a feeling, not a word of the problem.
_EXPRESSION = re.compile(r"\[[\u4e00-\u9fff]{1,4}\]")
# Pointing at something already told of (那辆车, 那堆垃圾, 那只猫, 那个井盖): a follow-up of a
# report the group has seen, not a new one.
_REFERS = re.compile(r"那(?:个|只|辆|堆|根|块|家|条|袋|滩|窝|事|人|伙|帮|扇|盏|片|棵|段|台|部|间|户|坨|口)")
# Another occurrence or a new problem, not the same one again: 又有人吵架, 又接到诈骗电话,
# 这次是厨房, 来电了但是我家还是没电, 还有楼道里的垃圾.
_ANOTHER = re.compile(r"又有|又接到|又被|又来了|又一个|另一|另外|这次|但是|可是|不过|还有|顺便|"
                      r"[，,]\s*但|现在是|换成|不是(?:同一|那|刚才|上午|中午|早上|下午|晚上|昨天)")
# Where a household places it from its own home (楼上, 隔壁, 对门, 邻居家): two households' upstairs
# are two flats.
_FROM_HOME = re.compile(r"楼上|隔壁|对门|邻居")
# A household saying itself that it reports the problem just reported: 同一个问题, 同上, +1.
_CLAIMS_SAME = re.compile(r"同一个问题|同一问题|一样的问题|同样的问题|同上|\+1|我也是|我家也是|"
                          r"我们也是|我家也一样|也是这样|也一样")


_STAIRS = re.compile(r"楼道|楼梯|每层|各层|每一层|[0-9一二三四五六七八九十]+楼到[0-9一二三四五六七八九十]+楼")


@dataclass(frozen=True)
class Report:
    """What a request says, as compared with another: the problem's words and the place."""

    problem: str                   # the description without places, numbers, fillers, punctuation
    things: frozenset[str]         # what it is about (`lift`, `water_cut`; flows/problems.yaml)
    areas: frozenset[str]          # gates, sides, areas, phases named (东门, B区, 二期)
    numbers: frozenset[str]        # every number written (4号楼1室: 4, 1), whatever the parser read
    another: bool                  # tells of another occurrence or a new problem (又有人…, 这次…)
    claims_same: bool              # says it is the same problem (同一个问题, 同上, +1…)
    category: str | None
    urgent: bool | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    rest: str = ""                 # the problem's words without the things' words (landmarks, detail)
    spots: frozenset[str] = frozenset()  # where beside a building (门口, 后面, 楼顶), told loosely
    own: bool = False              # tells of the reporter's own home or belongings (我家, 我妈)
    only_me: bool = False          # says it is the reporter's alone (邻居家有电)
    also: bool = False             # says 也 (我家也没水了)
    still: bool = False            # a follow-up (还是没修, 到底, 一直)
    refers: bool = False           # points at something told of already (那辆车, 那堆垃圾)
    landmarks: frozenset[str] = frozenset()  # named landmarks by their last two characters (球场, 儿园)
    times: frozenset[str] = frozenset()      # when in the day (早上, 晚上, 半夜)
    elsewhere: bool = False        # says it is elsewhere (隔壁小区也停水了)
    planned: bool = False          # asks about or tells of what is planned (明天几点停, 通知贴了吗)
    faults: frozenset[str] = frozenset()     # what is wrong, by kind (_FAULTS: broken, leak…)
    people: frozenset[str] = frozenset()     # people named, by surname (王阿姨, 老李家: 王, 李)
    providers: frozenset[str] = frozenset()  # who provides the supply (电信, 联通, 移动)
    from_home: bool = False        # placed from the reporter's home (楼上, 隔壁, 对门, 邻居家)
    text: str = ""                 # the normalised description, contacts left out


def report_of(description: str, parsed: ParsedRequest | None = None,
              lexicon: Lexicon | None = None) -> Report:
    """A request's description (as typed, after `下单`) as compared: `parsed` is its parse when
    the caller has it already (else it is parsed here)."""
    parsed = parsed or analyse(description, lexicon)
    text = _EXPRESSION.sub(" ", without_contacts(reading(description).text).lower())
    things_of, pattern = _things()
    named = {things_of[word] for word in pattern.findall(text)}
    # A family named alone (`light`, from 灯不亮) says less than a kind of it (`light.street`).
    # Lamps of the stairs told without the word (楼道从一楼到六楼灯都不亮, 每层灯都坏了).
    if "light" in named and _STAIRS.search(text):
        named.add("light.stairwell")
    things = frozenset(t for t in named if t != "_" and not any(o.startswith(t + ".") for o in named))
    problem = _NOT_WORD.sub("", _FILLER.sub(" ", _PLACE.sub(" ", text)))
    rest = _NOT_WORD.sub("", _FILLER.sub(" ", _PLACE.sub(" ", pattern.sub(" ", text))))
    # A phase's number is the phase (一期 is 1期), not a building's: read apart from the numbers.
    areas = frozenset(_area(a) for a in _AREA.findall(text))
    numbers = frozenset(to_arabic(n) or n for n in _ANY_NUMBER.findall(_PHASE.sub(" ", text)))
    return Report(problem, things, areas, numbers,
                  _ANOTHER.search(text) is not None, _CLAIMS_SAME.search(text) is not None,
                  parsed.category, parsed.urgent,
                  parsed.building, parsed.unit, parsed.floor, parsed.room,
                  rest, frozenset(_SPOT_SAME.get(w, w) for w in _SPOT.findall(text)), _OWN.search(text) is not None,
                  _ONLY_ME.search(text) is not None, "也" in text, _STILL.search(text) is not None,
                  _REFERS.search(text) is not None,
                  frozenset(w[-2:] for w in _LANDMARK.findall(text)),
                  frozenset(_TIME_SAME.get(w, w) for w in _TIME.findall(text)),
                  _ELSEWHERE.search(text) is not None, _PLANNED.search(text) is not None,
                  frozenset(m.lastgroup for m in _FAULT.finditer(text) if m.lastgroup),
                  frozenset(_PERSON.findall(text)), frozenset(_PROVIDER.findall(text)),
                  _FROM_HOME.search(text) is not None, text)


_PHASE = re.compile(r"[0-9一二三四五六七八九十]期")


def _area(word: str) -> str:
    if word.endswith("期"):
        return (to_arabic(word[:-1]) or word[:-1]) + "期"
    return _SIDE.get(word, word)


@cache
def _things() -> tuple[Mapping[str, str], re.Pattern[str]]:
    """word → thing, and one pattern finding the words, longest first."""
    import yaml   # at the first request compared, not at every command's start

    data = yaml.safe_load(resources.files("flows").joinpath("problems.yaml").read_text(encoding="utf-8"))
    things_of = {reading(word).text.lower(): thing for thing, words in data.items() for word in words}
    ordered = sorted(things_of, key=len, reverse=True)
    return things_of, re.compile("|".join(map(re.escape, ordered)))


def _differ(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a != b


_ME_TOO = re.compile(r"(?:我|我家|我们|我们家|俺家|我这|我这边|我们这边)?(?:也是|也一样|也这样|同上|\+1|一样)"
                     r"(?:的|啊|呀|哦)?[!.。~？?]*")


def is_me_too(text: str) -> bool:
    """Whether a short reply says only "me too" (我也是, 同上, +1, 我家也是, 我们这边也一样)."""
    return _ME_TOO.fullmatch("".join(reading(text).text.split())) is not None


# `至18:00`, `到晚上8点`, `至 18点30`: when an area-wide notice ends, local time.
_UNTIL = re.compile(r"(?:至|到|截至|预计)\s*(?P<half>上午|下午|晚上|今晚|中午)?\s*"
                    r"(?P<hour>[0-9]{1,2})\s*(?:[:：点时])\s*(?P<minute>[0-9]{1,2})?(?:分)?")


def read_notice(text: str, now: datetime) -> tuple[str, datetime | None]:
    """An area-wide notice as written after `公告` (`3栋 停水 至18:00 自来水公司抢修中`): its text,
    trimmed, and when it ends: the first `至HH:MM` / `到晚上8点` as a time of `now`'s day (aware,
    `now`'s zone; the next day when that time has passed), or None when it gives none."""
    body = " ".join(text.split())
    found = _UNTIL.search(reading(body).text)
    if found is None:
        return body, None
    hour, minute = int(found["hour"]), int(found["minute"] or 0)
    if found["half"] in ("下午", "晚上", "今晚") and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return body, None
    until = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return body, until if until > now else until + timedelta(days=1)


def notice_covers(notice: Report, report: Report) -> bool:
    """Whether a request reports what an area-wide notice announces: every thing it names is
    one the notice names (停水 and 没水 are both the water supply; `停电了，电梯里关了人` tells
    more), no place of it disagrees with the notice's (`公告 3栋 停水`: `5栋没水` is another
    matter, `我家没水了` is not), and it is not urgent (danger now needs a head, not a notice)."""
    return bool(report.things) and report.things <= notice.things and not report.urgent \
        and _named_places_agree(notice, report)


def places_agree(first: Report, second: Report) -> bool:
    """False when the two name a place differently (3栋 and 5栋; 2单元 and 1单元; 4楼 and 6楼;
    302 and 502; the east gate and the west gate; numbers the parser did not read as a place, 1室
    and 2室, unless one's numbers are among the other's; one saying it is in another compound,
    隔壁小区也停水了); a place named by one only agrees
    (`3栋停水` and `我家也没水了`; `3栋停水` and `3栋2单元没水`). Floors and rooms do not tell
    apart what a whole building shares: a cut of a supply both name (302 and 402 without water are one
    cut; not a smell of gas or a cold radiator, often one flat's) or a lift (stuck at the 5th floor, waited for at the 1st); nor units a supply cut said
    to be the whole building's (`整栋都没水了，1单元也一样` after `2单元停水`). Two people named
    (王阿姨 and 李大爷, 老张家 and 李婶家) are two homes, two providers (电信宽带 and 联通宽带)
    two networks."""
    if first.elsewhere != second.elsewhere:
        return False
    if any(a and b and a.isdisjoint(b) for a, b in ((first.people, second.people),
                                                   (first.providers, second.providers))):
        return False
    # A cut, not a smell or a cold radiator: those are often one flat's (4楼 and 6楼 smelling
    # gas are two leaks to look for).
    supply = bool(first.things & second.things & _CUTS)
    spans = supply or "lift" in _families(first) & _families(second)
    whole = supply and (_WHOLE.search(first.text) is not None
                        or _WHOLE.search(second.text) is not None)
    if not _named_places_agree(first, second, floors=not spans, units=not whole):
        return False
    # The numbers of what does not tell them apart (18楼, 302; 1单元 of the whole building).
    inside = {first.floor, first.room, second.floor, second.room} if spans else set()
    inside |= {first.unit, second.unit} if whole else set()
    one, two = first.numbers - inside, second.numbers - inside
    return one <= two or two <= one


_CUTS = frozenset({"water.cut", "power.cut", "gas.cut"})
# The whole building or compound, in a report of a supply cut: its units are all in it.
_WHOLE = re.compile(r"整栋|整幢|整个楼|整楼|全楼|整个小区|全小区|全部单元|所有单元")


def _families(report: Report) -> set[str]:
    return {_family(t) for t in report.things}


def _named_places_agree(first: Report, second: Report, floors: bool = True,
                        units: bool = True) -> bool:
    # The places read as such (a notice's other numbers are its times: 至18:00).
    pairs = [(first.building, second.building)]
    pairs += [(first.unit, second.unit)] if units else []
    pairs += [(first.floor, second.floor), (first.room, second.room)] if floors else []
    return not any(_differ(a, b) for a, b in pairs) \
        and not (first.areas and second.areas and first.areas.isdisjoint(second.areas))


def same_problem(first: Report, second: Report, same_reporter: bool,
                 min_similarity: float | None = None, model: RepeatModel | None = None) -> bool:
    """Whether `second` (the new request) reports `first`'s problem (an open ticket's):

    - never when the places disagree (`places_agree`) or the new one asks after a cut to come
      (`停水通知贴了吗？明天几点停`: it reports nothing), nor across households when either is a
      household's own matter (`personal`: two households' certificates are two matters, and so
      are two power cuts each said to be theirs alone) or both place it from their own homes
      (`from_two_homes`: two households' 楼上 are two flats);
    - when the new one surely is the same (`surely_same`: the same words again, or 同上 of the
      same things);
    - else when the pair model (`flows.repeat_model`, fitted on the labelled pairs of
      tests/data/repeats/) gives it a probability of at least `min_similarity` (0–1; None: the
      model's threshold for this kind of pair, chosen when it was fitted so that the out-of-fold
      precision is 95 % with a margin: `flows.repeat_model.choose_thresholds`).
    """
    if not places_agree(first, second) or second.planned:
        return False
    if not same_reporter and (personal(first, second) or from_two_homes(first, second)):
        return False
    if surely_same(first, second, same_reporter):
        return True
    model = model or repeat_model.load()
    threshold = model.threshold(same_reporter) if min_similarity is None else min_similarity
    return model.probability(first, second, same_reporter) >= threshold


def personal(first: Report, second: Report) -> bool:
    """Whether either is a household's own matter (LABELLING.md: a certificate, a subsidy, an
    elder's care, a quarrel that involves the reporter): said to be theirs alone (`就我家没电`,
    `邻居家有电`: a fault of their home, not the building's); naming a paper, an allowance, an
    insurance or a household's service (PERSONAL_FAMILIES); of the parser's `service` category;
    or of its `care` or `dispute` category and telling of the reporter's own (我家, 我妈: `我妈摔
    了`, `邻居跟我家吵起来了`). Never when both tell of a supply every household shares (`7栋没气
    了 做不了饭`, read as care: an outage is no one's own matter). An old man fallen at the gate
    or a quarrel downstairs, told by two households who are not in it, is left to the pair model:
    read as care or dispute by the parser, they were counted personal before and 27 labelled
    pairs of one event seen by two households were never joined."""
    if first.only_me or second.only_me:
        return True
    if {_family(t) for t in first.things} & {_family(t) for t in second.things} \
            & repeat_model.SHARED_SUPPLIES:
        return False
    if any(_family(t) in PERSONAL_FAMILIES for t in first.things | second.things):
        return True
    categories = {first.category, second.category}
    return "service" in categories or (bool(categories & PERSONAL_CATEGORIES)
                                       and (first.own or second.own))


def _family(thing: str) -> str:
    return thing.split(".", 1)[0]


def from_two_homes(first: Report, second: Report) -> bool:
    """Whether two households both place what they report from their own homes (`楼上在打孩子`
    and `我楼上那家孩子在哭`, `邻居家狗叫` and `隔壁狗叫`): each one's upstairs or neighbour is
    another flat, so two matters (11 labelled pairs of other households, none the same)."""
    return first.from_home and second.from_home


def surely_same(first: Report, second: Report, same_reporter: bool) -> bool:
    """The pairs joined whatever the model says (the hard rules of `same_problem` allowing):
    the same household saying its problem again in the same words (`2栋电梯坏了` and
    `2号楼电梯又坏了！！`: traditional characters, punctuation, fillers and places aside), or
    another household saying itself it reports the same problem (同一个问题, 同上, +1) of the
    same things. Neither when the new one tells of another occurrence (又有, 这次)."""
    if second.another:
        return False
    if same_reporter:
        return bool(first.problem) and first.problem == second.problem
    return second.claims_same and bool(first.things) and first.things == second.things


@dataclass(frozen=True)
class Candidate:
    """An open ticket a new request may join."""

    number: int
    report: Report
    created_at: datetime
    same_reporter: bool


def best_match(new: Report, candidates: Iterable[Candidate], min_similarity: float | None,
               now: datetime, window: timedelta) -> Candidate | None:
    """The newest candidate created within `window` before `now` (aware datetimes) whose
    problem `new` reports (`same_problem`); None when there is none. The newest: a household
    saying 同上 means the report just above."""
    found = [c for c in candidates if now - c.created_at <= window
             and same_problem(c.report, new, c.same_reporter, min_similarity)]
    return max(found, key=lambda c: c.number, default=None)


# -- the labelled pairs (tests/data/repeats/) ---------------------------------------------------

def read_pairs(path: str | Path) -> list[dict[str, Any]]:
    """Labelled pairs (tests/data/repeats/LABELLING.md): `first`, `second`, `same_reporter`,
    `same` per line."""
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def measure(pairs: Sequence[Mapping[str, Any]], min_similarity: float | None = None,
            lexicon: Lexicon | None = None, model: RepeatModel | None = None) -> dict[str, Any]:
    """Precision and recall of `same_problem` on labelled pairs: {"pairs", "same", "joined",
    "right", "precision", "recall"}, overall and for the same household's and other households'
    pairs (`min_similarity` and `model` as for `same_problem`)."""
    model = model or repeat_model.load()

    def figures(subset: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        said = [same_problem(report_of(p["first"], lexicon=lexicon),
                             report_of(p["second"], lexicon=lexicon), bool(p["same_reporter"]),
                             min_similarity, model) for p in subset]
        truth = [bool(p["same"]) for p in subset]
        right = sum(s and t for s, t in zip(said, truth))
        return {"pairs": len(subset), "same": sum(truth), "joined": sum(said), "right": right,
                "precision": right / max(1, sum(said)), "recall": right / max(1, sum(truth))}

    return {"all": figures(pairs),
            "same_household": figures([p for p in pairs if p["same_reporter"]]),
            "other_households": figures([p for p in pairs if not p["same_reporter"]])}


def main(argv: Sequence[str] | None = None) -> None:
    """Print the precision and recall of `same_problem` on labelled pairs (default: the tune
    pairs of tests/data/repeats/, which the shipped model was fitted on: the figures that count
    are those of files it never saw) as JSON, overall and per kind of pair."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m flows.repeats", description=main.__doc__)
    parser.add_argument("files", nargs="*", type=Path, default=repeat_model.training_files())
    parser.add_argument("--min-similarity", type=float, default=None,
                        help="the model's probability needed to join (default: its threshold)")
    parser.add_argument("--model", type=Path, default=None, help="a model file (default: shipped)")
    args = parser.parse_args(argv)
    model = repeat_model.load(args.model)
    for path in args.files:
        figures = measure(read_pairs(path), args.min_similarity, model=model)
        print(json.dumps({"file": path.name, **figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()
