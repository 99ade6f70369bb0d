"""config.yaml: the models of the one file an operator edits, and its loader (design §2).

A bad config is refused at start with one line per problem, each naming the key path in the file,
network nodes by their name and id (`network › 百宜社区 (baiyi) › head: missing`), so an operator
can fix everything in one pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml_rs
from apscheduler.triggers.cron import CronTrigger
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StringConstraints, Tag,
                      ValidationError, field_validator, model_validator)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import ErrorDetails

from flows.durations import parse_duration
from flows.working_time import WorkCalendar, WorkingTime, parse_working_time
from flows.environment import WEBHOOK_SECRET_ENV, WECHATY_TOKEN_ENV
from flows.environment import secret as read_secret
from flows.network import Cover, cover_text, parse_cover
from flows.categories import CATEGORIES

if TYPE_CHECKING:   # the parser is loaded when a lexicon is first built, not with a config
    from flows.request_parser import Lexicon

__all__ = [
    "CoHandlerRule", "ConfigError", "DEFAULT_LEVELS", "DEFAULT_TIMERS", "DigestSchedule",
    "GridConfig", "Group", "Member", "Node", "PlaceHead", "Policy", "QuietHours", "RequestLimit",
    "DingTalkAccount", "DingTalkConfig", "DingTalkRoom",
    "Routing", "TimerSettings", "TimerTable", "Timers", "TransportConfig", "WeComAccount",
    "WeComConfig", "WeComRoom", "config_data",
    "config_problems", "load_config", "parse_config", "read_config_file",
]

DEFAULT_LEVELS = ("township", "village", "branch", "microgrid")

NonEmptyText = Annotated[str, StringConstraints(min_length=1)]


# extra="forbid": a misspelt key is an error, not a silently ignored setting.
# coerce_numbers_to_str: YAML reads `id: 7` or `room: 12345` as numbers; they are still ids.
_STRICT_KEYS = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)


class _Strict(BaseModel):
    model_config = ConfigDict(**_STRICT_KEYS, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, data: Any) -> Any:
        # In YAML `deputies:` with nothing after it is null; the operator means "the default".
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items()
                    if not (value is None and key in cls.model_fields
                            and not cls.model_fields[key].is_required())}
        return data


# The network's three models are slotted dataclasses, not BaseModels: Liuyang's 33,000 nodes
# then hold no per-instance dict or set of fields (a third of the memory), and blanks are taken
# field by field, since a validator of the whole model would run in Python for every node.
def _none_as_empty(value: Any) -> Any:
    # In YAML `deputies:` with nothing after it is null; the operator means "none".
    return [] if value is None else value


EmptyIfBlank = BeforeValidator(_none_as_empty)


@pydantic_dataclass(config=_STRICT_KEYS, frozen=True, slots=True)
class Member:
    id: NonEmptyText      # the chat service's member id (wxid_…)
    name: NonEmptyText    # display name, used in @-mentions


@pydantic_dataclass(config=_STRICT_KEYS, frozen=True, slots=True)
class Group:
    room: NonEmptyText    # the chat service's room id (…@chatroom)
    name: NonEmptyText


@pydantic_dataclass(config=_STRICT_KEYS, frozen=True, slots=True)
class PlaceHead:
    """An item of a micro-grid's `covers` that names the head of a building or of some units
    (楼栋长、单元长: Pingxiang's 三长, Qingzhou's 红色楼长): `{place: "4栋", head: {id, name}}`.
    `place` is written as a cover (`4栋`, `8栋1-2单元`). In a building the grid's plain texts
    name, it names a head for part of them; in any other building it covers its place too."""

    place: NonEmptyText
    head: Member


# A cover is text (`"7栋"`) or a place with its head. Told apart by their shape, so a mistake in
# a mapping is reported against the mapping's keys alone (the tags are left out of key paths).
_COVER_TEXT, _COVER_WITH_HEAD = "cover text", "cover with head"


def _cover_kind(value: Any) -> str:
    return _COVER_WITH_HEAD if isinstance(value, dict | PlaceHead) else _COVER_TEXT


CoverItem = Annotated[Annotated[str, Tag(_COVER_TEXT)] | Annotated[PlaceHead, Tag(_COVER_WITH_HEAD)],
                      Discriminator(_cover_kind)]


@pydantic_dataclass(config=_STRICT_KEYS, frozen=True, slots=True)
class Node:
    id: NonEmptyText
    level: NonEmptyText
    name: NonEmptyText
    group: Group
    head: Member
    deputies: Annotated[list[Member], EmptyIfBlank] = Field(default_factory=list)
    children: Annotated[list[Node], EmptyIfBlank] = Field(default_factory=list)
    # Micro-grids: `7栋`, `8栋1-2单元`, or a place with its head, `{place: 4栋, head: {id, name}}`.
    covers: Annotated[list[CoverItem], EmptyIfBlank] = Field(default_factory=list)

    def __hash__(self) -> int:
        # Ids are unique in a valid network; the default would hash the whole subtree.
        return hash(self.id)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _longer_than_zero(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero, e.g. 5m")
    return value


# A window or a wait: never zero or less (parse_duration refuses `0s`; this, a bare 0 or -60).
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_longer_than_zero)]


def _parse_limit(value: Any) -> timedelta | WorkingTime:
    # `3wd` / `3工作日` / `4wh` / `4工作小时` in working time, else a wall-clock duration.
    return value if isinstance(value, WorkingTime) else parse_working_time(value) or parse_duration(value)


# A claim or resolve limit: on the wall clock (`2h`, `5d`) or in working time (`3wd`, `4wh`).
Limit = Annotated[timedelta | WorkingTime, BeforeValidator(_parse_limit)]


def _positive_limit(value: timedelta | WorkingTime) -> timedelta | WorkingTime:
    return _longer_than_zero(value) if isinstance(value, timedelta) else value


# A limit that must be longer than zero (working time always is).
PositiveLimit = Annotated[timedelta | WorkingTime, BeforeValidator(_parse_limit),
                          AfterValidator(_positive_limit)]


@dataclass(frozen=True)
class Timers:
    """The three timers of one kind of ticket (design §7); the limits in working time are counted
    on `calendar` (flows/working_time.py)."""

    claim_within: timedelta | WorkingTime    # open longer than this: escalate
    resolve_within: timedelta | WorkingTime  # not resolved this long after the clock started: escalate
    escalate_every: timedelta                # then one more level up after each such interval
    calendar: WorkCalendar | None = field(default=None, compare=False)

    def deadline(self, start: datetime, limit: str) -> datetime:
        """`start` plus the limit named (`claim_within` or `resolve_within`), on the calendar
        when it is written in working time. Raises ValueError for working time without one."""
        amount = getattr(self, limit)
        if isinstance(amount, timedelta):
            return start + amount
        if self.calendar is None:
            raise ValueError(f"{limit} is in working time ({amount}) but no calendar was given")
        return self.calendar.after(start, amount)


DEFAULT_TIMERS = {
    True: Timers(claim_within=timedelta(minutes=10), resolve_within=timedelta(hours=2),
                 escalate_every=timedelta(hours=2)),
    False: Timers(claim_within=timedelta(hours=2), resolve_within=timedelta(days=5),
                  escalate_every=timedelta(days=1)),
}


class TimerSettings(_Strict):
    """Any of the three timers; one left out falls back to the level above (then the default).
    The two limits may be written in working time (`3wd`, `4wh`); `escalate_every` stays on the
    wall clock."""

    claim_within: Limit | None = None
    resolve_within: Limit | None = None
    escalate_every: Duration | None = None


class TimerTable(_Strict):
    urgent: TimerSettings = TimerSettings()
    normal: TimerSettings = TimerSettings()

    @field_validator("urgent")
    @classmethod
    def _urgent_on_the_wall_clock(cls, value: TimerSettings) -> TimerSettings:
        # Danger now does not wait for Monday (the rules' time limits in working days are for
        # ordinary requests).
        for name in ("claim_within", "resolve_within"):
            if isinstance(getattr(value, name), WorkingTime):
                raise ValueError(f"{name}: urgent timers stay on the wall clock (e.g. 10m, 2h), "
                                 f"got {getattr(value, name).as_config()}")
        return value

    def settings(self, urgent: bool) -> TimerSettings:
        return self.urgent if urgent else self.normal


class QuietHours(_Strict):
    """Local hours when non-urgent escalations wait; `start` after `end` spans midnight."""

    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 22:00 as the sexagesimal number 1320.
            value = f"{value // 60:02d}:{value % 60:02d}"
        if isinstance(value, str):
            if not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
                raise ValueError(f"expected a time such as 22:00, got {value!r}")
            value = value.strip().zfill(5)   # "7:00" → "07:00", which pydantic's time reads
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same time; leave quiet_hours out instead")
        return self

    def contain(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


_CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expression: str, zone: ZoneInfo | None = None) -> CronTrigger:
    """A crontab line read as crontab means it. APScheduler 3 numbers weekdays from Monday = 0,
    crontab from Sunday = 0 (and 7), so weekday numbers are turned into names first."""
    fields = expression.split()
    if len(fields) == 5:
        fields[4] = re.sub(r"(?<![/\d])[0-7](?!\d)",
                           lambda m: _CRONTAB_WEEKDAYS[int(m.group())], fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=zone)


class DigestSchedule(_Strict):
    """One digest: to every node of `level`, when `cron` fires in the policy's time zone."""

    level: NonEmptyText
    cron: NonEmptyText               # five fields: minute hour day month weekday
    to: Literal["group", "head"] = "group"   # the node's group, or its head privately

    @field_validator("cron")
    @classmethod
    def _readable_cron(cls, value: str) -> str:
        try:
            cron_trigger(value)
        except ValueError as error:
            raise ValueError(f"cannot read cron {value!r} (minute hour day month weekday, "
                             f"e.g. \"0 8 * * *\"): {error}") from None
        return value


