"""One problem, many reports (一事多报): whether a new request reports the same problem as an open
ticket of its grid, so that it is joined to that ticket instead of opening another (design §7,
"One problem, many reports"; the 2025 national guidance for 12345 hotlines asks that repeated
reports of one matter be recognised and merged).

A wrong join hides a problem; a missed one only costs a second ticket. So a request joins only
when nothing disagrees (the places: two buildings, units, floors, rooms, the east gate and the west
gate, 一期 and 二期; the things named, `flows/problems.yaml`: the lift, the water supply, the
stairwell lamp; a new occurrence or a new problem told with 又有, 这次, 但是) and either the same
household says it again, or another household says itself that it is the same problem (同一个问题,
同上, +1, 我家也是). Told apart this way, the labelled pairs of tests/data/repeats/ measure the
rule (`python -m flows.repeats`). Pure: no I/O, time passed in.
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

import yaml

from flows.normalize import reading
from flows.numerals import to_arabic
from flows.request_parser import Lexicon, ParsedRequest, analyse, without_contacts

__all__ = ["PERSONAL_CATEGORIES", "Candidate", "Report", "best_match", "is_me_too", "measure",
           "notice_covers", "places_agree", "read_notice",
           "read_pairs", "report_of", "same_problem"]

# Categories of a household's own matter: two households' requests are two matters.
PERSONAL_CATEGORIES = frozenset({"service", "care", "dispute"})

_NUMBER = r"[0-9零〇一二两三四五六七八九十百幺]+"
# Places and numbers say where, not what: they are compared as parsed fields, not as words.
_PLACE = re.compile(
    rf"{_NUMBER}\s*(?:号楼|栋|幢|座|单元|楼|层|室|号|房|户|#)|"
    r"[0-9]+(?:[-－—][0-9]+)+|[0-9]+|[A-Za-z]区")
# Parts of a compound the parser does not read as a place: gates, sides, areas, phases.
_AREA = re.compile(r"[东南西北]门|[东南西北]边|[东南西北]侧|[A-Za-z]区|[0-9一二三四五六七八九十]期|"
                   r"左边|右边|靠左|靠右|左侧|右侧|客梯|货梯|门口|后面|前面|背后")
# Words that say nothing of the problem: who is writing, courtesy, emphasis, time.
_FILLER = re.compile(
    r"麻烦|请|帮忙|帮|一下|谢谢|辛苦|你们|我们|我家|我|家里|也|又|还|都|了|的|啊|呀|吧|呢|嘛|哦|喔|"
    r"哈|啦|吗|就|是|在|有|很|太|真|好|快|急|紧急|今天|昨天|早上|上午|下午|晚上|刚才|现在|一直|"
    r"已经|同一个问题|同样|同上|小区|楼道|单元|楼|栋|号|门口|这边|那边|这里|那里")
_ANY_NUMBER = re.compile(r"[0-9]+|[零〇一二两三四五六七八九十百幺]+(?=号楼|栋|幢|单元|楼|层|室|号|房)")
_NOT_WORD = re.compile(r"[^\w]|_")
# Another occurrence or a new problem, not the same one again: 又有人吵架, 又接到诈骗电话,
# 这次是厨房, 来电了但是我家还是没电, 还有楼道里的垃圾.
_ANOTHER = re.compile(r"又有|又接到|又被|又来了|又一个|另一|另外|这次|但是|可是|不过|还有|顺便")
# A household saying itself that it reports the problem just reported: 同一个问题, 同上, +1.
_CLAIMS_SAME = re.compile(r"同一个问题|同一问题|一样的问题|同样的问题|同上|\+1|我也是|我家也是|"
                          r"我们也是|我家也一样|也是这样|也一样")


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


def report_of(description: str, parsed: ParsedRequest | None = None,
              lexicon: Lexicon | None = None) -> Report:
    """A request's description (as typed, after `下单`) as compared: `parsed` is its parse when
    the caller has it already (else it is parsed here)."""
    parsed = parsed or analyse(description, lexicon)
    text = without_contacts(reading(description).text).lower()
    things_of, pattern = _things()
    things = frozenset(things_of[word] for word in pattern.findall(text))
    problem = _NOT_WORD.sub("", _FILLER.sub(" ", _PLACE.sub(" ", text)))
    return Report(problem, things, frozenset(_AREA.findall(text)),
                  frozenset(to_arabic(n) or n for n in _ANY_NUMBER.findall(text)),
                  _ANOTHER.search(text) is not None, _CLAIMS_SAME.search(text) is not None,
                  parsed.category, parsed.urgent,
                  parsed.building, parsed.unit, parsed.floor, parsed.room)


@cache
def _things() -> tuple[Mapping[str, str], re.Pattern[str]]:
    """word → thing, and one pattern finding the words, longest first."""
    data = yaml.safe_load(resources.files("flows").joinpath("problems.yaml").read_text(encoding="utf-8"))
    things_of = {reading(word).text.lower(): thing for thing, words in data.items() for word in words}
    ordered = sorted(things_of, key=len, reverse=True)
    return things_of, re.compile("|".join(map(re.escape, ordered)))


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _grams(text: str, n: int) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


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
    and 2室, unless one's numbers are among the other's); a place named by one only agrees
    (`3栋停水` and `我家也没水了`; `3栋停水` and `3栋2单元没水`)."""
    return _named_places_agree(first, second) \
        and (first.numbers <= second.numbers or second.numbers <= first.numbers)


