"""`structserve bench choice-trie`: the flattened choice-set trie (choice_sets/trie.py) at scale.

Items are synthetic catalog IDs, `"{prefix}-{n:07d}"` with prefixes from a fixed list of 8
product families, tokenized with the model's tokenizer (each item's canonical tokenization, no
special tokens; EOS ends every item).

Per set size: tokenization and build time, the trie's bytes, the per-step mask (`allowed`),
next tokens as ids (`next_tokens`, what the engine uses) and move (`advance`) time at batch 1 and
16 (median over random walks), the engine's whole constraint step on [b, V] float logits both
ways (a mask and `where`, against the processor's ids and `keep_only`; checked equal at every
step), the same mask on a pure-Python pointer trie (dict of dicts, the reference), and
exactness: `--walks` sampled walks must each spell one item, token for token.

    structserve bench choice-trie --sizes 10000 100000 1000000 --out results/choice_trie.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from choice_sets.logits_mask import keep_only
from choice_sets.trie import ChoiceTrie, pointer_trie

FAMILIES = ("SKU", "ICD", "GTIN", "ASIN", "ISBN", "UPC", "EAN", "MPN")
DEFAULT_TOKENIZER = Path.home() / ".cache/structserve/models/smollm2-135m-instruct"


def catalog_ids(count: int) -> list[str]:
    """`count` distinct synthetic IDs over 8 families."""
    return [f"{FAMILIES[i % len(FAMILIES)]}-{i // len(FAMILIES):07d}" for i in range(count)]


def _tokenize(folder: Path, items: list[str]) -> tuple[list[list[int]], int, int]:
    """(token ids per item, vocabulary size, EOS id) with the folder's fast tokenizer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok(items, add_special_tokens=False)["input_ids"]
    return ids, len(tok), int(tok.eos_token_id)


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 4)


def _logits_steps(trie: ChoiceTrie, nodes: torch.Tensor, logits: torch.Tensor) -> list[float]:
    """Seconds of the engine's whole constraint step on `logits` [b, V] (a copy each) both ways:
    a [b, V] mask then `where(mask, x, -inf, out=x)`, and the processor's ids then `keep_only`;
    raises if the two disagree."""
    by_mask, by_ids = logits.clone(), logits.clone()
    minus_inf = torch.tensor(float("-inf"))
    start = time.perf_counter()
    torch.where(trie.allowed(nodes), by_mask, minus_inf, out=by_mask)
    middle = time.perf_counter()
    keep_only(by_ids, list(range(nodes.numel())), trie.next_tokens(nodes))
    end = time.perf_counter()
    if not torch.equal(by_mask, by_ids):
        raise AssertionError("keep_only and the mask disagree")
    return [middle - start, end - middle]


def _walks(trie: ChoiceTrie, batch: int, walks: int, seed: int) -> dict[str, Any]:
    """Sampled walks in batches: step times (the trie's mask and move, and the whole logits
    step both ways) and the spelled sequences."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, trie.vocab_size, generator=gen)  # [b, V]
    mask_s: list[float] = []
    next_s: list[float] = []
    move_s: list[float] = []
    logits_s: list[list[float]] = []
    spelled: list[list[int]] = []
    for _ in range(max(1, walks // batch)):
        nodes = torch.zeros(batch, dtype=torch.long)
        out: list[list[int]] = [[] for _ in range(batch)]
        done = torch.zeros(batch, dtype=torch.bool)
        while not bool(done.all()):
            start = time.perf_counter()
            mask = trie.allowed(nodes)  # [B, V]
            mask_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            trie.next_tokens(nodes)  # [B, K]: what the engine's processor asks for
            next_s.append(time.perf_counter() - start)
            logits_s.append(_logits_steps(trie, nodes, logits))
            tokens = torch.multinomial(mask.float(), 1, generator=gen).squeeze(1)  # [B]
            start = time.perf_counter()
            nodes = trie.advance(nodes, tokens)
            move_s.append(time.perf_counter() - start)
            for b in torch.nonzero(~done).flatten().tolist():
                out[b].append(int(tokens[b]))
            done |= tokens == trie.end_token
        spelled += out
    return {
        "mask_ms": _median_ms(mask_s),
        "next_ms": _median_ms(next_s),
        "advance_ms": _median_ms(move_s),
        "step_where_ms": _median_ms([s[0] for s in logits_s]),
        "step_keep_ms": _median_ms([s[1] for s in logits_s]),
        "spelled": spelled,
    }


def _reference_step_ms(root: dict[int, Any], vocab: int, batch: int, steps: int) -> float:
    """Median time of one [batch, V] mask from the pointer trie's children, walking down."""
    times: list[float] = []
    nodes = [root] * batch
    for _ in range(steps):
        start = time.perf_counter()
        mask = torch.zeros(batch, vocab, dtype=torch.bool)
        for b, node in enumerate(nodes):
            mask[b, list(node)] = True
        times.append(time.perf_counter() - start)
        nodes = [n[next(iter(n))] if n else root for n in nodes]
    return _median_ms(times)


def measure(sequences: list[list[int]], vocab: int, end: int, walks: int) -> dict[str, Any]:
    """One set size: build, bytes, steps at batch 1 and 16, the reference, exactness."""
    start = time.perf_counter()
    trie = ChoiceTrie.build(sequences, vocab, end)
    row: dict[str, Any] = {"build_s": round(time.perf_counter() - start, 3)}
    row |= {"items": trie.items, "nodes": trie.nodes, "trie_mb": round(trie.nbytes / 1e6, 1)}
    members = {tuple(s) for s in sequences}
    wrong = 0
    for batch in (1, 16):
        got = _walks(trie, batch, walks if batch == 16 else min(walks, 200), seed=batch)
        row[f"mask_ms_b{batch}"], row[f"advance_ms_b{batch}"] = got["mask_ms"], got["advance_ms"]
        row[f"next_ms_b{batch}"] = got["next_ms"]
        row[f"step_where_ms_b{batch}"] = got["step_where_ms"]
        row[f"step_keep_ms_b{batch}"] = got["step_keep_ms"]
        wrong += sum(1 for s in got["spelled"] if s[-1] != end or tuple(s[:-1]) not in members)
        row[f"walks_b{batch}"] = len(got["spelled"])
    row["not_members"] = wrong
    start = time.perf_counter()
    root = pointer_trie(sequences, end)
    row["reference_build_s"] = round(time.perf_counter() - start, 3)
    row["reference_mask_ms_b16"] = _reference_step_ms(root, vocab, 16, 50)
    return row


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one JSON row per size on stdout, all rows to --out."""
    parser = argparse.ArgumentParser(prog="structserve bench choice-trie", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="HF folder")
    parser.add_argument("--walks", type=int, default=10_000, help="sampled walks at batch 16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes:
        items = catalog_ids(size)
        start = time.perf_counter()
        sequences, vocab, end = _tokenize(args.tokenizer, items)
        row = {"size": size, "tokenize_s": round(time.perf_counter() - start, 3)}
        row |= measure(sequences, vocab, end, args.walks)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0