class RepeatReports(_Strict):
    """一事多报 (flows/repeats.py): a request joins an open ticket of its grid created within
    `window` when it reports the same problem: no place disagrees, it is not another
    household's personal matter, and the pair model (flows/repeat_model.py) gives the pair a
    probability of at least `min_similarity` (0–1, for every pair; left out or null: the
    thresholds chosen when the model was fitted, one for the same household and one for
    another, chosen together for an out-of-fold precision of 95 % on the labelled pairs with a
    margin for how few joins measured it, `flows.repeat_model.choose_thresholds`; higher joins
    less and more surely). `enabled: false` makes every request a ticket of its own."""

    enabled: bool = True
    window: PositiveDuration = timedelta(days=1)
    min_similarity: Annotated[float, Field(gt=0, le=1)] | None = None


class CircularPolicy(_Strict):
    """通知下发 (flows/circulars.py): the heads of the groups a circular reached who have not
    answered `收到` within `remind_after` are reminded once; a bare `收到` counts as the receipt
    of a circular posted in its group within `receipt_window` (older ones need a quote). A
    circular to more than `write_at_once_up_to` groups is written by the scheduler's next run
    (within a minute, in its own thread) rather than while the message is handled: a city's
    33,000 posts take seconds to write, and the bot answers nobody meanwhile."""

    remind_after: PositiveDuration = timedelta(hours=2)
    receipt_window: PositiveDuration = timedelta(days=3)
    write_at_once_up_to: Annotated[int, Field(ge=0)] = 2_000


class _CategoryMatcher(_Strict):
    """A rule matching tickets by `category`: one code or a list of them; left out, any."""

    category: str | list[str] | None = None

    @property
    def categories(self) -> tuple[str, ...] | None:
        """The category codes matched, None for any."""
        if self.category is None:
            return None
        return (self.category,) if isinstance(self.category, str) else tuple(self.category)


class VerificationRule(_CategoryMatcher):
    """核查: tickets matching `category` (a code or a list) and `level` (the ticket's node's) are
    checked before the resident rates, `by` the head or a deputy of the ticket's own node
    (`head`) or a head above it (`above`); never by the member who resolved it. A matcher left
    out matches anything; the first rule that matches decides."""

    level: NonEmptyText | None = None
    by: Literal["head", "above"] = "head"

    def matches(self, category: str, level: str) -> bool:
        return (self.categories is None or category in self.categories) and \
            (self.level is None or self.level == level)


class ExtensionPolicy(_Strict):
    """延期: how many extensions one ticket may be granted, and up to how long one is granted
    at once, by the bot, without asking the head above (`1wd`, `4wh`, `4h`; None: never)."""

    max_per_ticket: Annotated[int, Field(ge=0, le=20)] = 2
    auto_grant_up_to: PositiveLimit | None = None


class RequestLimit(_Strict):
    """At most `requests` 下单 per member within `within`; past it the member is told once per
    window and no more tickets are opened for them until the window has room again (the
    messages are kept)."""

    requests: Annotated[int, Field(ge=1)] = 5
    within: PositiveDuration = timedelta(minutes=10)


class OfficeHours(QuietHours):
    """Local office hours on working days, where working hours (`4wh`) are counted."""

    start: time = time(8, 30)
    end: time = time(17, 30)

    @model_validator(mode="after")
    def _in_one_day(self) -> OfficeHours:
        if self.start >= self.end:
            raise ValueError("office hours end before they start")
        return self


class ReminderGrouping(_Strict):
    """Reminders at the top of the network (design §7): where a scan finds `group_after` or more
    tickets due for a reminder in one group, the group gets one post per `every` (the count
    waiting and the oldest few) instead of one line per ticket; the rest of that interval its
    reminders are recorded, not posted. `every` left out: the shortest `escalate_every` of the
    timers."""

    group_after: Annotated[int, Field(ge=1)] = 3
    every: PositiveDuration | None = None


