"""Every Chinese text the bot shows people, in one place so it can be read and changed together.

Placeholders are `str.format` fields. Mentions are not written here: a transport puts `@name`
in front of a post from the post's mention list, the way WeChat does.
"""

BOT_NAME = "网格小助手"
PRIVATE_CHAT = "私聊 {name}"   # where the transcript shows a private message

CATEGORY_NAMES = {
    "repair": "报修",
    "safety": "安全隐患",
    "sanitation": "环境卫生",
    "dispute": "矛盾纠纷",
    "security": "治安",
    "order": "市容秩序",
    "care": "关爱帮扶",
    "service": "代办服务",
    "consult": "政策咨询",
    "suggestion": "意见建议",
}

# The usual level codes of config.yaml, for pages and charts; another code is shown as written.
LEVEL_NAMES = {
    "city": "市",
    "county": "县(市)",
    "township": "乡镇(街道)",
    "village": "村(社区)",
    "branch": "党支部",
    "microgrid": "微网格",
}

STATUS_NAMES = {
    "open": "待接单",
    "claimed": "处理中",
    "resolved": "已办结，待评价",
    "closed": "已结单",
    "cancelled": "已撤单",
    "merged": "已并入同一问题的单",
    "verifying": "已报办结，待核查",
}

EVENT_NAMES = {
    "created": "提交",
    "claimed": "接单",
    "resolved": "办结",
    "rated": "评价",
    "closed": "结单",
    "reopened": "重新处理",
    "detail": "补充",
    "cancelled": "撤单",
    "progress": "进展",
    "given_back": "退单",
    "transferred": "转派",
    "escalated": "吹哨",
    "dispatched": "派单",
    "supervised": "督办",
    "auto_closed": "超期自动结单",
    "reminded": "再次提醒",
    "recategorized": "改类",
    "urgency_changed": "改紧急程度",
    "recalled": "撤回下单消息",
    "joined": "同报",
    "follower_rated": "同报户评价",
    "split": "拆分",
    "notice_ended": "公告结束",
    "verified": "核查通过",
    "verification_failed": "核查不通过",
    "department_called": "呼叫部门",
    "department_reported": "部门报到",
    "department_late": "部门超时未报到",
    "extension_asked": "申请延期",
    "extension_granted": "同意延期",
    "extension_refused": "不同意延期",
    "merged": "并入",
    "evidence": "办结照片",
}

# The words a head writes after 通知 to stop at a level (`通知 支部 …`), by level code; a level
# of the config not named here is written as its code.
LEVEL_WORDS = {
    "city": ("市",),
    "county": ("县", "县市"),
    "township": ("乡镇", "街道", "乡", "镇"),
    "village": ("村社区", "社区", "村"),
    "branch": ("党支部", "支部"),
    "microgrid": ("微网格",),
}

URGENT_MARK = "【紧急】"
NO_LOCATION = "位置未注明"

# 下单
TICKET_CREATED = "已受理 #{number}{urgent}【{category}】{location}\n内容：{description}\n请网格长回复「接单」认领。"
# … when routing rules add co-handlers (协办), who may claim it too
TICKET_CREATED_WITH_CO_HANDLERS = ("已受理 #{number}{urgent}【{category}】{location}\n内容：{description}\n"
                                   "协办：{co_handlers}\n请网格长或协办人回复「接单」认领。")
# … when the request's building or unit has its own head (楼栋长、单元长), who may claim it too
TICKET_CREATED_WITH_PLACE_HEAD = ("已受理 #{number}{urgent}【{category}】{location}\n内容：{description}\n"
                                  "{title}：{place_head}\n请网格长或{title}回复「接单」认领。")
TICKET_CREATED_WITH_PLACE_HEAD_AND_CO_HANDLERS = (
    "已受理 #{number}{urgent}【{category}】{location}\n内容：{description}\n"
    "{title}：{place_head}\n协办：{co_handlers}\n请网格长、{title}或协办人回复「接单」认领。")
