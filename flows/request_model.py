"""The learned part of the request parser: a category and an urgency read from the words (design §5).

Two logistic regressions share one set of features of a normalised description: its characters,
character pairs and triples (digits as `0`, Latin letters as `a`), and the lexicon's cues (which
category's keywords it holds and which wins among them, an urgent cue, a past or settled cue, a
question). The category model is multinomial over the ten codes; the urgency model is binary,
calibrated by Platt scaling on out-of-fold scores, with its threshold chosen for recall (a missed
danger costs hours, a false alarm costs a head a few minutes).

Both are trained with scikit-learn (`python -m flows.request_model`, from the labelled tune data)
and shipped as `request_model.json`: per feature its weights. Reading a request needs no
scikit-learn: the scores are sums of the weights of the features present, so a request is read in
microseconds and nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MODEL_FILE = "request_model.json"
URGENT = "urgent"  # the column of the urgency model, after the category codes
# The cue of a text that tells only of the past or of something settled (昨天有人打架, 已经找到了),
# with no word of now: in the tune data 2 % of such texts are urgent, so the model must be more
# sure than not (PAST_ONLY_THRESHOLD) before one counts as urgent.
PAST_ONLY = "past_not_present"
PAST_ONLY_THRESHOLD = 0.5
# A danger told as settled (已经处理好了, 找到了) with no word of now is over, and one whose every
# urgent cue is negated (没有煤气味了) is absent: never urgent (design §5).
SETTLED_ONLY = "settled_not_present"
NEGATED_ONLY = "urgent_cue_negated_only"

_DIGITS = re.compile(r"[0-9]+")
_LATIN = re.compile(r"[A-Za-z]+")
_SPACES = re.compile(r"\s+")
# Cues computed by the lexicon: a function of the normalised text giving feature names.
Cues = Callable[[str], Iterable[str]]


def features(text: str, cues: Cues | None = None) -> set[str]:
    """The feature names of a normalised description: character 1-, 2- and 3-grams, and the
    lexicon's cue names (`kw:repair`, `top:safety`, `urgent_cue`, …) when `cues` is given."""
    compact = _SPACES.sub("", _LATIN.sub("a", _DIGITS.sub("0", text)))
    found = {compact[i:i + n] for n in (1, 2, 3) for i in range(len(compact) - n + 1)}
    if cues is not None:
        named = list(cues(text))
        found.update("@" + name for name in named)  # '@' keeps cue names apart from n-grams
        # Character pairs read within the keywords' winning category (`top:safety|铁门`): a pair
        # that tells danger in one kind of request is routine in another (螺丝 in a fire report
        # and on a slide), which a linear model cannot learn from the pair alone.
        top = next((name for name in named if name.startswith("top:") and "+" not in name),
                   "top:none")
        found.update(f"{top}|{compact[i:i + 2]}" for i in range(len(compact) - 1))
    return found


@dataclass(frozen=True)
class Reading:
    """What the model makes of one description."""

    category: str
    category_probabilities: Mapping[str, float]
    urgent_probability: float
    urgent: bool


class RequestModel:
    """The shipped weights; `read` is pure and needs only NumPy."""

    def __init__(self, classes: Sequence[str], weights: Mapping[str, Sequence[float]],
                 bias: Sequence[float], platt: tuple[float, float], threshold: float,
                 about: Mapping[str, Any] | None = None) -> None:
        import numpy as np  # here, not at the top: a command reading no request needs no NumPy

        self.classes = tuple(classes)
        self._index = {name: i for i, name in enumerate(weights)}
        self._weights = np.asarray(list(weights.values()) or np.zeros((0, len(bias))),
                                   dtype=np.float64)
        self._bias = np.asarray(bias, dtype=np.float64)
        self.platt = platt
        self.threshold = threshold
        self.about = dict(about or {})

    def scores(self, found: set[str]) -> np.ndarray:
        """Per category code, then urgency: the linear scores (log-odds before calibration) of a
        text's features."""
        rows = [row for row in map(self._index.get, found) if row is not None]
        if not rows:
            return self._bias.copy()
        return self._weights[rows].sum(axis=0) + self._bias

    def read(self, text: str, cues: Cues | None = None) -> Reading:
        """Category and urgency of a normalised description."""
        import numpy as np

        found = features(text, cues)
        scores = self.scores(found)
        category_scores = scores[:len(self.classes)]
        shares = np.exp(category_scores - category_scores.max())
        shares /= shares.sum()
        best = int(shares.argmax())
        a, b = self.platt
        probability = 1.0 / (1.0 + math.exp(-(a * float(scores[-1]) + b)))
        threshold = self.threshold
        if "@" + PAST_ONLY in found:
            threshold = max(threshold, PAST_ONLY_THRESHOLD)
        if "@" + SETTLED_ONLY in found or "@" + NEGATED_ONLY in found:
            threshold = math.inf
        return Reading(self.classes[best], dict(zip(self.classes, shares.tolist())),
                       probability, probability >= threshold)

    def as_json(self) -> dict[str, Any]:
        return {"about": self.about, "classes": list(self.classes), "columns": [*self.classes, URGENT],
                "bias": [round(float(b), 3) for b in self._bias],
                "platt": list(self.platt), "threshold": self.threshold,
                "weights": {name: [round(float(w), 3) for w in self._weights[i]]
                            for name, i in self._index.items()}}


