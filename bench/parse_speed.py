"""Texts per second of the request parser on the labelled data set, one core.

    python bench/parse_speed.py [--rounds N]

Parses every text of both labelled splits, `--rounds` times over, and prints the best round's
rate (the least disturbed by the rest of the machine). The target of design §5 is 20,000/s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from flows.request_parser import load_lexicon, parse_request

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SPLITS = ("requests_tune.jsonl", "requests_heldout.jsonl")


def texts() -> list[str]:
    found = []
    for name in SPLITS:
        with open(DATA / name, encoding="utf-8") as lines:
            found += [json.loads(line)["text"] for line in lines if line.strip()]
    return found


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rounds", type=int, default=20)
    rounds = options.parse_args().rounds
    corpus = texts()
    lexicon = load_lexicon()
    for text in corpus:  # warm the regex and lexicon caches before timing
        parse_request(text, lexicon)
    best = float("inf")
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        for text in corpus:
            parse_request(text, lexicon)
        best = min(best, time.perf_counter() - started)
        print(f"\rround {round_number}/{rounds}", end="", flush=True)
    print(f"\r{len(corpus)} texts × {rounds} rounds; best round {best * 1000:.1f} ms: "
          f"{len(corpus) / best:,.0f} texts/s on one core")


if __name__ == "__main__":
    main()