# 一事多报: a request of the same problem as an open ticket of the grid
REPEAT_ADDED = "您已报过 #{number}，这条已作为补充记入 #{number}，不再另开新单；处理进展会在群里告知。"
JOINED_EXISTING = "已有 #{number} 同样的问题（{households} 户反映），已为您登记，处理结果会通知您。"
# 合并 / 拆分: a head links a report to the ticket of the same problem, or undoes a wrong link
MERGE_USAGE = "请写明两张单：合并 #13 #12（#13 并入 #12，是同一问题）。"
MERGE_ITSELF = "#{number} 不能并入它自己。"
MERGE_DONE = "#{number} 已并入 #{parent}（{households} 户反映），#{number} 不再单独计时。"
MERGED_TOLD = "您报的 #{number} 与 #{parent} 是同一问题，已并入 #{parent}，处理结果会通知您。"
NOT_MERGED = "#{number} 没有并入其他单，无需拆分。"
SPLIT_DONE = "#{number} 已从 #{parent} 拆出，作为新单等待接单。"
SPLIT_CALL = "#{number} 已从 #{parent} 拆出，是另一个问题，请网格长回复「接单 #{number}」认领。"
# 呼叫 / 报到: a head calls a department in (街乡吹哨、部门报到), its members report
DEPARTMENT_USAGE = "请写明呼叫哪个部门，例如：呼叫 #12 城管（可呼叫：{names}）"
NO_DEPARTMENTS = "本系统还没有配置可呼叫的部门（config.yaml 的 departments）。"
DEPARTMENT_CALL = ("【呼叫】#{number}{urgent}【{category}】{location}\n内容：{description}\n"
                   "来自：{origin}（{caller}）\n请{department}在{limit}内回复「报到 #{number}」，"
                   "之后可回复「进展」「办结」。")
DEPARTMENT_CALLED = "已呼叫{department}，要求{limit}内报到。"
DEPARTMENT_ALREADY = "#{number} 已呼叫过{department}。"
DEPARTMENT_REPORTED = "#{number} {department}已报到（{name}）。"
NOT_CALLED_HERE = "抱歉，#{number} 没有呼叫您所在的部门。"
DEPARTMENT_LATE = "#{number} {department}超过{limit}未报到，请督促或另行协调。"

# 请假 / 销假: a head away, and who stands in (代理)
LEAVE_USAGE = "请写明请假到哪天和代理人，例如：请假 至12月3日 代理 @周敏"
LEAVE_NOT_A_HEAD = "请假代理是网格长用的：请假期间由代理人接收@提醒、吹哨和简报。"
LEAVE_SELF = "代理人要是另一位网格长或网格员。"
LEAVE_SET = ("已登记：{head} 请假至 {last}，期间由 {stand_in} 代理。发给 {head} 的@提醒、吹哨和简报同时发给 "
             "{stand_in}，{stand_in} 可代为接单、办结；回来后请发「销假」。")
LEAVE_ENDED = "{head} 已销假，代理结束。"
NO_LEAVE = "您现在没有请假。"
LEAVE_NOT_RUNNING = "这次请假已经结束，无需销假。"

# 核查: a resolution checked by someone other than the handler before the resident rates
VERIFY_CALL = ("#{number} 已报办结：{result}（处理人：{handler}）\n"
               "请核查后回复「核查 #{number} 通过」或「核查 #{number} 不通过 原因」。")
VERIFY_TOLD = "#{number} 已报办结，正在核查，核查通过后请您评价。"
VERIFY_USAGE = "请写明核查结果：核查 #{number} 通过，或 核查 #{number} 不通过 原因"
NOT_VERIFYING = "#{number} 不在待核查状态。"
NOT_VERIFIER = "抱歉，#{number} 须由处理人以外的{who}核查。"
VERIFIERS = {"head": "本网格网格长", "above": "上级网格长"}
VERIFIED = "#{number} 核查通过，已办结：{result}\n请回复「评价 #{number} 满意」「基本满意」或「不满意」。"
VERIFICATION_FAILED = "#{number} 核查不通过：{reason}。请继续处理，办结后再报核查。"

# 延期: the handler asks for more time, a head above grants or refuses it
EXTENSION_USAGE = "请写明延长多久和原因，例如：延期 #12 3工作日 等配件"
EXTENSION_AFTER_DEADLINE = "#{number} 已超过期限，不能再申请延期，请尽快办结，或请上级协调。"
EXTENSION_TOO_MANY = "#{number} 已延期 {count} 次，不能再申请延期。"
EXTENSION_PENDING = "#{number} 已有一个延期申请在等上级批复。"
EXTENSION_ASKED = ("#{number} 申请延期 {amount}：{reason}（处理人：{handler}）\n"
                   "请回复「同意延期 #{number}」或「不同意延期 #{number} 原因」。")