class RankWeights(_Strict):
    """Weights of 响应率, 解决率 and 满意率 in a unit's score (flows.figures.score). The defaults
    are those reported for the monthly 三率 ranking of Beijing's 接诉即办 考评 (响应率 10%,
    解决率 45%, 满意率 45%); only their proportions matter."""

    response: Annotated[float, Field(ge=0)] = 0.10
    resolution: Annotated[float, Field(ge=0)] = 0.45
    satisfaction: Annotated[float, Field(ge=0)] = 0.45

    @model_validator(mode="after")
    def _some_weight(self) -> RankWeights:
        if self.response + self.resolution + self.satisfaction <= 0:
            raise ValueError("at least one weight must be above zero")
        return self


class Ranking(_Strict):
    """排名 and the monthly 通报: the weights of a unit's score, and the schedules on which each
    node of `level` is sent the ranking of the units one level below it for the month before
    (each a DigestSchedule: level, cron, to)."""

    weights: RankWeights = RankWeights()
    reports: list[DigestSchedule] = []


class Policy(_Strict):
    timezone: str = "Asia/Shanghai"
    # Where working time (3wd, 4wh) is counted: these hours of China's working days.
    office_hours: OfficeHours = OfficeHours()
    # A resolved ticket nobody rates within this window is closed without a rating.
    rating_window: Duration = timedelta(days=3)
    # Longer messages are kept and acted on cut to this many characters, and the sender is told.
    max_message_length: Annotated[int, Field(ge=50)] = 2000
    # Escalation timers by urgency, and per category where a kind of ticket needs other ones.
    timers: TimerTable = TimerTable()
    category_timers: dict[str, TimerTable] = {}
    quiet_hours: QuietHours | None = None
    digests: list[DigestSchedule] = []
    # A member flooding 下单: at most this many tickets per window (see RequestLimit).
    request_limit: RequestLimit = RequestLimit()
    repeats: RepeatReports = RepeatReports()
    extensions: ExtensionPolicy = ExtensionPolicy()
    verification: list[VerificationRule] = []
    reminders: ReminderGrouping = ReminderGrouping()
    circulars: CircularPolicy = CircularPolicy()
    ranking: Ranking = Ranking()

    def verification_for(self, category: str, level: str) -> VerificationRule | None:
        """The rule by which a resolved ticket of `category` at a node of `level` is checked
        (核查), or None when it is not."""
        return next((rule for rule in self.verification if rule.matches(category, level)), None)
    # A message's own time (the sender's clock) drives its timers only within this much of when
    # the bot received it; further off, the time received does.
    sender_clock_tolerance: PositiveDuration = timedelta(minutes=5)
    # The scheduler's time moving further ahead than this between two runs (more than the time
    # that passed) is a clock jump: logged, and not taken as time passed.
    max_clock_jump: PositiveDuration = timedelta(days=1)

    @field_validator("category_timers")
    @classmethod
    def _known_categories(cls, value: dict[str, TimerTable]) -> dict[str, TimerTable]:
        unknown = [code for code in value if code not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categor{'ies' if len(unknown) > 1 else 'y'} "
                             f"{', '.join(map(repr, unknown))} (one of {', '.join(CATEGORIES)})")
        return value

    def timers_for(self, category: str, urgent: bool) -> Timers:
        """The category's own timer, else the urgency's, else the default; each one alone."""
        default = DEFAULT_TIMERS[bool(urgent)]
        layers = [self.timers.settings(urgent)]
        if category in self.category_timers:
            layers.insert(0, self.category_timers[category].settings(urgent))

        def pick(name: str) -> timedelta | WorkingTime:
            return next((getattr(layer, name) for layer in layers
                         if getattr(layer, name) is not None), getattr(default, name))

        return Timers(*(pick(name) for name in ("claim_within", "resolve_within",
                                                 "escalate_every")), calendar=self.calendar())

    def reminder_every(self) -> timedelta:
        """How often a group whose reminders are grouped gets its post: `reminders.every`, else
        the shortest `escalate_every` of any kind of ticket (urgent ones are not left waiting
        longer than their own timer says)."""
        if self.reminders.every is not None:
            return self.reminders.every
        return min(self.timers_for(category, urgent).escalate_every
                   for category in ("", *self.category_timers) for urgent in (True, False))

    def calendar(self) -> WorkCalendar:
        """The working calendar of these office hours, in this time zone."""
        return _calendar(self.timezone, self.office_hours.start, self.office_hours.end)

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value


class CoHandlerRule(_CategoryMatcher):
    """A routing rule (design §6): `handler` co-handles (协办) every ticket that matches all the
    matchers given, the way an alert router matches labels to a receiver; a matcher left out
    matches anything.

    - `category`: one category code or a list of them (`repair`, `[security, dispute]`);
    - `urgent`: true for urgent tickets only, false for normal ones only;
    - `node`: a node id; the ticket's node is that node or below it;
    - `level`: the ticket's node is at this level (`microgrid`, `branch`…).
    """

    urgent: bool | None = None
    node: NonEmptyText | None = None
    level: NonEmptyText | None = None
    handler: Member


class Routing(_Strict):
    co_handlers: list[CoHandlerRule] = []




DEFAULT_BOT_ID = "wxid_gridbot"

# WeCom's group robots (群机器人配置说明): 20 messages a minute per robot, text ≤ 2,048 bytes.
WECOM_ROBOT_PER_MINUTE = 20
WECOM_TEXT_BYTES = 2048
WECOM_ROBOT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
WECOM_WS_URL = "wss://openws.work.weixin.qq.com"
_ENCODING_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
_MOBILE = re.compile(r"\+?[0-9]{6,15}")   # digits, the country code optional (+86…)


class WeComRoom(_Strict):
    """A group an account serves: its chat id (the AI bot callback's `chatid`, the network's
    `group.room`), and the key of the group robot (群机器人) added to it, through which the bot
    posts there when it was not asked (a robot sends only into the group it was added to)."""

    room: NonEmptyText
    robot_key: NonEmptyText | None = None


