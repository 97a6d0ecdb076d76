"""`structserve bench choice-registration`: registering a large choice set in process, by part.

The same synthetic catalog IDs as `structserve bench choice-trie`, registered with the store the
gateway uses (`ChoiceSetStore.create`: validate, digest, tokenize, build, hash, store) into a
temporary folder. Each round times the whole registration with items tokenized joined (512 per
encoding, `choice_sets/joined_encode.py`) and item by item, alternating, then the parts of the
joined one on their own (the store's own functions).

    structserve bench choice-registration --size 1000000 --rounds 2 --out results/registration.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.choice_trie import DEFAULT_TOKENIZER, catalog_ids
from choice_sets.arrays import build_arrays_flat
from choice_sets.store import ChoiceSetLimits, ChoiceSetStore, distinct_digest, item_hashes
from choice_sets.tokenizer import ModelTokenizer


def _seconds(run: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds `run` takes, unrounded (hashing 3,000 items can take under half a millisecond:
    rounded to ms here it read 0.0), and its result."""
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """A row for print: seconds to the microsecond."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}


def create_seconds(items: list[str], tokenizer: ModelTokenizer) -> float:
    """Seconds `ChoiceSetStore.create` takes for `items`, into a fresh temporary store."""
    with tempfile.TemporaryDirectory() as root:
        store = ChoiceSetStore(Path(root), ChoiceSetLimits(max_items=len(items)))
        seconds, _ = _seconds(lambda: store.create("bench", items, [tokenizer]))
    return seconds


def parts(items: list[str], tokenizer: ModelTokenizer) -> dict[str, float]:
    """Seconds of each costly part of a registration, run on its own."""
    row: dict[str, float] = {}
    row["hashes_s"], hashes = _seconds(lambda: item_hashes(items))
    row["digest_s"], _ = _seconds(lambda: distinct_digest(items, hashes))
    row["tokenize_s"], (flat, lengths) = _seconds(lambda: tokenizer.encode_flat(items))
    row["build_s"], _ = _seconds(
        lambda: build_arrays_flat(flat, lengths, tokenizer.vocab_size, tokenizer.end_token)
    )
    return row


def measure(items: list[str], folder: Path, rounds: int) -> list[dict[str, Any]]:
    """`rounds` rows: the whole registration joined and item by item, and the joined parts."""
    joined = ModelTokenizer.open(folder)
    each = ModelTokenizer.open(folder, join_items=False)
    rows = []
    for index in range(rounds):
        row: dict[str, Any] = {"size": len(items), "round": index}
        row["create_joined_s"] = create_seconds(items, joined)
        row["create_each_s"] = create_seconds(items, each)
        row |= parts(items, joined)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one JSON row per round on stdout, all rows to --out."""
    parser = argparse.ArgumentParser(
        prog="structserve bench choice-registration", description=__doc__
    )
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="HF folder")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = [_rounded(r) for r in measure(catalog_ids(args.size), args.tokenizer, args.rounds)]
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0