EXTENSION_ASKED_HERE = "#{number} 的延期申请已报上级批复。"
EXTENSION_GRANTED = "#{number} 延期已同意（{amount}），新期限 {deadline}。"
EXTENSION_REFUSED = "#{number} 延期未同意：{reason}。请按原期限 {deadline} 办结。"
EXTENSION_OWN = "#{number} 的延期由处理人申请，须由另一位上级网格长批复。"
NO_EXTENSION_ASKED = "#{number} 没有待批复的延期申请。"
# policy.extensions.auto_grant_up_to: short extensions are granted at once, by the bot
EXTENSION_AUTO_GRANTED = ("#{number} 申请延期 {amount}：{reason}（不超过 {limit}，自动同意），"
                          "新期限 {deadline}。")
EXTENSION_AUTO_NOTE = "（自动同意）"

# 公告: a head's area-wide notice; reports of its problem in its area join it (一事多报)
NOTICE_USAGE = "请写明公告的内容，例如：公告 3栋 停水 至18:00 自来水公司抢修中"
NOTICE_WHAT = "请写明是什么问题（停水、停电、电梯……），例如：公告 3栋 停水 至18:00 自来水公司抢修中"
NOT_A_NOTICE_HEAD = "抱歉，只有本群或上级网格的网格长可以发公告。"
NOTICE_POSTED = ("【公告】#{number} {text}\n至 {until}。期间本群及下级群同样的反映会登记到此公告，"
                 "不另开单。")
NOTICE_JOINED = "【公告】#{number} {text}\n已为您登记（{households} 户反映），结束时会通知您。"
NOTICE_ENDED = "【公告结束】#{number} {text}\n如仍有问题，请重新「下单」。"
# 通知下发 (flows/circulars.py): a head's circular relayed into every group below, with receipts
CIRCULAR_POST = "【通知#{number}】{sender}：\n{text}\n请网格长回复「收到」确认。"
CIRCULAR_URGENT_POST = "【紧急通知#{number}】{sender}：\n{text}\n请网格长回复「收到」确认。"
CIRCULAR_SENT = "通知#{number} 已下发到本群以下 {count} 个群。回复「通知情况 #{number}」查看收到情况。"
CIRCULAR_QUEUED = "通知#{number} 将在1分钟内下发到本群以下 {count} 个群。回复「通知情况 #{number}」查看收到情况。"
CIRCULAR_SCHEDULED = ("通知#{number} 将于 {at} 下发到本群以下 {count} 个群（免打扰时段不发普通通知，"
                      "急事请用「紧急通知」）。")
CIRCULAR_USAGE = ("请写明通知的内容，例如：通知 明天9点至17点停水，请提前储水。"
                  "只发到某一级：通知 支部 内容、通知 微网格 内容。")
CIRCULAR_NO_GROUPS = "本群以下没有可下发通知的群。"
NOT_A_CIRCULAR_HEAD = "抱歉，只有本群或上级的网格长可以在本群发通知。"
CIRCULAR_RECEIVED = "通知#{number} 已确认收到。"
CIRCULAR_NOT_FOUND = "没有找到通知#{number}，请核对编号。"
CIRCULAR_NUMBER_NEEDED = "请写明通知编号，例如：通知情况 #7"
CIRCULAR_NOT_SENT_YET = "通知#{number} 将于 {at} 下发，尚无收到情况。"
CIRCULAR_STATUS = ("通知#{number}（{sent} {sender}）：下发 {count} 个群，{confirmed} 个群网格长已确认收到，"
                   "{residents} 个群有居民回复收到。")
CIRCULAR_SILENT_HEADER = "网格长未确认的 {count} 个群："
CIRCULAR_SILENT_LINE = "{group}（{head}）"
CIRCULAR_SILENT_MORE = "……另有 {count} 个群，详见管理后台。"
CIRCULAR_ALL_CONFIRMED = "各群网格长均已确认收到。"
# A bare 收到 where a ticket waits for its claim, posted after the circular: which does it answer?
CIRCULAR_WHICH = ("本群还有待确认的通知#{number}。确认通知请引用该通知回复「收到」；"
                  "接单请回复「接单」。")
# policy.circulars.remind_after: once, to each head still silent, in their group
CIRCULAR_REMINDER = "【通知提醒】通知#{number}（{sender}）已下发{elapsed}，请回复「收到」确认：\n{text}"
# The sender's digest: circulars of the node whose groups have not all confirmed
DIGEST_CIRCULARS = "下发的通知未确认收到的群："
DIGEST_CIRCULAR_LINE = "通知#{number}（{sent}）{silent}/{count} 个群未确认：{groups}"