class WeComAccount(_Strict):
    """One WeCom AI bot (智能机器人) in API mode, and the groups it serves (a township each, say).
    Either by callback: its Token and EncodingAESKey (set in the bot's API settings), its callback
    URL `/wecom/{id}/callback` on the bot's API; or by long connection (长连接): its Bot ID and
    Secret, the bot opening a WebSocket to WeCom itself (no public address)."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    token: NonEmptyText | None = None
    encoding_aes_key: NonEmptyText | None = None
    bot_id: NonEmptyText | None = None
    secret: NonEmptyText | None = None
    rooms: list[WeComRoom] = []

    @property
    def long_connection(self) -> bool:
        """Whether the account works over the long connection (Bot ID and Secret given)."""
        return self.bot_id is not None


class WeComConfig(_Strict):
    accounts: Annotated[list[WeComAccount], Field(min_length=1)]
    # The group robots' send API, and the long connection's address; a test points them at
    # local fakes.
    robot_url: NonEmptyText = WECOM_ROBOT_URL
    ws_url: NonEmptyText = WECOM_WS_URL
    # Member id → the mobile number bound to their WeCom account: a group robot @-mentions them
    # by it (`mentioned_mobile_list`), for members whose id in the network is no WeCom userid
    # (an id kept from WeChat, a resident outside the organisation). Others go by id.
    member_mobiles: dict[NonEmptyText, NonEmptyText] = {}


# DingTalk's custom robots (自定义机器人): 20 messages a minute per robot, then throttled for 10
# minutes; a robot with 加签 signs each call with the timestamp and its secret (SEC…).
DINGTALK_ROBOT_PER_MINUTE = 20
DINGTALK_ROBOT_URL = "https://oapi.dingtalk.com/robot/send"
DINGTALK_STREAM_URL = "https://api.dingtalk.com/v1.0/gateway/connections/open"
DINGTALK_API_URL = "https://api.dingtalk.com"


class DingTalkRoom(_Strict):
    """A group an account serves: its `conversationId` (the network's `group.room`), and the
    custom robot (自定义机器人) added to it for posts the bot makes unasked: the `access_token` of
    its webhook and its 加签 secret."""

    room: NonEmptyText
    robot_token: NonEmptyText | None = None
    robot_secret: NonEmptyText | None = None


class DingTalkAccount(_Strict):
    """One DingTalk enterprise robot (企业内部应用机器人) in Stream mode: its app's Client ID
    (AppKey) and Client Secret (AppSecret), and the groups it serves."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    client_id: NonEmptyText
    client_secret: NonEmptyText
    rooms: list[DingTalkRoom] = []


class DingTalkConfig(_Strict):
    accounts: Annotated[list[DingTalkAccount], Field(min_length=1)]
    # The custom robots' send API, and where a Stream connection is opened; a private
    # deployment (or a test's fake) has its own.
    robot_url: NonEmptyText = DINGTALK_ROBOT_URL
    stream_url: NonEmptyText = DINGTALK_STREAM_URL
    # The open API (新版服务端API): the app's access token, the download of received media.
    api_url: NonEmptyText = DINGTALK_API_URL


class TransportConfig(_Strict):
    kind: Literal["simulator", "wechaty", "webhook", "wecom", "dingtalk"] = "simulator"
    # The bot's own member id in the groups: its messages (echoed by a gateway) are stored and
    # never acted on. The wechaty transport learns it at login; the others take it from here.
    bot_id: NonEmptyText = DEFAULT_BOT_ID
    endpoint: str | None = None       # wechaty: the puppet service gateway, HOST:PORT
    token: str | None = None          # wechaty: else $WECHATY_PUPPET_SERVICE_TOKEN
    callback_url: str | None = None   # webhook: where the bot's posts are POSTed
    secret: str | None = None         # webhook: HMAC key, else $GRIDBOT_WEBHOOK_SECRET
    # The longest post the chat service takes, in characters and in UTF-8 bytes (WeChat cuts
    # near 2,000 characters, WeCom's robots take 2,048 bytes); a longer post is split (续 n/m).
    max_post_chars: Annotated[int, Field(ge=100, le=100_000)] = 1800
    max_post_bytes: Annotated[int, Field(ge=300, le=400_000)] = 4096
    # Posts into one group (or to one member) in any minute; more wait their turn, in order.
    posts_per_room_per_minute: Annotated[int, Field(ge=1, le=1000)] = 20
    # How long every try to reach the chat service (a post to the callback, a connection to the
    # gateway) may fail before `/readyz` says not ready; a shorter blip leaves it ready. Longer
    # than the delivery backoff's cap (a minute), so that one retry never decides.
    unready_after: PositiveDuration = timedelta(minutes=5)
    # A post that keeps failing is set aside as a dead letter (its room goes on) only once it was
    # written this long ago: a chat service down for less loses nothing, its posts wait.
    dead_letter_after: PositiveDuration = timedelta(hours=1)
    wecom: WeComConfig | None = None   # kind wecom: the AI bot accounts and their group robots
    dingtalk: DingTalkConfig | None = None  # kind dingtalk: the robot accounts and group robots

    def account_secrets(self) -> list[str]:
        """The bot accounts' tokens, keys and robot keys: masked in every log line."""
        secrets: list[str | None] = []
        for account in self.wecom.accounts if self.wecom else []:
            secrets += [account.token, account.encoding_aes_key, account.secret,
                        *(room.robot_key for room in account.rooms)]
        for account in self.dingtalk.accounts if self.dingtalk else []:
            secrets += [account.client_secret, *(room.robot_token for room in account.rooms),
                        *(room.robot_secret for room in account.rooms)]
        return [secret for secret in secrets if secret]

    def post_bytes(self) -> int:
        """The longest post in UTF-8 bytes: `max_post_bytes`, no more than the platform takes
        (WeCom's group robot text: 2,048 bytes)."""
        if self.kind == "wecom":
            return min(self.max_post_bytes, WECOM_TEXT_BYTES)
        return self.max_post_bytes

    def wechaty_token(self) -> str | None:
        return self.token or read_secret(WECHATY_TOKEN_ENV)

    def webhook_secret(self) -> str | None:
        return self.secret or read_secret(WEBHOOK_SECRET_ENV)

    def problems(self) -> list[str]:
        """What this transport lacks to start, one line each (secrets may come from the
        environment, so this is checked at start rather than by the file's schema)."""
        problems = []
        if self.kind == "wechaty":
            if not self.endpoint:
                problems.append("transport.endpoint: required when transport.kind is wechaty "
                                "(the puppet service gateway as HOST:PORT)")
            elif not re.fullmatch(r"[^\s:]+:\d{1,5}", self.endpoint):
                problems.append(f"transport.endpoint: the wechaty gateway as HOST:PORT expected, "
                                f"got {self.endpoint!r}")
            if not self.wechaty_token():
                problems.append(f"transport.token: required when transport.kind is wechaty "
                                f"(here or in ${WECHATY_TOKEN_ENV})")
        if self.kind == "webhook":
            if not self.callback_url:
                problems.append("transport.callback_url: required when transport.kind is webhook "
                                "(the http(s) URL the bot's posts are POSTed to)")
            elif not re.match(r"https?://", self.callback_url):
                problems.append(f"transport.callback_url: an http(s) URL expected, "
                                f"got {self.callback_url!r}")
            if not self.webhook_secret():
                problems.append(f"transport.secret: required when transport.kind is webhook "
                                f"(here or in ${WEBHOOK_SECRET_ENV})")
        if self.kind == "wecom":
            problems += self._wecom_problems()
        if self.kind == "dingtalk":
            problems += self._dingtalk_problems()
        return problems

    def _dingtalk_problems(self) -> list[str]:
        if self.dingtalk is None:
            return ["transport.dingtalk: required when transport.kind is dingtalk (the robot "
                    "accounts: id, client_id, client_secret, rooms)"]
        problems = _accounts_problems("dingtalk", self.dingtalk.accounts, self.dingtalk.robot_url,
                                      self.posts_per_room_per_minute, DINGTALK_ROBOT_PER_MINUTE)
        for name in ("stream_url", "api_url"):
            if not re.match(r"https?://", getattr(self.dingtalk, name)):
                problems.append(f"transport.dingtalk.{name}: an http(s) URL expected, "
                                f"got {getattr(self.dingtalk, name)!r}")
        for n, account in enumerate(self.dingtalk.accounts):
            for room in account.rooms:
                where = f"transport.dingtalk.accounts[{n}] ({account.id}).rooms ({room.room})"
                if room.robot_token and not room.robot_secret:
                    problems.append(f"{where}.robot_secret: required with robot_token (the "
                                    f"robot's 加签 secret, SEC…; GridBot signs every post)")
                if room.robot_secret and not room.robot_secret.startswith("SEC"):
                    problems.append(f"{where}.robot_secret: a DingTalk 加签 secret starts with "
                                    f"SEC")
                if room.robot_secret and not room.robot_token:
                    problems.append(f"{where}.robot_token: required with robot_secret (the "
                                    f"access_token of the robot's webhook)")
        return problems

    def _wecom_problems(self) -> list[str]:
        if self.wecom is None:
            return ["transport.wecom: required when transport.kind is wecom (the AI bot accounts: "
                    "id, token, encoding_aes_key, rooms)"]
        problems = _accounts_problems("wecom", self.wecom.accounts, self.wecom.robot_url,
                                      self.posts_per_room_per_minute, WECOM_ROBOT_PER_MINUTE)
        if not re.match(r"wss?://", self.wecom.ws_url):
            problems.append(f"transport.wecom.ws_url: a ws(s) URL expected, got "
                            f"{self.wecom.ws_url!r}")
        for n, account in enumerate(self.wecom.accounts):
            where = f"transport.wecom.accounts[{n}] ({account.id})"
            callback = account.token is not None or account.encoding_aes_key is not None
            connection = account.bot_id is not None or account.secret is not None
            if callback and connection:
                problems.append(f"{where}: token and encoding_aes_key (callback) or bot_id and "
                                f"secret (long connection), not both")
            elif connection and (account.bot_id is None or account.secret is None):
                problems.append(f"{where}: bot_id and secret go together (the AI bot's long "
                                f"connection settings)")
            elif not connection and (account.token is None or account.encoding_aes_key is None):
                problems.append(f"{where}: token and encoding_aes_key required (the AI bot's "
                                f"callback settings), or bot_id and secret for a long connection")
            if account.encoding_aes_key is not None \
                    and not _ENCODING_AES_KEY.fullmatch(account.encoding_aes_key):
                problems.append(f"{where}.encoding_aes_key: "
                                f"43 letters and digits expected (the EncodingAESKey of the "
                                f"bot's API settings), got {len(account.encoding_aes_key)} "
                                f"characters")
        for member, mobile in self.wecom.member_mobiles.items():
            if not _MOBILE.fullmatch(mobile):
                problems.append(f"transport.wecom.member_mobiles ({member}): a mobile number "
                                f"expected (digits, + for a country code), got {mobile!r}")
        return problems


_PLATFORM_NAMES = {"wecom": "WeCom", "dingtalk": "DingTalk"}


def _accounts_problems(kind: str, accounts: list, robot_url: str, per_minute: int,
                       robot_limit: int) -> list[str]:
    """What WeCom's and DingTalk's accounts have in common to check: the pace within a robot's
    limit, the robot URL, account ids given once, each room served by one account."""
    platform = _PLATFORM_NAMES[kind]
    problems = []
    if per_minute > robot_limit:
        problems.append(f"transport.posts_per_room_per_minute: at most {robot_limit} with "
                        f"{platform} (a group robot sends {robot_limit} messages a minute), "
                        f"got {per_minute}")
    if not re.match(r"https?://", robot_url):
        problems.append(f"transport.{kind}.robot_url: an http(s) URL expected, got {robot_url!r}")
    seen_ids: set[str] = set()
    served: dict[str, str] = {}
    for n, account in enumerate(accounts):
        where = f"transport.{kind}.accounts[{n}] ({account.id})"
        if account.id in seen_ids:
            problems.append(f"{where}.id: {account.id!r} is given twice")
        seen_ids.add(account.id)
        for room in account.rooms:
            if room.room in served:
                problems.append(f"{where}.rooms: {room.room!r} is served by account "
                                f"{served[room.room]!r} already; one account per room")
            served.setdefault(room.room, account.id)
    return problems


class ApiConfig(_Strict):
    # The largest request body the HTTP API and the webhook read, in bytes: a larger one is
    # answered 413 while it streams in, before it is parsed or its signature checked.
    max_request_bytes: Annotated[int, Field(ge=16_384, le=100_000_000)] = 262_144


MEDIA_KINDS = ("image", "voice", "video", "file", "location")


class MediaLimits(_Strict):
    """The largest attachment kept of each kind, in bytes; a larger one is refused politely in
    the group and not kept (a location has no content to limit)."""

    image: Annotated[int, Field(ge=1)] = 10_000_000
    voice: Annotated[int, Field(ge=1)] = 2_000_000
    video: Annotated[int, Field(ge=1)] = 50_000_000
    file: Annotated[int, Field(ge=1)] = 20_000_000

    def of(self, kind: str) -> int | None:
        """The limit of `kind` in bytes; None for a kind without one (location)."""
        return getattr(self, kind, None) if kind in MEDIA_KINDS else None


class MediaConfig(_Strict):
    """Photos, voice, video, files and locations carried by messages (issue 26): kept as
    attachments (content-addressed files under `folder`, or the platform's media id when the
    content was not downloaded). `folder` None: `attachments/` beside the SQLite database file
    (the working directory for PostgreSQL). A photo, voice note, video or location the member
    sends within `attach_within` after their 下单 or 补充 joins that ticket; a photo or video the
    handler sends within `evidence_within` after their 办结 is its evidence (flows/attachments.py)."""

    folder: str | None = None
    max_bytes: MediaLimits = MediaLimits()
    attach_within: PositiveDuration = timedelta(minutes=10)
    evidence_within: PositiveDuration = timedelta(minutes=30)


class Department(_Strict):
    """A department a head may call in on a ticket (部门报到, Beijing's 街乡吹哨、部门报到): 城管,
    派出所, 市场监管, 供水, 供电, 物业… Its `group` is posted once (else each member privately);
    a member answers `报到 #12` within `report_within`, then acts on the ticket like a co-handler."""

    id: NonEmptyText
    name: NonEmptyText
    group: Group | None = None
    members: Annotated[list[Member], Field(min_length=1)]
    report_within: PositiveDuration = timedelta(minutes=30)


class GridConfig(_Strict):
    levels: list[str] = list(DEFAULT_LEVELS)   # top first; the last one is the micro-grid
    network: Node
    policy: Policy = Policy()
    routing: Routing = Routing()
    departments: list[Department] = []

    def department_named(self, written: str) -> Department | None:
        """The department whose name or id is `written` (`城管`, `@城管`, `chengguan`), or None."""
        key = written.strip().lstrip("@＠").strip()
        return next((d for d in self.departments if key in (d.name, d.id)), None)
    transport: TransportConfig = TransportConfig()
    api: ApiConfig = ApiConfig()
    media: MediaConfig = MediaConfig()
    # Words added to the request parser's vocabulary, in flows/lexicon.yaml's shape, e.g.
    # {categories: {repair: [不通风]}, urgent: [冒黑烟]}.
    lexicon: dict[str, Any] = {}

    @property
    def microgrid_level(self) -> str:
        return self.levels[-1]

    def request_lexicon(self) -> Lexicon:
        """The shipped lexicon with this config's words added."""
        from flows.request_parser import load_lexicon

        return load_lexicon(overrides=self.lexicon or None)


@lru_cache(maxsize=16)
def _calendar(zone: str, opens: time, closes: time) -> WorkCalendar:
    return WorkCalendar(ZoneInfo(zone), opens, closes)


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


# ---- loading -----------------------------------------------------------------------------


def load_config(path: str | Path, transport: bool = True) -> GridConfig:
    """Read, parse and check a config file; ConfigError names every problem. With
    `transport=False` what the transport lacks to start (a secret, a callback URL) is not a
    problem: for the commands that never start it (a token, a digest, `gridbot chat`)."""
    path = Path(path)
    return parse_config(config_data(path, read_config_file(path)), transport)


def read_config_file(path: Path) -> bytes:
    """The bytes of the config file; ConfigError (one line) when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        # The whole path: a command run in another folder says where it looked.
        raise ConfigError([f"cannot read {path.absolute()}: no such file"]) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([f"cannot read {path}: {reason[:1].lower()}{reason[1:]}"]) from None


# What YAML 1.2 lets a file hold (its printable characters, §5.1). yaml-rs reads on past the
# others without a word (a NUL even ends its reading there, the rest of the file left unread).
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def config_data(path: Path, raw: bytes) -> object:
    """The YAML data of the config file's bytes `raw` (read from `path`, named in problems);
    ConfigError, naming the line, when it is not UTF-8, holds a character YAML does not allow
    (a NUL, a control character: a damaged file) or is not YAML."""
    try:
        # Line ends as reading the file in text mode gives them (\r\n and \r as \n).
        text = raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + raw.count(b"\r", 0, error.start) \
            - raw.count(b"\r\n", 0, error.start) + 1
        raise ConfigError([f"cannot read {path}: not UTF-8 text (line {line}: byte "
                           f"0x{raw[error.start]:02X}; saved in another encoding?)"]) from None
    if (found := _NOT_YAML.search(text)) is not None:
        at = found.start()
        line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        raise ConfigError([f"{path}: line {line}, column {column}: the character "
                           f"U+{ord(found.group()):04X}, which YAML does not allow (a damaged "
                           f"file, or one that is not text)"])
    try:
        # yaml-rs (YAML 1.2, in Rust) reads Liuyang's 10 MB network in 0.4 s; PyYAML needs 10 s.
        return yaml_rs.loads(text, parse_datetime=False,
                              duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
    except yaml_rs.YAMLDecodeError as error:
        from flows.yaml_problems import yaml_problem   # PyYAML, loaded for a broken file only

        raise ConfigError([yaml_problem(path, text, error)]) from None


def parse_config(data: object, transport: bool = True) -> GridConfig:
    """Build a GridConfig from already-loaded YAML data; ConfigError names every problem.

    Structural problems (missing, unknown or mistyped keys) are reported first; the checks of
    the network's meaning (levels, ids, rooms, covers) run once the structure is sound.
    """
    if data is None:
        data = {}  # an empty file: report what is missing rather than "not a mapping"
    try:
        config = GridConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError([_pydantic_problem(detail, data) for detail in error.errors()]) from None
    problems = config_problems(config, transport)
    if problems:
        raise ConfigError(problems)
    return config


# ---- structural problems: pydantic errors, one line each -----------------------------------


NODE_STEP = " › "   # between a network node and its child or its own keys


def node_label(name: object, id: object, index: int) -> str:
    """How a path names a network node: `百宜社区 (baiyi)`; its id or its name alone when it has
    only one; `children[2]` (its `index` among its siblings) when it has neither. Numbers count
    as text, as the models read them."""
    name, id = _as_text(name), _as_text(id)
    if name and id:
        return f"{name} ({id})"
    return id or name or f"children[{index}]"


def _as_text(value: object) -> str | None:
    # YAML reads `id: 7` as a number; the models take it as text, and so does a path.
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _key_path(loc: tuple[int | str, ...], data: object = None) -> str:
    """Where a pydantic error is, in the words of the file: ('policy', 'digests', 0, 'cron') →
    'policy.digests[0].cron'; a network node by its name and id, read from the loaded `data`:
    ('network', 'children', 0, 'head') → 'network › 百宜社区 (baiyi) › head'."""
    path, node, at_node = "", data.get("network") if isinstance(data, dict) else None, False
    parts = [part for part in loc if part not in _COVER_TAGS]
    position = 0
    while position < len(parts):
        part = parts[position]
        if (at_node and part == "children" and position + 1 < len(parts)
                and isinstance(parts[position + 1], int)):
            index = parts[position + 1]
            children = node.get("children") if isinstance(node, dict) else None
            child = children[index] if isinstance(children, list) and index < len(children) else None
            fields = child if isinstance(child, dict) else {}
            path += NODE_STEP + node_label(fields.get("name"), fields.get("id"), index)
            node, position = child, position + 2
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif at_node:
            path += NODE_STEP + part
            at_node = False
        else:
            path += f".{part}" if path else str(part)
        at_node = at_node or (path == "network" and position == 0)
        position += 1
    return path or "(top level)"


# pydantic's own words (`Input should be a valid integer, unable to parse string as an integer`)
# said the way an operator editing YAML would; the value given follows each.
_TYPE_WORDS = {
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
    "time_type": "should be a time such as 22:00",
    "time_parsing": "should be a time such as 22:00",
    "model_type": "should be a mapping of keys",
    "model_attributes_type": "should be a mapping of keys",
    "dict_type": "should be a mapping of keys",
    "dataclass_type": "should be a mapping of keys",   # a network node, group or member
    "dataclass_args_type": "should be a mapping of keys",
    "list_type": "should be a list",
    "string_type": "should be text",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
}


_COVER_TAGS = frozenset({_COVER_TEXT, _COVER_WITH_HEAD})


def _pydantic_problem(detail: ErrorDetails, data: object = None) -> str:
    kind, given = detail["type"], detail.get("input")
    if kind in ("missing", "missing_argument"):  # a model's / a network dataclass's
        text = "missing"
    elif kind == "string_type" and detail["loc"][-1:] == (_COVER_TEXT,) and given is not None:
        text = (f"should be a building such as '7栋', or a place with its head such as "
                f"{{place: 4栋, head: {{id: …, name: …}}}}, got {_describe(given)}")
    elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
        text = "unknown key"
    elif given is None:
        text = "empty"  # `head:` with nothing after it
    elif kind == "string_too_short":
        text = "should not be empty"
    elif kind in _TYPE_WORDS:
        text = f"{_TYPE_WORDS[kind]}, got {_describe(given)}"
    elif kind in _BOUND_WORDS:
        bound = detail.get("ctx", {}).get(_BOUND_WORDS[kind][0])
        text = f"should be {_BOUND_WORDS[kind][1]} {_number(bound)}, got {_describe(given)}"
    elif kind == "value_error":
        text = detail["msg"].removeprefix("Value error, ")
    else:
        message = detail["msg"].replace("Input should be", "should be")
        text = f"{message[:1].lower()}{message[1:]}, got {_describe(given)}"
    return f"{_key_path(detail['loc'], data)}: {text}"


_BOUND_WORDS = {   # pydantic's error type → (its ctx key, the words)
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


# ---- semantic problems: what the network means -------------------------------------------


def _lexicon_problems(config: GridConfig) -> list[str]:
    if not config.lexicon:
        return []
    from flows.request_parser import LexiconError

    try:
        config.request_lexicon()
    except LexiconError as error:
        return [f"lexicon.{line.removeprefix('overrides.')}" if line.startswith("overrides.")
                else f"lexicon: {line}" for line in str(error).splitlines()]
    return []


def config_problems(config: GridConfig, transport: bool = True) -> list[str]:
    """Every problem of meaning in a structurally valid config, one line each (empty when fine);
    what the transport lacks to start only with `transport`."""
    problems = _level_problems(config.levels) + _lexicon_problems(config)
    positions = {level: index for index, level in enumerate(config.levels)}
    levels_ok = not problems
    problems += [f"policy.digests[{index}].level: unknown level {digest.level!r} "
                 f"(levels: {', '.join(config.levels)})"
                 for index, digest in enumerate(config.policy.digests)
                 if levels_ok and digest.level not in config.levels]
    problems += [f"policy.ranking.reports[{index}].level: unknown level {report.level!r} "
                 f"(levels: {', '.join(config.levels)})"
                 for index, report in enumerate(config.policy.ranking.reports)
                 if levels_ok and report.level not in config.levels]
    levels_text = ", ".join(config.levels)
    microgrid_level = config.levels[-1] if config.levels else None
    first_id_path: dict[str, str] = {}
    first_room_path: dict[str, str] = {}
    place_heads: list[tuple[str, Member]] = []   # (path, member) of each building or unit head

    stack: list[tuple[Node, str, Node | None]] = [(config.network, "network", None)]
    while stack:
        node, path, parent = stack.pop()
        first_id = first_id_path.setdefault(node.id, path)
        if first_id != path:
            problems.append(f"{path}{NODE_STEP}id: duplicate id {node.id!r} (also at {first_id})")
        first_room = first_room_path.setdefault(node.group.room, path)
        if first_room != path:
            problems.append(f"{path}{NODE_STEP}group.room: room {node.group.room!r} is used twice "
                            f"(also at {first_room}{NODE_STEP}group.room)")
        known = node.level in positions
        if levels_ok and not known:
            problems.append(f"{path}{NODE_STEP}level: unknown level {node.level!r} (levels: {levels_text})")
        if (levels_ok and known and parent is not None and parent.level in positions
                and positions[node.level] <= positions[parent.level]):
            problems.append(f"{path}{NODE_STEP}level: {node.level!r} is not below its parent's level "
                            f"{parent.level!r} (levels: {levels_text})")
        if levels_ok and known and node.covers and node.level != microgrid_level:
            problems.append(f"{path}{NODE_STEP}covers: only a {microgrid_level!r} node covers buildings, "
                            f"this node is a {node.level!r}")
        read: list[tuple[int, Cover, PlaceHead | None]] = []
        for index, item in enumerate(node.covers):
            text = cover_text(item)
            try:
                read.append((index, parse_cover(text), None if isinstance(item, str) else item))
            except ValueError as error:
                key = "covers[{}]" if isinstance(item, str) else "covers[{}].place"
                problems.append(f"{path}{NODE_STEP}{key.format(index)}: cannot read {text!r}: {error}")
        if any(head for _, _, head in read):
            problems += _place_head_problems(read, f"{path}{NODE_STEP}covers", config.transport.bot_id)
            place_heads += [(f"{path}{NODE_STEP}covers[{index}].head", head.head)
                            for index, _, head in read if head]
        problems += _sibling_overlaps(node, path, microgrid_level)
        # Reversed so problems come out in file order.
        stack.extend((child, f"{path}{NODE_STEP}{node_label(child.name, child.id, index)}", node)
                     for index, child in reversed(list(enumerate(node.children))))
    if place_heads:
        problems += _place_head_names(config.network, place_heads)
    return (problems + _co_handler_problems(config, set(first_id_path), levels_ok)
            + _verification_problems(config, levels_ok)
            + _department_problems(config, set(first_room_path))
            + (config.transport.problems() if transport else [])
            + _account_room_problems(config.transport, set(first_room_path)))


def _account_room_problems(transport: TransportConfig, rooms: set[str]) -> list[str]:
    """A room an account serves that no group of the network has (a chat id copied wrong)."""
    section = {"wecom": transport.wecom, "dingtalk": transport.dingtalk}.get(transport.kind)
    if section is None:
        return []
    return [f"transport.{transport.kind}.accounts[{n}] ({account.id}).rooms: {room.room!r} is "
            f"no group of the network (the group's chat id is its group.room)"
            for n, account in enumerate(section.accounts) for room in account.rooms
            if room.room not in rooms]


def _co_handler_problems(config: GridConfig, node_ids: set[str], levels_ok: bool) -> list[str]:
    """A routing rule naming a category, level or node that does not exist would never match:
    refused at start, with the nearest known name when it looks like a typo (`reapir`)."""
    problems = []
    for index, rule in enumerate(config.routing.co_handlers):
        path = f"routing.co_handlers[{index}]"
        for code in rule.categories or ():
            if code not in CATEGORIES:
                problems.append(f"{path}.category: unknown category {code!r}"
                                f"{_did_you_mean(code, CATEGORIES)} (categories: {', '.join(CATEGORIES)})")
        if rule.categories == ():
            problems.append(f"{path}.category: empty list; leave the key out to match any category")
        if levels_ok and rule.level is not None and rule.level not in config.levels:
            problems.append(f"{path}.level: unknown level {rule.level!r}"
                            f"{_did_you_mean(rule.level, config.levels)} "
                            f"(levels: {', '.join(config.levels)})")
        if rule.node is not None and rule.node not in node_ids:
            problems.append(f"{path}.node: no node has the id {rule.node!r}"
                            f"{_did_you_mean(rule.node, node_ids)}")
    return problems


def _department_problems(config: GridConfig, rooms: set[str]) -> list[str]:
    """Two departments by one id or name; a department's group that is one of the network's
    (`rooms`, gathered by config_problems' walk of the tree)."""
    problems, seen = [], {}
    for index, department in enumerate(config.departments):
        path = f"departments[{index}]"
        for key in (department.id, department.name):
            if key in seen:
                problems.append(f"{path}: {key!r} is also departments[{seen[key]}]")
            seen.setdefault(key, index)
        if department.group is not None and department.group.room in rooms:
            problems.append(f"{path}.group.room: {department.group.room!r} is a group of the network")
    return problems


def _verification_problems(config: GridConfig, levels_ok: bool) -> list[str]:
    problems = []
    for index, rule in enumerate(config.policy.verification):
        path = f"policy.verification[{index}]"
        problems += [f"{path}.category: unknown category {code!r}{_did_you_mean(code, CATEGORIES)}"
                     for code in rule.categories or () if code not in CATEGORIES]
        if levels_ok and rule.level is not None and rule.level not in config.levels:
            problems.append(f"{path}.level: unknown level {rule.level!r}"
                            f"{_did_you_mean(rule.level, config.levels)}")
    return problems


def _did_you_mean(written: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(written, list(known), n=1, cutoff=0.6)
    return f", did you mean {close[0]!r}?" if close else ""


def _level_problems(levels: list[str]) -> list[str]:
    if not levels:
        return ["levels: empty; list the levels from the top down, e.g. "
                f"[{', '.join(DEFAULT_LEVELS)}]"]
    problems, seen = [], set()
    for index, level in enumerate(levels):
        if level in seen:
            problems.append(f"levels[{index}]: duplicate level {level!r}")
        seen.add(level)
    return problems


def _place_head_problems(read: list[tuple[int, Cover, PlaceHead | None]], path: str,
                         bot_id: str) -> list[str]:
    """A micro-grid's building and unit heads (楼栋长、单元长), `read` being its covers as
    (index, place, the item when it names a head) and `path` that of its `covers`:

    - in a building the grid's plain texts name, a head's place lies within them (the head of a
      part of the grid; `8栋1-2单元` when the grid covers only `8栋3单元` is a typo, not a
      widening), the nearest of them named;
    - one head per place: two building heads of one building, or two unit heads sharing a unit,
      are refused; a unit head inside a building that has a building head is allowed (for that
      unit the unit head is the nearer one);
    - the head is a member, not the bot itself (`transport.bot_id`).
    """
    problems = []
    plain: dict[str, list[Cover]] = {}
    for _, cover, head in read:
        if head is None:
            plain.setdefault(cover.building, []).append(cover)
    named: list[tuple[int, Cover, PlaceHead]] = []
    for index, cover, head in read:
        if head is None:
            continue
        where = f"{path}[{index}]"
        covered = plain.get(cover.building)
        if covered and not any(cover.within(one) for one in covered):
            problems.append(
                f"{where}.place: {head.place!r} is not a place this grid covers (of "
                f"{cover.building}栋 it covers only {', '.join(repr(str(one)) for one in covered)})")
        for other_index, other, other_head in named:
            if (other.units is None) == (cover.units is None) and cover.overlaps(other):
                shared = cover if cover.units is None else Cover(
                    cover.building, cover.units & other.units)  # type: ignore[operator]
                problems.append(
                    f"{where}: {shared} already has a {cover.title}, {other_head.head.name} "
                    f"(at {path}[{other_index}]); one head per place")
                break
        named.append((index, cover, head))
        if head.head.id == bot_id:
            problems.append(f"{where}.head.id: {bot_id!r} is the bot itself (transport.bot_id); "
                            f"name the {cover.title}'s own member id")
    return problems


def _place_head_names(root: Node, place_heads: list[tuple[str, Member]]) -> list[str]:
    """A building or unit head whose id the network gives another name (as a head, a deputy or
    another building's head): one member id is one person, so the id or the name is mistyped."""
    wanted = {member.id for _, member in place_heads}
    first: dict[str, tuple[str, str]] = {}   # member id -> (name, where)
    stack: list[tuple[Node, str]] = [(root, "network")]
    while stack:
        node, path = stack.pop()
        for key, member in (("head", node.head), *((f"deputies[{index}]", deputy)
                                                    for index, deputy in enumerate(node.deputies))):
            if member.id in wanted:
                first.setdefault(member.id, (member.name, f"{path}{NODE_STEP}{key}"))
        stack.extend((child, f"{path}{NODE_STEP}{node_label(child.name, child.id, index)}")
                     for index, child in reversed(list(enumerate(node.children))))
    problems = []
    for where, member in place_heads:
        name, there = first.setdefault(member.id, (member.name, where))
        if name != member.name:
            problems.append(f"{where}: member {member.id!r} is named {member.name!r} here but "
                            f"{name!r} at {there}; one id is one person")
    return problems


def _sibling_overlaps(parent: Node, path: str, microgrid_level: str | None) -> list[str]:
    """Two micro-grids of one parent covering the same building or unit: whose is the ticket?"""
    problems: list[str] = []
    # building → (cover, its text, its path, owner id): only covers of one building can overlap.
    claimed: dict[str, list[tuple[Cover, str, str, str]]] = {}
    for child_index, child in enumerate(parent.children):
        if child.level != microgrid_level:
            continue
        child_path = f"{path}{NODE_STEP}{node_label(child.name, child.id, child_index)}"
        for cover_index, item in enumerate(child.covers):
            text = cover_text(item)
            try:
                cover = parse_cover(text)
            except ValueError:
                continue  # reported as unreadable on its own line
            cover_path = f"{child_path}{NODE_STEP}covers[{cover_index}]"
            same_building = claimed.setdefault(cover.building, [])
            for other, other_text, other_path, owner in same_building:
                if owner != child.id and cover.overlaps(other):
                    problems.append(f"{cover_path}: {text!r} overlaps {other_text!r} of sibling "
                                    f"{owner!r} (at {other_path})")
            same_building.append((cover, text, cover_path, child.id))
    return problems
