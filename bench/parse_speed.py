"""Texts per second of the request parser on the labelled data, one core.

    python bench/parse_speed.py [--rounds N]

Parses every text of the labelled data (tests/data and flows/heldout), `--rounds` times over, and prints the best
round's rate (the least disturbed by the rest of the machine) for the whole parser beside two
baselines measured in the same run: the same parser with the learned model set aside (keywords and
cue lists alone), and the normalisation step alone. The target (issue: parse speed) is 10,000/s.
Progress goes to stderr; the figures end with one JSON line for tools.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from flows.normalize import reading
from flows.request_parser import load_lexicon, parse_request

REPO = Path(__file__).resolve().parent.parent
DATA = [REPO / "tests" / "data", REPO / "flows" / "heldout"]  # the tune and the held-out data


def texts() -> list[str]:
    """Every labelled message (the labelled pairs of repeat reports are no messages)."""
    found = []
    for path in sorted(one for folder in DATA for one in folder.glob("**/*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
        found += [row["text"] for row in rows if "text" in row]
    return found


def best_round(name: str, corpus: list[str], work: Callable[[str], object], rounds: int) -> float:
    for text in corpus:  # warm the regex and lexicon caches before timing
        work(text)
    best = float("inf")
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        for text in corpus:
            work(text)
        best = min(best, time.perf_counter() - started)
        print(f"\r{name}: round {round_number}/{rounds}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return len(corpus) / best


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rounds", type=int, default=10)
    rounds = options.parse_args().rounds
    corpus = texts()
    lexicon = load_lexicon()
    keywords_only = replace(lexicon, model=None)
    rates = {
        "parser": best_round("parser", corpus, lambda text: parse_request(text, lexicon), rounds),
        "keywords_only": best_round("keywords only", corpus,
                                    lambda text: parse_request(text, keywords_only), rounds),
        "normalisation_only": best_round("normalisation only", corpus, reading, rounds),
    }
    print(f"{len(corpus)} texts × {rounds} rounds, best round, one core:")
    print(f"  parser (normalisation, location, model)  {rates['parser']:>9,.0f} texts/s")
    print(f"  baseline: keywords and cue lists alone   {rates['keywords_only']:>9,.0f} texts/s")
    print(f"  baseline: normalisation alone            {rates['normalisation_only']:>9,.0f} texts/s")
    print(json.dumps({"texts": len(corpus), "rounds": rounds,
                      **{k: round(v) for k, v in rates.items()}}))


if __name__ == "__main__":
    main()