def load(path: str | Path | None = None) -> RequestModel:
    """The model in `path`, or the shipped one (read once)."""
    if path is None:
        return _shipped()
    return _from_json(json.loads(Path(path).read_text(encoding="utf-8")))


@cache
def _shipped() -> RequestModel:
    return _ShippedModel()


class _ShippedModel(RequestModel):
    """The shipped model, its weights read when first used: 4.5 MB of JSON, a third of a second
    that a command reading no request (`gridbot chat` answering 收到) need not wait."""

    def __init__(self) -> None:  # noqa: D107 - nothing until an attribute is asked for
        pass

    def __getattr__(self, name: str) -> Any:
        # Called only for an attribute not set yet: the first use of the weights.
        if name.startswith("__"):
            raise AttributeError(name)
        self.__dict__.update(_from_json(json.loads(
            resources.files("flows").joinpath(MODEL_FILE).read_text(encoding="utf-8"))).__dict__)
        return object.__getattribute__(self, name)


def _from_json(data: Mapping[str, Any]) -> RequestModel:
    return RequestModel(data["classes"], data["weights"], data["bias"], tuple(data["platt"]),
                        data["threshold"], data.get("about"))


# -- training (scikit-learn, only when the model is rebuilt) --------------------------------------

@dataclass(frozen=True)
class Example:
    text: str       # normalised description
    category: str
    urgent: bool


