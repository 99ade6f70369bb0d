"""One problem, many reports (一事多报; field cases 08 and 09): the same household posting its
problem again adds to its ticket; another household saying it reports the same problem joins the
ticket, starts no timer of its own, hears the claim and the resolution and may rate; nothing
that disagrees (another place, another thing, another occurrence) is ever joined."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_script import GRID, HEAD, LI, ZHANG, chat, kinds, quoting, replies, say, tickets
from conftest import REPO
from flows import repeat_model, texts
from flows.repeats import (PERSONAL_CATEGORIES, from_two_homes, measure, personal, places_agree,
                           read_pairs, report_of, same_problem)
from models.tables import Status

WANG = "wxid_wang"

# Field case 08: one resident posts the same complaint three times.
CASE_08 = [
    {"id": "h1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 2栋电梯坏了", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "h2", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 2栋电梯坏了", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "h3", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 2栋电梯坏了！！", "at": "2026-11-24T09:04:30+08:00"},
    {"id": "h4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单", "at": "2026-11-24T09:05:00+08:00"},
    {"tick": "2026-11-24T11:30:00+08:00"},
]
# Field case 09: three households report one outage.
CASE_09 = [
    {"id": "i1", "room": GRID, "sender": ZHANG, "name": "张阿姨", "text": "下单 3栋停水了", "at": "2026-11-24T09:00:00+08:00"},
    {"id": "i2", "room": GRID, "sender": LI, "name": "李叔叔", "text": "下单 3栋也停水了，同一个问题", "at": "2026-11-24T09:01:00+08:00"},
    {"id": "i3", "room": GRID, "sender": WANG, "name": "王奶奶", "text": "下单 同一个问题，3栋2单元没水", "at": "2026-11-24T09:02:00+08:00"},
    {"id": "i4", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "接单 #1", "at": "2026-11-24T09:05:00+08:00"},
    {"id": "i5", "room": GRID, "sender": HEAD, "name": "邱煥武", "text": "办结 #1 自来水公司抢修完毕，已恢复供水", "at": "2026-11-24T10:05:00+08:00"},
    {"tick": "2026-11-24T11:30:00+08:00"},
]


async def test_case_08_the_same_resident_again_adds_to_the_first_ticket(db, config):
    posts = await chat(db, config, CASE_08)
    assert replies(posts, "h2") == replies(posts, "h3") == [texts.REPEAT_ADDED.format(number=1)]
    [ticket] = tickets(db)
    assert ticket.status == Status.CLAIMED
    assert kinds(db, 1) == ["created", "detail", "detail", "claimed"]
    assert [p for p in posts if p["reply_to"] is None] == []   # the tick escalated nothing


@pytest.mark.parametrize("again", [
    "2号楼电梯又坏了！！！", "二栋电梯坏了[怒]", "2棟電梯壞了", "2栋的电梯还是坏的，到底有没有人管",
])
async def test_the_same_resident_in_other_words_is_the_same_ticket(db, config, again):
    posts = await chat(db, config, [say("a", ZHANG, "下单 2栋电梯坏了", "张阿姨"),
                                    say("b", ZHANG, f"下单 {again}", "张阿姨")])
    assert replies(posts, "b") == [texts.REPEAT_ADDED.format(number=1)]
    assert len(tickets(db)) == 1


@pytest.mark.parametrize("other", [
    "5栋电梯坏了",                      # another building
    "2栋楼道灯坏了",                    # another thing
    "2栋电梯又有人被困了，这次是3单元",  # another occurrence
    "2栋电梯坏了，还有楼道里的垃圾也没人清",  # a second problem with it
])
async def test_the_same_resident_with_another_problem_gets_a_new_ticket(db, config, other):
    posts = await chat(db, config, [say("a", ZHANG, "下单 2栋电梯坏了", "张阿姨"),
                                    say("b", ZHANG, f"下单 {other}", "张阿姨")])
    assert replies(posts, "b")[0].startswith("已受理 #2")
    assert [t.status for t in tickets(db)] == [Status.OPEN, Status.OPEN]


async def test_case_09_households_reporting_one_outage_join_its_ticket(db, config):
    posts = await chat(db, config, CASE_09)
    assert replies(posts, "i2") == [texts.JOINED_EXISTING.format(number=1, households=2)]
    assert replies(posts, "i3") == [texts.JOINED_EXISTING.format(number=1, households=3)]
    first, second, third = tickets(db)
    assert (second.status, second.parent_id) == (third.status, third.parent_id) == (Status.MERGED, 1)
    assert second.escalation_due_at is None and second.deadline_at is None
    # Every household hears the claim and the resolution, in one post each time.
    for command in ("i4", "i5"):
        [notice] = [p for p in posts if p["reply_to"] == command]
        assert notice["mentions"] == [ZHANG, LI, WANG]
    assert first.status == Status.RESOLVED
    assert [p for p in posts if p["reply_to"] is None] == []   # nothing escalates at 11:30
    assert kinds(db, 1) == ["created", "joined", "joined", "claimed", "resolved"]
    assert kinds(db, 2) == ["created", "merged"]


async def test_the_households_may_rate_and_query_and_the_joined_report_points_to_the_first(db, config):
    posts = await chat(db, config, CASE_09[:5] + [
        say("r1", LI, "评价 #1 满意", "李叔叔"),
        say("r2", ZHANG, "评价 #1 基本满意", "张阿姨"),
        say("r3", WANG, "评价 #1 不满意 水还是黄的", "王奶奶"),
        say("c1", LI, "接单 #2", "李叔叔"),
        say("q1", ZHANG, "查询 #1", "张阿姨"),
    ])
    assert replies(posts, "r1") == [texts.FOLLOWER_RATED.format(number=1, rating="满意")]
    assert replies(posts, "r2") == [texts.RATED.format(number=1, rating="基本满意")]
    assert replies(posts, "r3") == [texts.FOLLOWER_RATED.format(number=1, rating="不满意")]
    assert replies(posts, "c1") == [texts.MERGED_INTO.format(number=2, parent=1, action="接单")]
    [history] = replies(posts, "q1")
    assert "3 户反映：李叔叔、王奶奶" in history and "同报 李叔叔：3栋也停水了，同一个问题" in history
    assert tickets(db)[0].status == Status.CLOSED   # the reporter's rating closes it, not theirs
    assert kinds(db, 1)[-3:] == ["rated", "closed", "follower_rated"]


@pytest.mark.parametrize("second", [
    "5栋停水了，同一个问题",  # another building
    "3栋停电了，同上",        # another thing
    "3栋水是黄的，有铁锈味",  # another problem of the water
])
async def test_other_households_open_their_own_ticket_for_another_problem(db, config, second):
    posts = await chat(db, config, [say("a", ZHANG, "下单 3栋停水了", "张阿姨"),
                                    say("b", LI, f"下单 {second}", "李叔叔")])
    assert replies(posts, "b")[0].startswith("已受理 #2")
    assert tickets(db)[1].status == Status.OPEN and tickets(db)[1].parent_id is None


async def test_a_personal_matter_is_never_joined_across_households(db, config):
    posts = await chat(db, config, [say("a", ZHANG, "下单 帮我开一个居住证明", "张阿姨"),
                                    say("b", LI, "下单 同上，帮我开一个居住证明", "李叔叔")])
    assert replies(posts, "b")[0].startswith("已受理 #2")


async def test_only_open_tickets_of_the_window_are_joined(db, config):
    posts = await chat(db, config, [
        say("a", ZHANG, "下单 2栋电梯坏了", "张阿姨", at="2026-11-24T09:00:00+08:00"),
        say("b", ZHANG, "下单 2栋电梯坏了", "张阿姨", at="2026-11-26T09:00:00+08:00"),   # a day on
        say("c", HEAD, "办结 #2 修好了", "邱煥武", at="2026-11-26T09:10:00+08:00"),
        say("d", ZHANG, "下单 2栋电梯坏了", "张阿姨", at="2026-11-26T09:20:00+08:00"),   # #2 resolved
    ])
    assert replies(posts, "b")[0].startswith("已受理 #2")   # #1 is older than the window
    assert replies(posts, "d")[0].startswith("已受理 #3")   # #2 is resolved
    assert len(tickets(db)) == 3


async def test_joining_can_be_turned_off(db, config):
    repeats = config.policy.repeats.model_copy(update={"enabled": False})
    off = config.model_copy(update={"policy": config.policy.model_copy(update={"repeats": repeats})})
    posts = await chat(db, off, CASE_08[:3])
    assert [replies(posts, id)[0][:6] for id in ("h1", "h2", "h3")] == ["已受理 #1", "已受理 #2", "已受理 #3"]


def test_the_model_is_measured_out_of_fold_on_the_tune_pairs():
    """Refitted as `python -m flows.repeat_model` does (two rounds of folds, not five: one alone
    scores too sharply for its thresholds to be those of the mean), each pair scored by models
    that never saw it: wrong joins stay rare at the thresholds chosen, for either kind of pair,
    and the recall stays near the figures stored with the shipped model (README: five rounds,
    45.0 % of all, 66.0 % of the same household's, 33.1 % of other households'), so a change
    of the features, the vocabulary or the rule that joins less shows here."""
    pytest.importorskip("sklearn")
    pairs = [p for path in repeat_model.training_files() for p in read_pairs(path)]
    _, figures = repeat_model.fit(pairs, repeats=2)
    assert figures["all"]["pairs"] == len(pairs) >= 2000
    assert figures["all"]["precision"] >= 0.95
    assert figures["same_household"]["precision"] >= 0.95
    assert figures["other_households"]["precision"] >= 0.95
    assert figures["all"]["recall"] >= RECALL_FLOOR["all"]
    assert figures["same_household"]["recall"] >= RECALL_FLOOR["same_household"]
    assert figures["other_households"]["recall"] >= RECALL_FLOOR["other_households"]


# The out-of-fold recall the shipped model was chosen with (about.out_of_fold: 45.0 %, 66.0 %,
# 33.1 %), less a few points for two rounds of folds instead of five (the thresholds, chosen for
# both kinds together, move joins from one kind to the other between rounds: the kinds' floors
# are wider): a model that joins less than this has regressed.
RECALL_FLOOR = {"all": 0.40, "same_household": 0.45, "other_households": 0.25}


def test_the_shipped_model_keeps_its_out_of_fold_figures():
    """The figures stored with the shipped model (out of fold, on every tune file, the old
    held-out pairs of 2026-12c, d and e among them) are those reported: precision at least 95 %
    for all and for either kind, recall at least the floor; its thresholds are the ones they
    were counted at."""
    model = repeat_model.load()
    stored = model.about["out_of_fold"]
    for kind in ("all", "same_household", "other_households"):
        assert stored[kind]["precision"] >= 0.95
        assert stored[kind]["recall"] >= RECALL_FLOOR[kind]
    assert stored["thresholds"] == model.thresholds
    fitted_on = [path.name for path in repeat_model.training_files()]
    assert {"pairs_tune_6.jsonl", "pairs_tune_8.jsonl", "pairs_tune_9.jsonl"} <= set(fitted_on)


def test_the_shipped_model_on_the_pairs_it_was_fitted_on():
    """In sample the shipped model does at least as well as out of fold (else it is not the
    model the figures were measured for), and every pair file it was fitted on is counted."""
    model = repeat_model.load()
    pairs = [p for path in repeat_model.training_files() for p in read_pairs(path)]
    stored = model.about["out_of_fold"]
    figures = measure(pairs, model=model)
    assert model.about["pairs"] == len(pairs) == figures["all"]["pairs"]
    assert figures["all"]["precision"] >= stored["all"]["precision"] - 0.02
    assert figures["all"]["recall"] >= stored["all"]["recall"]


def test_the_shipped_model_on_pairs_it_never_saw():
    """pairs_heldout_2026-12g.jsonl: 500 pairs written by another hand from LABELLING.md alone,
    measured once after the model was frozen, its errors not read (README): precision 98.8 %
    (84 of 85 joins), recall 36.5 % (84 of 230). The issue asks 95 % and 80 %. Held here so
    that a change does not do worse on them; tuning on them would make them tune pairs (as the
    sets of 2026-12c, d and e became pairs_tune_6, 8 and 9)."""
    pairs = read_pairs(Path(__file__).parent / "data" / "repeats" / "pairs_heldout_2026-12g.jsonl")
    figures = measure(pairs)
    assert figures["all"]["pairs"] == 500
    assert figures["all"]["precision"] >= 0.98 and figures["all"]["recall"] >= 0.36


def test_the_thresholds_are_chosen_together_with_a_margin():
    """`choose_thresholds`: the most right joins while both kinds together, less their margin of
    error, and each kind alone reach the precision asked; a precision measured on few joins
    needs more of them right (9 of 9 is not 95 % surely, 99 of 100 is)."""
    assert repeat_model.lower_bound(9, 9) < 0.95 < repeat_model.lower_bound(199, 200)
    assert repeat_model.lower_bound(0, 0) == 0.0
    # The same household: 40 right from 0.80 up. Other households: 40 right from 0.90 up, then
    # blocks of one wrong and nine right, each a little lower.
    scores = [0.80 + i / 1000 for i in range(40)] + [0.90 + i / 1000 for i in range(40)]
    truth, kinds = [True] * 80, [True] * 40 + [False] * 40
    score = 0.895
    for _ in range(5):
        for right in [False] + [True] * 9:
            scores.append(score)
            truth.append(right)
            kinds.append(False)
            score -= 0.001
    # At 90 % confidence two blocks: 98 of 100 right, whose lower bound is 95.3 %; a third (107
    # of 110) is 94.5 %. At 95 % (the default) 98 of 100 is 94.2 % and one block only is left.
    assert repeat_model.choose_thresholds(scores, truth, kinds, 0.95, z=1.2816) \
        == {"same": pytest.approx(0.80), "other": pytest.approx(0.876)}
    assert repeat_model.choose_thresholds(scores, truth, kinds, 0.95) \
        == {"same": pytest.approx(0.80), "other": pytest.approx(0.886)}
    # Without the margin other households' own 95 % stops it, at four blocks (76 of 80).
    assert repeat_model.choose_thresholds(scores, truth, kinds, 0.95, z=0.0) \
        == {"same": pytest.approx(0.80), "other": pytest.approx(0.856)}
    # Nothing reaches the precision asked: nothing joins but what scores 1.
    assert repeat_model.choose_thresholds([0.9, 0.8], [False, True], [True, False], 0.95) \
        == {"same": 1.0, "other": 1.0}


def test_the_shipped_trees_read_as_scikit_learn_scores_them():
    """The trees exported to JSON and walked with the standard library give scikit-learn's own
    probabilities, averaged over the members (boosted models of a few trees on made-up 0/1 and
    0–1 features)."""
    np = pytest.importorskip("numpy")
    ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(7)
    rows = (rng.random((300, 5)) > 0.5).astype(float)
    rows[:, 4] = rng.random(300)
    truth = rows[:, 0] + rows[:, 1] * rows[:, 4] + rng.random(300) * 0.5 > 1
    fitted = ensemble.GradientBoostingClassifier(n_estimators=30, max_depth=3, subsample=0.8,
                                                 random_state=0).fit(rows, truth)
    other = ensemble.GradientBoostingClassifier(n_estimators=20, max_depth=2,
                                                random_state=1).fit(rows[:200], truth[:200])
    members = [(repeat_model._bias(m), repeat_model._exported(m)) for m in (fitted, other)]
    model = repeat_model.RepeatModel([f"f{i}" for i in range(5)], members,
                                     {"same": 0.5, "other": 0.5}, {}, 1.0)
    walked = [model.score_row(list(row)) for row in rows]
    expected = (fitted.predict_proba(rows)[:, 1] + other.predict_proba(rows)[:, 1]) / 2
    assert np.allclose(walked, expected, atol=1e-9)
    # Read back from its JSON, it scores the same (rounded as stored).
    again = repeat_model._from_json(model.as_json())
    assert np.allclose([again.score_row(list(row)) for row in rows], walked, atol=1e-4)


def test_a_supply_cut_is_no_personal_matter_unless_said_alone_and_another_compound_is_elsewhere():
    # The parser reads 做不了饭 as care; two households without gas in one building are one cut.
    assert report_of("7栋没气了 做不了饭").category in PERSONAL_CATEGORIES
    assert not personal(report_of("7栋燃气停了 打不着火"), report_of("7栋没气了 做不了饭"))
    assert personal(report_of("帮我开一个居住证明"), report_of("我也要开居住证明"))
    assert not places_agree(report_of("13栋没水"), report_of("隔壁小区也停水了"))
    assert not places_agree(report_of("村口那条路塌了一块"), report_of("村东头那条机耕路被水冲断了"))
    # Said to be theirs alone, a cut is a fault of their home: two households, two faults.
    assert personal(report_of("6号楼停电"), report_of("6号楼一楼商铺没电 别的楼层好像有"))
    assert not same_problem(report_of("停电了"), report_of("跳闸了 就我家没电"), False)


def test_places_and_numbers_must_agree():
    def agree(a, b):
        return places_agree(report_of(a), report_of(b))

    def same(a, b, same_reporter=True):
        return same_problem(report_of(a), report_of(b), same_reporter)

    assert agree("3栋停水", "3栋2单元没水") and agree("3栋停水了", "我家也没水了")
    assert agree("4号楼左边那部电梯停了", "4号楼靠左那台电梯还是不动")   # one side, two words
    assert agree("下水道堵了，7号楼前面", "7号楼门口那个井盖往外冒脏水")  # 前面 and 门口: loosely told
    assert not agree("3栋1单元楼道灯坏了", "3栋2单元楼道灯坏了")
    assert not agree("4号楼1室门口灯不亮", "4号楼2室门口灯不亮")
    assert not agree("东门道闸坏了", "西门道闸坏了")
    assert not agree("一组停电", "四组停电了")                      # two village groups
    assert not agree("地库入口道闸坏了", "地库出口道闸坏了出不去")
    # The same words at two places are two problems, whatever the model makes of the words.
    assert not same("3栋1单元楼道灯坏了", "3栋1单元楼道灯坏了".replace("1单元", "2单元"))
    assert same("2栋电梯坏了", "2號樓電梯又壞了！！")                 # the same words again


def test_what_a_whole_building_shares_spans_its_floors_and_rooms():
    def agree(a, b):
        return places_agree(report_of(a), report_of(b))

    # A cut of a supply both name, or a lift: the floor or the room does not tell them apart.
    assert agree("9-1-302 没水了", "9栋1单元402也没水")
    assert agree("电梯卡在5楼不动了", "电梯坏了 我在1楼按了半天都不来")
    assert agree("8栋2单元停水，没有通知啊", "8栋整栋都没水了，1单元也一样")   # the whole building
    # Anything else: two floors, two rooms, two units are two places.
    assert not agree("4楼漏水", "6楼漏水")
    assert not agree("2栋4楼燃气味", "2栋6楼也闻到燃气味")                  # a smell, not a cut
    assert not agree("10号楼502暖气不热", "10号楼302暖气不热")
    assert not agree("3栋1单元停水", "3栋2单元停水")                        # not said to be all
    assert not agree("9-1-302 没水了", "8栋1单元402也没水")                 # another building
    # Two people named are two homes; two providers two networks.
    assert not agree("独居老人王阿姨两天没出门了", "3栋的李大爷好几天没见着了")
    assert agree("独居老人王阿姨两天没出门了", "12栋王阿姨家我刚去敲门也没人应")
    assert not agree("9栋电信宽带断了", "9栋联通宽带断了")
    assert agree("小区网断了 电信的", "电信宽带我家也连不上")
    # A phase is one place however its number is written.
    assert agree("1期停气了吗", "一期3栋燃气灶打不着")
    assert not agree("1期停气了吗", "二期3栋燃气灶打不着")


def test_an_event_two_households_see_is_left_to_the_model_their_own_matters_are_not():
    # An old man fallen at a gate, a quarrel downstairs: read as care or dispute, but no one's
    # own matter when the reporters are not in it.
    assert not personal(report_of("楼下有个老人摔倒了 在7栋门口"), report_of("7栋门口有个老人倒在地上 谁去看一下"))
    assert not personal(report_of("楼下有人吵架"), report_of("楼下还在吵，已经动手了，快叫保安"))
    # The reporter's own (我妈, 我和对门), a paper, a subsidy, a bill: personal.
    assert personal(report_of("我妈在家摔了，起不来"), report_of("楼下有个老人摔倒了"))
    assert personal(report_of("我和对门因为鞋柜吵起来了"), report_of("楼下有人吵架"))
    assert personal(report_of("高龄补贴怎么申请"), report_of("我爸今年满80了，高龄补贴在哪申请"))
    assert personal(report_of("暖气费什么时候交"), report_of("暖气费交了还是不热"))


def test_two_households_placing_it_from_their_own_homes_tell_of_two_homes():
    # Each household's upstairs, neighbour, flat across the landing is another flat.
    for first, second in [("楼上好像在打孩子，哭得好惨", "我楼上那家孩子一直在哭喊，要不要报警"),
                          ("邻居家狗半夜一直叫", "隔壁狗天天叫 吵死")]:
        assert from_two_homes(report_of(first), report_of(second))
        assert not same_problem(report_of(first), report_of(second), False)
    # Told from a place everyone shares, or by the same household, it is left to the rest.
    assert not from_two_homes(report_of("楼下有人吵架"), report_of("楼下还在吵，已经动手了"))
    assert same_problem(report_of("楼上装修太吵 9栋"), report_of("楼上装修太吵 9栋"), True)
    # 但, 现在是: another problem or occurrence is told.
    assert report_of("6栋来电了，但我家宽带还是断的").another
    assert report_of("楼上装修完了，现在是楼下那户开始装修了").another


def test_a_question_about_a_cut_to_come_reports_nothing():
    assert report_of("5栋停水通知贴了吗？明天几点停").planned
    # Said of the cut under way, a notice is a complaint, not a plan.
    assert not report_of("11栋的水停了能不能提前通知一下").planned
    assert not report_of("怎么又停水了 没通知啊").planned
    assert not same_problem(report_of("5栋停水"), report_of("5栋停水通知贴了吗？明天几点停"), False)
    assert not same_problem(report_of("5栋停水"), report_of("5栋停水通知贴了吗？明天几点停"), True)


# ---- 合并 / 拆分: heads link what the rule left apart, and undo a wrong link ------------------

LINKING = [
    say("m1", ZHANG, "下单 3栋停水了", "张阿姨"),
    say("m2", LI, "下单 3栋水压太小，水龙头只滴几滴", "李叔叔"),  # not joined: pressure, not a cut
    say("m3", WANG, "下单 3栋水压也小，同上", "王奶奶"),           # joins #2, the newest
]


async def test_a_head_merges_a_report_into_the_ticket_of_the_same_problem(db, config):
    posts = await chat(db, config, LINKING + [
        say("x1", LI, "合并 #2 #1", "李叔叔"),
        say("x2", HEAD, "合并 #2 #1", "邱煥武"),
        say("x3", HEAD, "接单 #1", "邱煥武"),
        say("x4", HEAD, "合并 #1", "邱煥武"),
    ])
    assert replies(posts, "x1") == [texts.NOT_A_HEAD_OF_TICKET.format(number=2, action="合并")]
    [told] = [p for p in posts if p["reply_to"] == "x2"]
    assert told["text"] == texts.MERGED_TOLD.format(number=2, parent=1) and told["mentions"] == [LI]
    first, second, third = tickets(db)
    assert (second.status, second.parent_id, second.escalation_due_at) == (Status.MERGED, 1, None)
    assert third.parent_id == 1          # the household that had joined #2 joins #1 with it
    [claimed] = [p for p in posts if p["reply_to"] == "x3"]
    assert claimed["mentions"] == [ZHANG, LI, WANG]
    assert replies(posts, "x4") == [texts.MERGE_USAGE]
    assert kinds(db, 2) == ["created", "joined", "merged"] and kinds(db, 1) == ["created", "joined", "claimed"]


async def test_a_head_splits_a_wrong_link_and_it_waits_for_its_own_claim(db, config):
    posts = await chat(db, config, [
        say("s1", ZHANG, "下单 3栋停水了", "张阿姨"),
        say("s2", LI, "下单 同一个问题，3栋楼道灯也不亮", "李叔叔"),   # another thing: own ticket
        say("s3", WANG, "下单 3栋没水，同上", "王奶奶"),
        say("s4", WANG, "拆分 #3", "王奶奶"),
        say("s5", HEAD, "拆分 #3", "邱煥武"),
        say("s6", HEAD, "拆分 #1", "邱煥武"),
    ])
    assert replies(posts, "s2")[0].startswith("已受理 #2")
    assert tickets(db)[2].status == Status.OPEN   # split at s5
    assert replies(posts, "s4") == [texts.NOT_A_HEAD_OF_TICKET.format(number=3, action="拆分")]
    [call] = [p for p in posts if p["reply_to"] == "s5"]
    assert call["text"] == texts.SPLIT_CALL.format(number=3, parent=1) and call["mentions"] == [HEAD]
    third = tickets(db)[2]
    assert third.parent_id is None and third.escalation_due_at is not None
    assert replies(posts, "s6") == [texts.NOT_MERGED.format(number=1)]
    assert kinds(db, 3) == ["created", "merged", "split"] and kinds(db, 1)[-1] == "split"


async def test_heads_decisions_are_written_as_labelled_pairs_to_refit_the_model(db, config):
    """`gridbot repeats`: each 合并 a pair of the same problem the model missed, each 拆分 a wrong
    join; the last decision on a pair counts, the model's joins nobody undid are no labels."""
    import json

    from typer.testing import CliRunner

    from bot.cli import app as cli

    await chat(db, config, LINKING + [                         # #3 joined #2 by the model
        say("x1", HEAD, "合并 #2 #1", "邱煥武"),                 # the model missed 2 ~ 1
        say("s1", LI, "下单 同一个问题，3栋楼道灯也不亮", "李叔叔"),   # #4
        say("s2", HEAD, "合并 #4 #1", "邱煥武"),                 # a head's mistake…
        say("s3", HEAD, "拆分 #4", "邱煥武"),                    # …undone: the last word counts
    ])
    runner = CliRunner()
    written = runner.invoke(cli, ["repeats", "--db", db.url])
    assert written.exit_code == 0, written.output
    lines = [json.loads(line) for line in written.stdout.splitlines()]
    assert lines == [
        {"first": "3栋停水了", "second": "3栋水压太小，水龙头只滴几滴", "same_reporter": False,
         "same": True},
        {"first": "3栋停水了", "second": "同一个问题，3栋楼道灯也不亮", "same_reporter": False,
         "same": False},
    ]
    assert [list(line) for line in lines] == [["first", "second", "same_reporter", "same"]] * 2
    counted = runner.invoke(cli, ["repeats", "--report", "--db", db.url])
    assert counted.stdout.strip() == ("heads' decisions: 1 (0 same household, 1 another) joined "
                                      "(合并), 1 (0 same household, 1 another) undone (拆分)")


