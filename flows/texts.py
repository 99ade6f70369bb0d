"""Every Chinese text the bot shows people, in one place so it can be read and changed together.

Placeholders are `str.format` fields. Mentions are not written here: a transport puts `@name`
in front of a post from the post's mention list, the way WeChat does.
"""

BOT_NAME = "网格小助手"

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

STATUS_NAMES = {
    "open": "待接单",
    "claimed": "处理中",
    "resolved": "已办结，待评价",
    "closed": "已结单",
    "cancelled": "已撤单",
}

EVENT_NAMES = {
    "created": "提交",
    "claimed": "接单",
    "resolved": "办结",
    "rated": "评价",
    "closed": "结单",
    "reopened": "重新处理",
}

URGENT_MARK = "【紧急】"
NO_LOCATION = "位置未注明"

# 下单
TICKET_CREATED = "已受理 #{number}{urgent}【{category}】{location}\n内容：{description}\n请网格长回复「接单」认领。"
PLACE_ORDER_USAGE = "请在「下单」后写明事项和位置，例如：下单 4号楼二单元4楼的灯不亮"

# Which ticket a command means
NUMBER_NEEDED = "请写明单号，例如：{example}"
TICKET_NOT_FOUND = "没有找到 #{number}，请核对单号。"
TICKET_FINISHED = "#{number} {status}，不能再{action}。"
NOTHING_WAITING = "本群暂无待接的单。"
SEVERAL_WAITING = "本群有 {count} 张待接的单（{numbers}），请回复「接单 #编号」。"

# 接单
CLAIMED = "#{number} 已由 {handler} 接单，正在处理。"
ALREADY_CLAIMED = "#{number} 已由 {handler} 接单，无需重复接单。"
ALREADY_YOURS = "#{number} 您已接单，请处理后回复「办结 #{number} 处理结果」。"
NOT_GRID_HEAD = "抱歉，您不是 #{number} 所属网格的网格长，不能{action}。"

# 办结
RESOLVED = "#{number} 已办结：{result}\n请回复「评价 #{number} 满意」「基本满意」或「不满意」。"
RESOLVED_WITHOUT_NOTE = "#{number} 已办结。\n请回复「评价 #{number} 满意」「基本满意」或「不满意」。"
NOT_HANDLER = "抱歉，#{number} 由 {handler} 处理，只有接单人可以{action}。"
NOT_CLAIMED_YET = "#{number} 还没有人接单，请先「接单 #{number}」。"

# 评价
RATING_USAGE = "请回复「评价 #{number} 满意」「基本满意」或「不满意」，可在后面附上意见。"
NOT_REPORTER = "抱歉，只有提出 #{number} 的居民可以{action}。"
NOT_RESOLVED_YET = "#{number} 还未办结，办结后再评价。"
RATED = "感谢评价！#{number} 已结单（{rating}）。"
REOPENED = "#{number} 评价为不满意，已重新交由 {handler} 继续处理。{comment}"
REOPENED_COMMENT = "意见：{comment}"

# 查询
QUERY_HEADER = "#{number}{urgent}【{category}】{location}\n内容：{description}\n状态：{status}"
QUERY_HANDLER = "（{handler}）"
QUERY_EVENT = "{time} {event} {actor}{note}"
NOT_IN_THIS_GROUP = "抱歉，#{number} 不属于本群的网格，请在所属网格群里{action}。"

# Verbs used in the refusals above ("不能{action}")
ACTIONS = {
    "接单": "接单",
    "办结": "办结",
    "评价": "评价",
    "查询": "查询",
    "进度": "查询",
}

# Examples shown when a command lacks its ticket number
EXAMPLES = {
    "接单": "接单 #12",
    "办结": "办结 #12 已修好",
    "评价": "评价 #12 满意",
    "查询": "查询 #12",
    "进度": "进度 #12",
}

RATINGS = ("基本满意", "不满意", "满意")  # longest first: 不满意 and 基本满意 end in 满意
SATISFIED_RATINGS = frozenset({"满意", "基本满意"})

TIME_FORMAT = "%m-%d %H:%M"


def location_text(building: str | None, unit: str | None, floor: str | None,
                  room: str | None) -> str:
    parts = [f"{building}号楼" if building else "", f"{unit}单元" if unit else "",
             f"{floor}楼" if floor and not room else "", f"{room}室" if room else ""]
    return "".join(parts) or NO_LOCATION