MERGED_INTO = "#{number} 与 #{parent} 是同一问题，已并入 #{parent}，请对 #{parent} {action}。"
QUERY_HOUSEHOLDS = "{households} 户反映：{names}"
PLACE_ORDER_USAGE = "请在「下单」后写明事项和位置，例如：下单 4号楼二单元4楼的灯不亮"
# 下单 posted in a group other than the one whose head handles it: the reporter's answer there
TICKET_CREATED_ELSEWHERE = ("已受理 #{number}{urgent}【{category}】{location}\n内容：{description}\n"
                            "已转「{group}」网格长处理，接单、办结都会在本群告知。")
# A member posting 下单 again and again (policy.request_limit): told once per window
TOO_MANY_REQUESTS = ("您在{window}内已下单 {limit} 次，暂不再受理新的下单；已受理的单正在处理，"
                     "请稍后再下单，或用「补充 #编号 内容」补充。")
DESCRIBE_IN_WORDS = "请用文字写明要办的事和位置，例如：下单 4号楼二单元4楼的灯不亮。图片、语音可以接着发。"

# Which ticket a command means
NUMBER_NEEDED = "请写明单号，例如：{example}"
TICKET_NOT_FOUND = "没有找到 #{number}，请核对单号。"
TICKET_FINISHED = "#{number} {status}，不能再{action}。"
NOTHING_WAITING = "本群暂无待接的单。"
SEVERAL_WAITING = "本群有 {count} 张待接的单（{numbers}），请回复「接单 #编号」。"
TOO_MANY_NUMBERS = "一次最多办理 {limit} 张单，请分几次回复。"
WHICH_ONE = "您引用的消息里有 {count} 张单（{numbers}），请回复「{keyword} #编号」。"

# 接单
CLAIMED = "#{number} 已由 {handler} 接单，正在处理。"
ALREADY_CLAIMED = "#{number} 已由 {handler} 接单，无需重复接单。"
ALREADY_YOURS = "#{number} 您已接单，请处理后回复「办结 #{number} 处理结果」。"
NOT_GRID_HEAD = "抱歉，您不是 #{number} 所属网格的网格长，不能{action}。"
# … said to a building or unit head (楼栋长、单元长) about a ticket of another place
NOT_YOUR_PLACE = "抱歉，#{number} 不在您负责的{places}，不能{action}。"

# 办结
RESOLVED = "#{number} 已办结：{result}\n请回复「评价 #{number} 满意」「基本满意」或「不满意」。"
RESOLVED_WITHOUT_NOTE = "#{number} 已办结。\n请回复「评价 #{number} 满意」「基本满意」或「不满意」。"
NOT_HANDLER = "抱歉，#{number} 由 {handler} 处理，只有接单人可以{action}。"
NOT_CLAIMED_YET = "#{number} 还没有人接单，请先「接单 #{number}」。"

# 评价
RATING_USAGE = "请回复「评价 #{number} 满意」「基本满意」或「不满意」，可在后面附上意见。"
NOT_REPORTER = "抱歉，只有提出 #{number} 的居民可以{action}。"
NOT_RESOLVED_YET = "#{number} 还未办结，办结后再评价。"
SEVERAL_TO_RATE = "您有 {count} 张单待评价（{numbers}），请回复「评价 #编号 满意」「基本满意」或「不满意」。"
NOTHING_TO_RATE = "您暂无待评价的单。"
RATED = "感谢评价！#{number} 已结单（{rating}）。"
# … by a household whose report of the same problem was joined to the ticket
FOLLOWER_RATED = "感谢评价（{rating}），已记入 #{number}。"
REOPENED = "#{number} 评价为不满意，已重新交由 {handler} 继续处理。{comment}"
REOPENED_COMMENT = "意见：{comment}"

# 查询
QUERY_HEADER = "#{number}{urgent}【{category}】{location}\n内容：{description}\n状态：{status}"
QUERY_HANDLER = "（{handler}）"
QUERY_CO_HANDLERS = "协办：{names}"
QUERY_EVENT = "{time} {event} {actor}{note}"
NOT_IN_THIS_GROUP = "抱歉，#{number} 不属于本群的网格，请在所属网格群里{action}。"

# 接单 of an escalated ticket by a head it was escalated to
TAKEN_OVER = "#{number} 已由 {handler} 接手处理（原处理人：{previous}）。"

# Told in the other groups that were asked to act on a ticket (its own group, each group it was
# escalated to) and where the command was said, when the reporter is told elsewhere
CLAIMED_ELSEWHERE = "#{number} 已由 {handler} 接单，本群无需再接单。"
TAKEN_OVER_ELSEWHERE = "#{number} 已由 {handler} 接手处理（原处理人：{previous}），本群无需再接单。"
DISPATCHED_ELSEWHERE = "#{number} 已由 {dispatcher} 派给 {target}，本群无需再接单。"
RESOLVED_ELSEWHERE = "#{number} 已由 {handler} 办结，已请提出人评价。"
CANCELLED_ELSEWHERE = "#{number} 已由提出人撤单，本群无需再处理。"