async def test_an_escalation_says_how_many_households_wait(db, config):
    posts = await chat(db, config, CASE_09[:3] + [{"tick": "2026-11-24T11:30:00+08:00"}])
    [whistle] = [p for p in posts if p["reply_to"] is None]
    assert "超过2小时未接单（3 户反映）" in whistle["text"]


async def test_me_too_replying_to_a_notice_joins_its_ticket(db, config):
    notice = "已受理 #1【报修】3号楼\n内容：3栋停水了\n请网格长回复「接单」认领。"
    posts = await chat(db, config, [
        say("a", ZHANG, "下单 3栋停水了", "张阿姨"),
        say("b", LI, quoting(notice, "我家也是！"), "李叔叔"),
        say("c", LI, quoting(notice, "+1"), "李叔叔"),          # again: told again, nothing added
        say("d", ZHANG, quoting(notice, "我也是"), "张阿姨"),    # the reporter: talk
        say("e", WANG, "同上", "王奶奶"),                        # quoting nothing: talk
        say("f", WANG, quoting(notice, "我也是，楼上也没水"), "王奶奶"),  # more than me too: talk
    ])
    joined = texts.JOINED_EXISTING.format(number=1, households=2)
    assert replies(posts, "b") == replies(posts, "c") == [joined]
    assert replies(posts, "d") == replies(posts, "e") == replies(posts, "f") == []
    first, second = tickets(db)
    assert (second.status, second.parent_id, second.reporter_id) == (Status.MERGED, 1, LI)
    assert (second.category, second.building) == (first.category, first.building)