def _named_places_agree(first: Report, second: Report) -> bool:
    # The places read as such (a notice's other numbers are its times: 至18:00).
    return not any(_differ(a, b) for a, b in (
        (first.building, second.building), (first.unit, second.unit),
        (first.floor, second.floor), (first.room, second.room))) \
        and not (first.areas and second.areas and first.areas.isdisjoint(second.areas))


def same_problem(first: Report, second: Report, same_reporter: bool, min_similarity: float) -> bool:
    """Whether `second` (the new request) reports `first`'s problem (an open ticket's):

    - never when the places disagree, when both name things and not the same ones, or when the
      second tells of another occurrence or a new problem (又有, 这次, 但是…);
    - the same household: when both name the same thing, or the problems' words share at least
      `min_similarity` (0–1, Jaccard of character pairs) of their pairs;
    - another household: only when it says so itself (同一个问题, 同上, +1, 我家也是…), and it is
      not a personal matter.
    """
    if not places_agree(first, second) or second.another:
        return False
    if first.things and second.things and first.things != second.things:
        return False
    if same_reporter:
        return bool(first.things and first.things == second.things) or \
            _jaccard(_grams(first.problem, 2), _grams(second.problem, 2)) >= min_similarity
    return second.claims_same and not (first.category in PERSONAL_CATEGORIES
                                       or second.category in PERSONAL_CATEGORIES)


@dataclass(frozen=True)
class Candidate:
    """An open ticket a new request may join."""

    number: int
    report: Report
    created_at: datetime
    same_reporter: bool


def best_match(new: Report, candidates: Iterable[Candidate], min_similarity: float,
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


def measure(pairs: Sequence[Mapping[str, Any]], min_similarity: float = 0.5,
            lexicon: Lexicon | None = None) -> dict[str, Any]:
    """Precision and recall of `same` on labelled pairs: {"pairs", "same", "joined", "right",
    "precision", "recall"}, overall and for the same household's and other households' pairs."""
    def figures(subset: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        said = [same_problem(report_of(p["first"], lexicon=lexicon),
                             report_of(p["second"], lexicon=lexicon), bool(p["same_reporter"]),
                             min_similarity) for p in subset]
        truth = [bool(p["same"]) for p in subset]
        right = sum(s and t for s, t in zip(said, truth))
        return {"pairs": len(subset), "same": sum(truth), "joined": sum(said), "right": right,
                "precision": right / max(1, sum(said)), "recall": right / max(1, sum(truth))}

    return {"all": figures(pairs),
            "same_household": figures([p for p in pairs if p["same_reporter"]]),
            "other_households": figures([p for p in pairs if not p["same_reporter"]])}


def main(argv: Sequence[str] | None = None) -> None:
    """Print the rule's precision and recall on labelled pairs (default: the tune and held-out
    pairs of tests/data/repeats/) as JSON, overall and per kind of pair."""
    import argparse

    data = Path(__file__).resolve().parent.parent / "tests" / "data" / "repeats"
    parser = argparse.ArgumentParser(prog="python -m flows.repeats", description=main.__doc__)
    parser.add_argument("files", nargs="*", type=Path,
                        default=[data / "pairs_tune.jsonl", data / "pairs_heldout.jsonl"])
    parser.add_argument("--min-similarity", type=float, default=0.5)
    args = parser.parse_args(argv)
    for path in args.files:
        figures = measure(read_pairs(path), args.min_similarity)
        print(json.dumps({"file": path.name, **figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()