# 撤回: the reporter recalled the 下单 message
RECALLED = "#{number} 的下单消息已撤回，此单已撤销。"
RECALLED_ELSEWHERE = "#{number} 的下单消息已被提出人撤回，此单已撤销，本群无需再处理。"
RECALL_NOTE_WITHDRAWN = "下单消息被撤回，未接单，自动撤单"
RECALL_NOTE_KEPT = "下单消息被撤回，单已有人处理，未撤单"
RECALLED_WHILE_HANDLED = ("#{number} 的下单消息已被提出人撤回，此单仍由 {handler} 处理；"
                          "如已无需处理，请与提出人确认后「办结 #{number} 原因」。")

# 补充
DETAIL_ADDED = "#{number} 已补充：{detail}"
DETAIL_NEEDED = ("请在单号后写上补充的内容，例如：补充 #{number} 晚上七点后家里有人"
                 "（要补充照片或语音，发完这句后接着发即可）")

# 撤单
CANCELLED = "#{number} 已撤单。"
CANNOT_CANCEL_RESOLVED = "#{number} 已办结，不能撤单；请回复「评价 #{number} 满意」「基本满意」或「不满意」。"

# 进展
PROGRESS_NOTED = "#{number} 进展：{progress}"
PROGRESS_NEEDED = "请在单号后写上进展，例如：进展 #{number} 已联系物业，明天上午维修"

# 退单
GIVEN_BACK = "#{number} 已由 {handler} 退单（{reason}），请网格长重新「接单 #{number}」。"
REASON_NEEDED = "请写明原因，例如：{example}"

# 转派 and 派单
MENTION_NEEDED = "请 @ 要交给的人，例如：{example}"
UNKNOWN_MEMBER = "找不到 @{name}，请核对名字。"
AMBIGUOUS_MEMBER = "有 {count} 位叫 {name} 的网格员，请在所属网格群里办理。"
NOT_AUTHORISED_TARGET = "抱歉，{name} 不是 #{number} 所属网格或上级网格的网格员，不能交给他（她）。"
SAME_HANDLER = "#{number} 已由 {name} 处理，无需交接。"
TRANSFERRED = "#{number} 已由 {handler} 转派给 {target}，请跟进处理。"
DISPATCHED = "#{number} 已由 {dispatcher} 派给 {target}，请跟进处理。"

# 吹哨
WHISTLE_BLOWN = "#{number} 已吹哨上报至「{group}」。"
ESCALATED = "【吹哨】#{number}{urgent}【{category}】{location}\n内容：{description}\n来自：{origin}{reason}\n请回复「接单 #{number}」或「派单 #{number} @网格员」。"
ESCALATION_REASON = "\n原因：{reason}"
# Timed escalation (the scheduler's 吹哨) and reminders at the top
OVERDUE_UNCLAIMED = "超过{limit}未接单"
OVERDUE_UNRESOLVED = "超过{limit}未办结"
# … and how many households reported it (一事多报)
WITH_HOUSEHOLDS = "{reason}（{households} 户反映）"
REMINDER = ("【再次提醒】#{number}{urgent}【{category}】{location}\n内容：{description}\n"
            "已在本群{reason}，请尽快「接单 #{number}」或「派单 #{number} @网格员」。")
AT_THE_TOP = "#{number} 已在最高一级「{group}」，不能再吹哨。"
NOT_A_HEAD_OF_TICKET = "抱歉，您不是 #{number} 所属网格或上级网格的网格长，不能{action}。"

# 改类 / 改紧急 / 改一般: a head corrects what the machine read
RECATEGORIZED = "#{number} 已由 {handler} 改为【{category}】（原为【{previous}】）。"
URGENCY_CHANGED = "#{number} 已由 {handler} 改为{urgency}（原为{previous}），处理时限随之调整。"
URGENCY_CHANGED_CLOSED = "#{number} 已由 {handler} 改为{urgency}（原为{previous}）。"
ALREADY_CATEGORY = "#{number} 已是【{category}】，无需更改。"
ALREADY_URGENCY = "#{number} 已是{urgency}，无需更改。"
CATEGORY_NEEDED = "请写明类别，例如：改类 #{number} 报修。可选：{names}"
UNKNOWN_CATEGORY = "没有「{name}」这个类别，可选：{names}"
NOT_A_CORRECTOR = "抱歉，只有 #{number} 的处理人或所属网格及上级网格的网格长可以{action}。"
URGENCY_NAMES = {True: "紧急", False: "一般"}

