"""The learned part of the request parser (flows.request_model): what is shipped reads exactly as
scikit-learn's fitted models would, and the urgency threshold keeps the recall it was chosen for."""

import json

import numpy as np
import pytest

from flows import request_model
from flows.request_model import Example, features, train
from flows.request_parser import CATEGORIES, load_lexicon

pytest.importorskip("sklearn")

# A small made-up training set: enough for a model to be fitted, not for it to be good.
ROWS = [
    ("楼道灯坏了", "repair", False), ("电梯坏了停运", "repair", False), ("水管爆了水漫到客厅", "repair", True),
    ("窗户玻璃碎了", "repair", False), ("厨房有煤气味还在嘶嘶响", "safety", True),
    ("楼道堆满杂物堵了消防通道", "safety", False), ("电线冒火花烧焦味", "safety", True),
    ("楼下垃圾没人清", "sanitation", False), ("下水道堵了很臭", "sanitation", False),
    ("老鼠多", "sanitation", False), ("楼上邻居天天吵", "dispute", False), ("老板欠薪不给", "dispute", False),
    ("有人在撬车门", "security", True), ("电动车被偷了", "security", False),
    ("门口乱停车", "order", False), ("小广告贴满墙", "order", False),
    ("独居老人摔倒起不来", "care", True), ("困难老人需要送餐", "care", False),
    ("帮我开个居住证明", "service", False), ("想申请低保", "service", False),
    ("医保怎么交", "consult", False), ("什么时候发补贴", "consult", False),
    ("建议加装路灯", "suggestion", False), ("能不能多放几个垃圾桶", "suggestion", False),
] * 3


def _examples():
    return [Example(text, category, urgent) for text, category, urgent in ROWS]


def test_features_are_character_ngrams_with_digits_and_letters_folded_and_the_cues():
    found = features("3栋 ab灯", lambda text: ["kw:repair"])
    assert {"0", "栋", "a", "灯", "0栋", "栋a", "a灯", "0栋a", "栋a灯", "@kw:repair",
            "top:none|0栋", "top:none|栋a", "top:none|a灯"} == found


def test_pairs_are_also_read_within_the_winning_category_for_urgency_only():
    found = features("滑梯螺丝", lambda text: ["kw:safety", "top:safety", "top:safety+question"])
    assert {"top:safety|滑梯", "top:safety|梯螺", "top:safety|螺丝"} <= found
    assert not any(name.startswith("top:safety+question|") for name in found)
    model, _ = train(_examples(), CATEGORIES, load_lexicon().cues, c_category=8.0, folds=3)
    category_columns = len(CATEGORIES)
    within = [name for name in model.as_json()["weights"] if "|" in name]
    assert within, "the urgency model uses the pairs read within a category"
    assert all(not any(model.as_json()["weights"][name][:category_columns]) for name in within)


def test_the_exported_weights_score_as_the_fitted_model(tmp_path):
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    lexicon = load_lexicon()
    model, figures = train(_examples(), CATEGORIES, lexicon.cues, c_category=8.0, folds=3)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.as_json(), ensure_ascii=False), encoding="utf-8")
    shipped = request_model.load(path)

    # The same fit, done again here with scikit-learn alone, on the category model's features
    # (the pairs read within a category are the urgency model's).
    def plain(text):
        return {name: 1 for name in features(text, lexicon.cues) if "|" not in name}

    vectorizer = DictVectorizer()
    matrix = vectorizer.fit_transform([plain(t) for t, _, _ in ROWS])
    fitted = LogisticRegression(C=8.0, max_iter=3000).fit(matrix, [c for _, c, _ in ROWS])
    for text in ("楼道的灯又坏了", "有人撬门", "建议多装几个路灯", "什么时候可以办"):
        expected = fitted.predict_proba(vectorizer.transform([plain(text)]))[0]
        got = shipped.read(text, lexicon.cues).category_probabilities
        assert [got[c] for c in fitted.classes_] == pytest.approx(expected, abs=0.01)
    assert 0 < figures["threshold"] < 1 and figures["requests"] == len(ROWS)


def test_the_threshold_keeps_the_recall_it_was_chosen_for():
    lexicon = load_lexicon()
    for min_recall in (0.8, 1.0):
        _, figures = train(_examples(), CATEGORIES, lexicon.cues, min_recall=min_recall, folds=3)
        assert figures["urgent_recall"] >= min_recall


def test_a_text_with_no_known_feature_gets_the_prior():
    model = request_model.RequestModel(["a", "b"], {"灯": [1.0, 0.0, 0.0]}, [0.0, 2.0, -5.0],
                                       (1.0, 0.0), 0.5)
    read = model.read("电")
    assert read.category == "b" and not read.urgent
    assert model.read("灯").category_probabilities["a"] == pytest.approx(1 / (1 + np.exp(1)))


def test_the_model_is_trained_on_the_tune_data_only_and_no_held_out_text_is_in_it():
    from bot.cli import heldout_files
    from flows.parser_accuracy import read_labelled
    from flows.request_model import training_files

    tuned = training_files()
    held_out = heldout_files()
    assert tuned and held_out and not set(tuned) & set(held_out)
    assert all("heldout" not in path.name and path.parent.name != "heldout" for path in tuned)
    tune_texts = {row["description"] for path in tuned for row in read_labelled(path) if row["is_request"]}
    leaked = [row["text"] for path in held_out for row in read_labelled(path)
              if row["is_request"] and row["description"] in tune_texts]
    assert leaked == []


def test_the_shipped_model_was_fitted_on_the_tune_data_as_it_is():
    # Labelled data added without refitting (python -m flows.request_model) would go unused.
    from flows.parser_accuracy import read_labelled
    from flows.request_model import training_files

    requests = sum(row["is_request"] for path in training_files() for row in read_labelled(path))
    assert request_model.load().about["examples"] == requests