def train(examples: Sequence[Example], classes: Sequence[str], cues: Cues | None = None,
          c_category: float = 16.0, c_urgent: float = 0.5, min_recall: float = 0.955,
          folds: int = 5, seed: int = 0, min_count: int = 2) -> tuple[RequestModel, dict[str, Any]]:
    """Fit both models; returns the model and its out-of-fold figures on `examples`.

    The urgency threshold is the highest calibrated probability at which the out-of-fold recall
    is still `min_recall` or more (texts that tell only of the past need PAST_ONLY_THRESHOLD
    besides, settled ones are never urgent; the figures count those rules). Raises ImportError without scikit-learn (`pip install -e '.[dev]'`).
    """
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    vectorizer = DictVectorizer(sort=True)
    matrix = vectorizer.fit_transform([dict.fromkeys(features(e.text, cues), 1) for e in examples])
    # A feature seen in fewer than `min_count` requests teaches nothing that generalises, and
    # would make the shipped file many times larger.
    common = np.flatnonzero(np.asarray((matrix > 0).sum(axis=0)).ravel() >= min_count)
    matrix = matrix[:, common]
    names = vectorizer.get_feature_names_out()[common]
    categories = np.array([e.category for e in examples])
    # The category model reads the plain features; the pairs read within a category are the
    # urgency model's (they would make the category decide itself).
    plain = np.array(["|" not in name for name in names])
    category_matrix = matrix[:, np.flatnonzero(plain)]
    urgent = np.array([e.urgent for e in examples], dtype=int)

    def category_fit(rows: np.ndarray) -> Any:
        return LogisticRegression(C=c_category, max_iter=3000).fit(category_matrix[rows],
                                                                    categories[rows])

    def urgent_fit(rows: np.ndarray) -> Any:
        return LogisticRegression(C=c_urgent, max_iter=3000, class_weight="balanced").fit(
            matrix[rows], urgent[rows])

    # Out of fold: each request scored by models that never saw it.
    oof_category = np.empty(len(examples), dtype=object)
    oof_urgent = np.zeros(len(examples))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_rows, test_rows in splitter.split(matrix, urgent):
        oof_category[test_rows] = category_fit(train_rows).predict(category_matrix[test_rows])
        oof_urgent[test_rows] = urgent_fit(train_rows).decision_function(matrix[test_rows])

    platt_fit = LogisticRegression(C=1e6).fit(oof_urgent.reshape(-1, 1), urgent)
    platt = (float(platt_fit.coef_[0][0]), float(platt_fit.intercept_[0]))
    calibrated = 1.0 / (1.0 + np.exp(-(platt[0] * oof_urgent + platt[1])))
    positives = np.sort(calibrated[urgent == 1])
    allowed_misses = int(math.floor((1.0 - min_recall) * len(positives)))
    threshold = float(positives[allowed_misses]) if len(positives) else 0.5
    threshold = math.floor(threshold * 1000) / 1000  # rounded down: recall never below the aim

    cue_sets = [features(e.text, cues) for e in examples]
    past_only = np.array(["@" + PAST_ONLY in found for found in cue_sets])
    settled = np.array(["@" + SETTLED_ONLY in found or "@" + NEGATED_ONLY in found
                        for found in cue_sets])
    said_urgent = ((calibrated >= threshold) & (~past_only | (calibrated >= PAST_ONLY_THRESHOLD))
                   & ~settled)
    truly = urgent == 1
    figures = {
        "requests": len(examples),
        "category": float((oof_category == categories).mean()),
        "urgent_recall": float((said_urgent & truly).sum() / max(1, truly.sum())),
        "urgent_precision": float((said_urgent & truly).sum() / max(1, said_urgent.sum())),
        "threshold": threshold,
    }

    category_model = category_fit(np.arange(len(examples)))
    urgent_model = urgent_fit(np.arange(len(examples)))
    order = [list(category_model.classes_).index(code) for code in classes]
    category_coef = np.zeros((len(names), len(classes)))
    category_coef[plain] = category_model.coef_[order].T
    coef = np.column_stack([category_coef, urgent_model.coef_[0]])
    bias = [*category_model.intercept_[order], urgent_model.intercept_[0]]
    kept = {str(name): row for name, row in zip(names, coef) if np.abs(row).max() >= 0.01}
    about = {"examples": len(examples), "c_category": c_category, "c_urgent": c_urgent,
             "min_recall": min_recall, "out_of_fold": {k: round(v, 4) for k, v in figures.items()}}
    return RequestModel(classes, kept, bias, platt, threshold, about), figures


def training_files() -> list[Path]:
    """The labelled data the model is fitted on: the tune split and the batches of tests/data/tune
    (never the held-out data)."""
    data = Path(__file__).resolve().parent.parent / "tests" / "data"
    return [data / "requests_tune.jsonl", *sorted((data / "tune").glob("*.jsonl"))]


def main(argv: Sequence[str] | None = None) -> None:
    """Rebuild the shipped model from the tune data (tests/data/requests_tune.jsonl and
    tests/data/tune/*.jsonl) and the shipped lexicon; prints the out-of-fold figures."""
    import argparse

    from flows.request_parser import training_examples

    parser = argparse.ArgumentParser(prog="python -m flows.request_model", description=main.__doc__)
    parser.add_argument("--c-category", type=float, default=16.0)
    parser.add_argument("--c-urgent", type=float, default=0.5)
    parser.add_argument("--min-recall", type=float, default=0.955)
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    args = parser.parse_args(argv)

    files = training_files()
    examples, classes, cues = training_examples(files)
    model, figures = train(examples, classes, cues, args.c_category, args.c_urgent, args.min_recall)
    print(json.dumps({"files": [f.name for f in files], **figures,
                      "features": len(model.as_json()["weights"])}, ensure_ascii=False))
    if not args.dry_run:
        (Path(__file__).resolve().parent / MODEL_FILE).write_text(
            json.dumps(model.as_json(), ensure_ascii=False, separators=(",", ":")) + "\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