# 督办
SUPERVISED = "【督办】#{number} 请抓紧处理（督办人：{supervisor}）。{note}"
SUPERVISION_NOTE = "\n要求：{note}"
SUPERVISION_SENT = "已督办 #{number}。"
NOT_SUPERIOR = "抱歉，只有 #{number} 上级网格的网格长可以{action}。"

# 待办 and 统计
NOT_A_HEAD = "抱歉，只有网格长可以查看{action}。"
TODO_HEADER = "「{scope}」待办 {count} 张："
TODO_LINE = "#{number}{urgent}【{category}】{status} {location} {description}"
TODO_MORE = "……另有 {count} 张，详见管理后台。"
TODO_NONE = "「{scope}」暂无待办。"
STATISTICS = ("「{scope}」共 {total} 张：待接单 {open}，处理中 {claimed}，待核查 {verifying}，"
              "待评价 {resolved}，已结单 {closed}，已撤单 {cancelled}；满意率 {satisfaction}。")
STATISTICS_JOINED = "另有 {joined} 条同一问题的反映已并入上述单。"
NO_RATINGS = "暂无评价"

# Digests for officials (design §7)
DIGEST_HEADER = "【{scope}工作简报】{start} 至 {end}"
DIGEST_COUNTS = ("新增 {new} 张，接单 {claimed} 张，办结 {resolved} 张，超期未办 {overdue} 张；"
                 "平均接单用时 {claim_time}，平均办结用时 {resolve_time}。")
DIGEST_SATISFACTION = "评价：满意 {satisfied}，基本满意 {fair}，不满意 {unsatisfied}。"
DIGEST_PRACTICE = "同意延期 {extensions} 次，部门超时未报到 {late} 次。"
DIGEST_ESCALATED = "吹哨到本级 {count} 张："
DIGEST_OVERDUE = "超期 {count} 张："
DIGEST_TICKET_LINE = "#{number}{urgent}【{category}】{status} {location} {description}（{reporter}）"
DIGEST_NONE = "无"
DIGEST_CONTINUED = "（续 {part}/{parts}）"
NO_AVERAGE = "—"

# Rating window over
AUTO_CLOSED = "#{number} 办结后未在评价期限内评价，已自动结单。"

# Messages longer than the policy allows
TOO_LONG = "您的消息较长，只保留了前 {limit} 字。"

# Verbs used in the refusals above ("不能{action}")
ACTIONS = {
    "接单": "接单",
    "办结": "办结",
    "评价": "评价",
    "查询": "查询",
    "进度": "查询",
    "补充": "补充",
    "撤单": "撤单",
    "进展": "报进展",
    "退单": "退单",
    "转派": "转派",
    "吹哨": "吹哨",
    "派单": "派单",
    "督办": "督办",
    "待办": "待办",
    "统计": "统计",
    "排名": "排名",
    "改类": "改类",
    "改紧急": "改紧急程度",
    "改一般": "改紧急程度",
    "合并": "合并",
    "拆分": "拆分",
    "公告": "发公告",
    "延期": "申请延期",
    "同意延期": "批准延期",
    "不同意延期": "批准延期",
    "核查": "核查",
    "请假": "请假",
    "销假": "销假",
    "呼叫": "呼叫部门",
    "报到": "报到",
    "通知": "发通知",
    "紧急通知": "发通知",
    "通知情况": "查看通知情况",
}

# Examples shown when a command lacks its ticket number
EXAMPLES = {
    "接单": "接单 #12",
    "办结": "办结 #12 已修好",
    "评价": "评价 #12 满意",
    "查询": "查询 #12",
    "进度": "进度 #12",
    "补充": "补充 #12 晚上七点后家里有人",
    "撤单": "撤单 #12",
    "进展": "进展 #12 已联系物业",
    "退单": "退单 #12 不属于本网格",
    "转派": "转派 #12 @周敏",
    "吹哨": "吹哨 #12 需要社区协调",
    "派单": "派单 #12 @邱煥武",
    "督办": "督办 #12",
    "改类": "改类 #12 报修",
    "改紧急": "改紧急 #12",
    "改一般": "改一般 #12",
    "合并": "合并 #13 #12",
    "拆分": "拆分 #13",
    "公告": "公告 3栋 停水 至18:00 自来水公司抢修中",
    "延期": "延期 #12 3工作日 等配件",
    "同意延期": "同意延期 #12",
    "不同意延期": "不同意延期 #12 先临时处理",
    "核查": "核查 #12 通过",
    "请假": "请假 至12月3日 代理 @周敏",
    "销假": "销假",
    "呼叫": "呼叫 #12 城管",
    "报到": "报到 #12",
    "通知": "通知 明天9点至17点停水，请提前储水",
    "紧急通知": "紧急通知 台风预警，今晚请勿外出",
    "通知情况": "通知情况 #7",
}

