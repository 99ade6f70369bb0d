"""A small naive Bayes model of request categories over characters and character pairs, for the
descriptions in which no keyword of the lexicon is found.

Keywords decide when they are there: they are what an operator reads and extends. Residents also
write things no keyword list foresees (`有人在河道里私自挖沙`), and there the model, trained on the
labelled tune split and on the lexicon's own words, is a better guess than one fixed category.
It ships as `category_model.json` and is rebuilt with `python -m flows.category_model`; nothing is
downloaded at run time.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from operator import add
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

MODEL_FILE = "category_model.json"
_NOT_TEXT = re.compile(r"[\s0-9A-Za-z\W_]+")  # digits, letters, punctuation carry no category


def features(text: str) -> list[str]:
    """The characters of the text and each pair of neighbours, within runs of Chinese text."""
    found: list[str] = []
    for run in _NOT_TEXT.split(text):
        found += list(run)
        found += [run[i:i + 2] for i in range(len(run) - 1)]
    return found


class CategoryModel:
    def __init__(self, classes: Sequence[str], priors: Sequence[float],
                 weights: Mapping[str, Sequence[float]], unseen: Sequence[float]) -> None:
        self.classes = tuple(classes)
        self.priors = tuple(priors)
        self.weights = {feature: tuple(row) for feature, row in weights.items()}
        self.unseen = tuple(unseen)

    def log_scores(self, text: str) -> list[float]:
        scores = self.priors
        weights = self.weights
        for feature in features(text):
            row = weights.get(feature)
            if row is not None:  # a feature never seen in training says nothing
                scores = tuple(map(add, scores, row))
        return list(scores)

    def predict(self, text: str) -> str:
        scores = self.log_scores(text)
        return self.classes[max(range(len(scores)), key=scores.__getitem__)]

    def probabilities(self, text: str) -> dict[str, float]:
        scores = self.log_scores(text)
        top = max(scores)
        shares = [math.exp(score - top) for score in scores]
        total = sum(shares)
        return {code: share / total for code, share in zip(self.classes, shares)}

    def as_json(self) -> dict:
        return {"classes": list(self.classes), "priors": list(self.priors),
                "unseen": list(self.unseen), "weights": dict(self.weights)}


def train(examples: Iterable[tuple[str, str]], classes: Sequence[str],
          smoothing: float = 0.5) -> CategoryModel:
    """Multinomial naive Bayes with additive smoothing; weights rounded to keep the file small."""
    counts = {code: Counter() for code in classes}
    documents = Counter()
    for text, code in examples:
        documents[code] += 1
        counts[code].update(features(text))
    vocabulary = set().union(*counts.values())
    total_documents = sum(documents.values())
    priors = [math.log((documents[c] + 1) / (total_documents + len(classes))) for c in classes]
    totals = {c: sum(counts[c].values()) + smoothing * len(vocabulary) for c in classes}
    unseen = [round(math.log(smoothing / totals[c]), 3) for c in classes]
    weights = {feature: [round(math.log((counts[c][feature] + smoothing) / totals[c]), 3)
                         for c in classes]
               for feature in sorted(vocabulary)}
    return CategoryModel(classes, [round(p, 3) for p in priors], weights, unseen)


def load(path: str | Path | None = None) -> CategoryModel:
    if path is None:
        return _shipped()
    return _from_json(json.loads(Path(path).read_text(encoding="utf-8")))


@cache
def _shipped() -> CategoryModel:
    return _from_json(json.loads(
        resources.files("flows").joinpath(MODEL_FILE).read_text(encoding="utf-8")))


def _from_json(data: Mapping) -> CategoryModel:
    return CategoryModel(data["classes"], data["priors"], data["weights"], data["unseen"])


def main() -> None:
    """Rebuild the shipped model from the tune split and the shipped lexicon."""
    import yaml

    from flows.request_parser import CATEGORIES, _normalize

    root = Path(__file__).resolve().parent
    lexicon = yaml.safe_load((root / "lexicon.yaml").read_text(encoding="utf-8"))
    examples = [(_normalize(word), code) for code, words in lexicon["categories"].items()
                for word in words]
    tune = root.parent / "tests" / "data" / "requests_tune.jsonl"
    with open(tune, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["is_request"]:
                examples.append((_normalize(row["description"]), row["category"]))
    model = train(examples, CATEGORIES)
    (root / MODEL_FILE).write_text(json.dumps(model.as_json(), ensure_ascii=False,
                                              separators=(",", ":")), encoding="utf-8")
    print(f"{MODEL_FILE}: {len(examples)} examples, {len(model.weights)} features")


if __name__ == "__main__":
    main()