async def test_me_too_to_a_finished_ticket_is_talk(db, config):
    notice = "已受理 #1【报修】3号楼\n内容：3栋停水了\n请网格长回复「接单」认领。"
    posts = await chat(db, config, [
        say("a", ZHANG, "下单 3栋停水了", "张阿姨"),
        say("r", HEAD, "办结 #1 已恢复供水", "邱煥武"),
        say("b", LI, quoting(notice, "我也是"), "李叔叔"),
    ])
    assert replies(posts, "b") == [] and len(tickets(db)) == 1


async def test_statistics_count_each_problem_once(db, config):
    posts = await chat(db, config, CASE_09[:3] + [say("t", HEAD, "统计", "邱煥武")])
    [counts] = replies(posts, "t")
    assert "共 1 张：待接单 1" in counts and counts.endswith(texts.STATISTICS_JOINED.format(joined=2))


async def test_a_digest_counts_a_problem_once(db, config):
    from datetime import datetime, timezone

    from bot.digest_runs import gather_report
    from flows.network import Network

    await chat(db, config, CASE_09[:3])
    network = Network(config)
    with db.session() as session:
        report = gather_report(session, network, network.node("shibalong-1"),
                               datetime(2026, 11, 24, tzinfo=timezone.utc),
                               datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert report.figures.new == 1


# ---- 公告: an area-wide notice that reports of its problem join -------------------------------

BRANCH_HEAD = "wxid_wang_guoqiang"


async def test_an_area_notice_takes_in_the_reports_of_its_problem_until_its_time(db, config):
    posts = await chat(db, config, [
        say("n1", ZHANG, "公告 3栋 停水", "张阿姨"),
        say("n2", HEAD, "公告 3栋 停水 至18:00 自来水公司抢修中", "邱煥武", at="2026-11-24T09:00:00+08:00"),
        say("a", ZHANG, "下单 我家没水了", "张阿姨", at="2026-11-24T09:05:00+08:00"),
        say("b", LI, "下单 3栋2单元也停水了", "李叔叔", at="2026-11-24T09:06:00+08:00"),
        say("c", ZHANG, "下单 还是没水啊", "张阿姨", at="2026-11-24T09:07:00+08:00"),
        say("d", WANG, "下单 5栋停水了", "王奶奶", at="2026-11-24T09:08:00+08:00"),     # elsewhere
        say("e", WANG, "下单 3栋停电了", "王奶奶", at="2026-11-24T09:09:00+08:00"),     # another thing
        {"tick": "2026-11-24T18:01:00+08:00"},
        say("f", LI, "下单 3栋又停水了", "李叔叔", at="2026-11-24T18:30:00+08:00"),     # after it ended
    ])
    assert replies(posts, "n1") == [texts.NOT_A_NOTICE_HEAD]
    notice_text = "3栋 停水 至18:00 自来水公司抢修中"
    assert replies(posts, "n2")[0].startswith(f"【公告】#1 {notice_text}\n至 18:00。")
    assert replies(posts, "a") == [texts.NOTICE_JOINED.format(number=1, text=notice_text, households=1)]
    # Another household, then the first again: told again, counted once.
    assert replies(posts, "b") == replies(posts, "c") == [
        texts.NOTICE_JOINED.format(number=1, text=notice_text, households=2)]
    for own_ticket in ("d", "e", "f"):
        assert replies(posts, own_ticket)[0].startswith("已受理 #")
    [ended] = [p for p in posts if p["reply_to"] is None and "公告结束" in p["text"]]
    assert ended["mentions"] == [HEAD, ZHANG, LI]       # the head and each household, once
    notice = tickets(db)[0]
    assert notice.status == Status.CLOSED and notice.escalation_due_at is None
    assert [t.parent_id for t in tickets(db) if t.status == Status.MERGED] == [1, 1]


async def test_a_notice_of_a_branch_covers_its_micro_grids_and_needs_a_thing(db, config):
    posts = await chat(db, config, [
        say("n0", BRANCH_HEAD, "公告 明天大家注意", "王国强", room="baiyi-b1@chatroom"),
        say("n1", BRANCH_HEAD, "公告 全片区停电 至12:00 线路检修", "王国强", room="baiyi-b1@chatroom"),
        say("a", "wxid_sun", "下单 我们这停电了", "孙阿姨", room="shibalong-2@chatroom"),
        say("b", ZHANG, "下单 停电了 电梯也停了", "张阿姨"),
    ])
    assert replies(posts, "n0") == [texts.NOTICE_WHAT]
    assert replies(posts, "a")[0].startswith("【公告】#1 全片区停电")
    assert replies(posts, "b")[0].startswith("已受理 #")    # the lift too: more than the notice says


async def test_a_township_outage_notice_takes_three_hundred_households_once_each(db, config):
    """After a 公告 at the top of the network, 300 households of its micro-grids report the
    outage within 30 minutes: no ticket of their own, each recorded once and told once, and the
    end reaches each group once, within its pacing."""
    rooms = ["shibalong-1@chatroom", "shibalong-2@chatroom", "shibalong-3@chatroom",
             "baiyi-b2-1@chatroom"]
    lines = [say("n", "wxid_chen_jie", "公告 全街道停水 至12:00 主管道抢修", "陈洁", room="jili@chatroom",
                 at="2026-11-24T09:00:00+08:00")]
    words = ["停水了", "家里没水了", "水龙头不出水", "怎么又停水了"]
    for n in range(300):
        lines.append(say(f"r{n}", f"wxid_h{n}", f"下单 {words[n % 4]}", f"住户{n}", room=rooms[n % 4],
                         at=f"2026-11-24T09:{1 + n // 10:02d}:{(n % 10) * 6:02d}+08:00"))
    lines.append({"tick": "2026-11-24T12:01:00+08:00"})
    posts = await chat(db, config, lines)
    answers = [replies(posts, f"r{n}") for n in range(300)]
    assert all(len(a) == 1 and a[0].startswith("【公告】#1 ") for a in answers)
    with db.session() as session:
        from bot.repeat_reports import households
        assert households(session, tickets(db)[0]) == 300
    assert {t.status for t in tickets(db)[1:]} == {Status.MERGED} and len(tickets(db)) == 301
    ended = [p for p in posts if p["reply_to"] is None and "公告结束" in p["text"]]
    told = [member for p in ended for member in p["mentions"]]
    assert sorted(told) == sorted({"wxid_chen_jie", *(f"wxid_h{n}" for n in range(300))})
    assert len(told) == len(set(told))
    per_room = {}
    for post in ended:
        per_room[post["room"]] = per_room.get(post["room"], 0) + 1
    assert max(per_room.values()) <= config.transport.posts_per_room_per_minute