# Other words for a category a head may write after 改类 (besides its name above and its code).
CATEGORY_ALIASES = {
    "维修": "repair", "修理": "repair", "安全": "safety", "隐患": "safety", "卫生": "sanitation",
    "环境": "sanitation", "环卫": "sanitation", "纠纷": "dispute", "矛盾": "dispute",
    "调解": "dispute", "治安": "security", "市容": "order", "秩序": "order", "城管": "order",
    "关爱": "care", "帮扶": "care", "代办": "service", "服务": "service", "咨询": "consult",
    "政策": "consult", "建议": "suggestion", "意见": "suggestion",
}

RATINGS = ("基本满意", "不满意", "满意")  # longest first: 不满意 and 基本满意 end in 满意
# A rating in the reporter's own words (regular expressions on the normalised text, tried in this
# order) → the rating it counts as. `非常满意` is 满意, `还行` 基本满意, `不太满意` 不满意.
RATING_WORDS = (
    (r"(?:非常|很|特别|十分|极其|极|相当|太|真的?|实在)?(?:不太|不怎么|不是很|不是太|不大|不)满意"
     r"|差评|很差|太差|真差|不行|没修好|没有修好|还没修好|没解决|没有解决|还没解决|还是不行"
     r"|还是坏的|还是没好", "不满意"),
    (r"基本满意|比较满意|还算满意|勉强满意|算是满意|还行|还可以|还凑合|凑合|一般般?|马马虎虎"
     r"|过得去|还好", "基本满意"),
    (r"满意满意|(?:非常|很|特别|十分|超级?|挺|相当|蛮|真的?|太|十二分|万分|最)?满意"
     r"|(?:[5五]星)?好评|满分",
     "满意"),
)
SATISFIED_RATINGS = frozenset({"满意", "基本满意"})

TIME_FORMAT = "%m-%d %H:%M"

# A ticket's deadline in the calendar's terms (flows/deadlines.py): the digest's lines, the dashboard
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
DEADLINE_AT = "限 {date} {weekday} {time} 前"
WORKING_DAYS = "工作日"
WORKING_HOURS = "工作小时"
DEADLINE_LEFT = "剩 {amount} 个{unit}"
DEADLINE_OVERDUE = "已超 {amount} {unit}"
DEADLINE_LEFT_WALL = "剩 {span}"
DEADLINE_OVERDUE_WALL = "已超 {span}"
DIGEST_DEADLINE = " {deadline}"
NO_DEADLINE = "—"


def location_text(building: str | None, unit: str | None, floor: str | None,
                  room: str | None) -> str:
    parts = [f"{building}号楼" if building else "", f"{unit}单元" if unit else "",
             f"{floor}楼" if floor and not room else "", f"{room}室" if room else ""]
    return "".join(parts) or NO_LOCATION


# -- every post the bot makes (design §7): split, grouped --------------------------------------
# The mark opening each part after the first of a post split to the chat service's limits.
POST_CONTINUED = DIGEST_CONTINUED
# The escalations (and reminders) one scan makes into one group, as one post.
GROUPED_ESCALATED = "【吹哨】{count} 张单升级到本群，请回复「接单 #编号」或「派单 #编号 @网格员」："
GROUPED_REMINDED = "【再次提醒】{count} 张单在本群仍未处理，请尽快「接单 #编号」或「派单 #编号 @网格员」："
GROUPED_LINE = "#{number}{urgent}【{category}】{location} {description}（{why}）"
GROUPED_FROM = "来自{origin}：{reason}"
# Many tickets waiting in one group (policy.reminders): one reminder per interval, not one each.
REMINDER_SUMMARY = ("【再次提醒】本群仍有 {count} 张单未接单或未办结{urgent_share}，"
                    "请尽快「接单 #编号」或「派单 #编号 @网格员」。等待最久的 {shown} 张：")
REMINDER_SUMMARY_URGENT = "（其中紧急 {count} 张）"
REMINDER_OVERDUE = "超期{duration}"
REMINDER_WAITING = "已等{duration}"   # whistled up by hand before its timer ran out
REMINDER_SEE_ALL = "全部待办请在本群发「待办」查看，或见管理后台。"

# The dashboard: a form sent without its CSRF token (another site, or a page open too long)
CSRF_REFUSED = "页面已过期或来源不明，操作未执行。请返回后台刷新页面再试。"
BACK_TO_DASHBOARD = "返回管理后台"

# The dashboard's chart of open tickets by level (api/dashboard.py)
CHART_LABEL = "各级待办与超期"
CHART_LEGEND_OPEN = "■ 待办"
CHART_LEGEND_OVERDUE = "■ 超期"
# The chart's last row: tickets of the subtree escalated (吹哨) past its top node, standing above it.
CHART_ESCALATED_ABOVE = "已吹哨到上级"

# The dashboard's notices after an action, by the key its redirect puts in the URL (`?notice=`);
# only these can be shown that way, so no link can put its own words on the page.
DASHBOARD_NOTICES = {
    "claimed": "已接单，通知已发到群里。",
    "circular_sent": "通知已下发到各群。",
    "circular_scheduled": "通知已排定，到时下发。",
}
# The dashboard's circulars (通知下发) page
DASHBOARD_CIRCULAR_EMPTY = "请写明通知的内容。"
DASHBOARD_CIRCULAR_BAD_TIME = "下发时间格式不对，请按页面上的格式填写。"

# Media a message carried (附件, flows/attachments.py): the kinds as counted in chat, in order.
MEDIA_KIND_NAMES = {"image": "照片", "voice": "语音", "video": "视频", "file": "文件",
                    "location": "位置"}
QUERY_ATTACHMENTS = "附件：{counts}{total}"
# Why an attachment joined its ticket, on the dashboard's ticket page.
MEDIA_PURPOSE_NAMES = {"request": "随下单", "detail": "补充", "evidence": "办结照片"}
QUERY_ATTACHMENTS_TOTAL = "（共{size}）"
# A medium over media.max_bytes: not kept; the sender is told once per message.
MEDIA_TOO_LARGE = ("您发的{kind}有{size}，超过了{limit}的上限，未能保存。"
                   "请压缩后重发，或分段发送。")

# 排名 and the monthly 通报 (flows/figures.py, flows/rankings.py)
RANKING_HEADER = "「{scope}」{period}排名（得分＝响应率×{response}＋解决率×{resolution}＋满意率×{satisfaction}）："
RANKING_LINE = ("{place}. {name} {score}分（响应率 {response}，解决率 {resolution}，"
                "满意率 {satisfaction}，受理 {requests} 件）{change}")
RANKING_UP = "，较上期 +{points}分"
RANKING_DOWN = "，较上期 -{points}分"
RANKING_SAME = "，与上期持平"
RANKING_PLACE_WAS = "（上期第{place}名）"
RANKING_UNRANKED = "—. {name} 本期无诉求"
RANKING_NO_UNITS = "「{scope}」下没有可排名的下级网格。"
RANKING_MICROGRID = "抱歉，排名比较的是下一级网格，只有微网格以上的网格长可以查看。"
RANKING_USAGE = "请说「排名」「排名 本月」或「排名 上月」。"
RANKING_PERIODS = {"": "this", "本月": "this", "上月": "last"}
REPORT_HEADER = "【{scope}{period}通报】"
REPORT_SUMMARY = ("受理 {requests} 件（服务 {households} 户次）；响应率 {response}，按期办结率 "
                  "{on_time}，解决率 {resolution}，满意率 {satisfaction}，重办率 {reopen}；"
                  "平均接单用时 {claim_time}，平均办结用时 {resolve_time}。")
REPORT_CHANGE = "较上月：解决率 {resolution}，满意率 {satisfaction}。"
REPORT_RANKING = "各单位排名："
REPORT_CATEGORIES = "诉求最多的类别：{items}"
REPORT_PLACES = "诉求最多的地点：{items}"
REPORT_ITEM = "{name} {count} 件"
REPORT_NONE = "无"
WORKBOOK_TOP_PLACES = "……只列出诉求最多的 {count} 处。"
WORKBOOK_MORE_TICKETS = "……另有 {count} 张未列出，全部工单可用 gridbot tickets export 导出。"
DIGEST_RATES = "三率：响应率 {response}，解决率 {resolution}，满意率 {satisfaction}（按本期受理的诉求）。"
# The dashboard's 考核 page
TREND_LABEL = "每日新增与办结"
TREND_LEGEND_NEW = "■ 新增"
TREND_LEGEND_RESOLVED = "■ 办结"
CATEGORY_CHART_LABEL = "诉求类别"
