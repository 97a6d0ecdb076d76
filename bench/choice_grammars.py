"""`structserve bench choice-grammars`: the grammar engines given a choice set as an alternation
(issue 18's comparison), beside the trie (`structserve bench choice-trie`).

For each set size (synthetic catalog IDs, `bench.choice_trie.catalog_ids`) and each engine
(llguidance, the gateway's and vLLM's `guidance` backend; xgrammar, vLLM's default), a child
process under `--timeout` compiles the alternation of every item as vLLM builds a `choice` for
that backend, then walks 16 matchers along items' canonical tokens, timing the
next-token mask of all 16 each step (the engines mask one request at a time). Reported: compile
seconds (or `timeout`/the error), the child's RSS growth, the mask time of one step at batch 1 and
16, and whether the walked items were accepted.

    structserve bench choice-grammars --sizes 10000 100000 1000000 --timeout 180 \
        --out results/choice_grammars.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import statistics
import time
from pathlib import Path
from typing import Any

import psutil

from bench.choice_trie import DEFAULT_TOKENIZER, catalog_ids

BATCH = 16


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _llguidance(tokenizer: Any, items: list[str]) -> tuple[Any, Any]:
    """(compile, matcher factory, mask and advance functions) for llguidance."""
    import llguidance
    import llguidance.hf
    import llguidance.torch

    lltok = llguidance.hf.from_tokenizer(tokenizer)
    grammar = llguidance.grammar_from("choice", items)  # as vLLM's guidance backend builds it
    check = llguidance.LLMatcher(lltok, grammar)
    if check.is_error():
        raise RuntimeError(check.get_error())
    bitmask = llguidance.torch.allocate_token_bitmask(1, lltok.vocab_size)

    def new() -> Any:
        return llguidance.LLMatcher(lltok, grammar)

    def mask(matcher: Any) -> None:
        llguidance.torch.fill_next_token_bitmask(matcher, bitmask, 0)

    def advance(matcher: Any, token: int) -> bool:
        return bool(matcher.consume_token(token)) and not matcher.is_error()

    def error(matcher: Any) -> str | None:
        return str(matcher.get_error()) if matcher.is_error() else None

    return new, (mask, advance, error)


def _xgrammar(tokenizer: Any, items: list[str]) -> tuple[Any, Any]:
    """The same for xgrammar."""
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
    ebnf = "root ::= " + " | ".join(json.dumps(item) for item in items)  # vLLM's choice grammar
    compiled = xgrammar.GrammarCompiler(info, max_threads=1).compile_grammar(ebnf)
    bitmask = xgrammar.allocate_token_bitmask(1, info.vocab_size)

    def new() -> Any:
        return xgrammar.GrammarMatcher(compiled)

    def mask(matcher: Any) -> None:
        matcher.fill_next_token_bitmask(bitmask, 0)

    def advance(matcher: Any, token: int) -> bool:
        return bool(matcher.accept_token(token))

    def error(matcher: Any) -> str | None:
        return None  # xgrammar reports refusals through accept_token

    return new, (mask, advance, error)


ENGINES = {"llguidance": _llguidance, "xgrammar": _xgrammar}


def _child(engine: str, size: int, tokenizer_dir: str, out: Any) -> None:
    """Compile and walk in this process; put the row (or the engine's refusal) on `out`."""
    try:
        out.put(_compile_and_walk(engine, size, tokenizer_dir))
    except Exception as exc:  # the engine's refusal is the result
        out.put({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})


def _compile_and_walk(engine: str, size: int, tokenizer_dir: str) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    items = catalog_ids(size)
    walked = items[:: max(1, size // BATCH)][:BATCH]
    paths = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in walked]
    base = _rss()
    start = time.perf_counter()
    new, (mask, advance, error) = ENGINES[engine](tokenizer, items)
    row: dict[str, Any] = {"compile_s": round(time.perf_counter() - start, 3)}
    row["rss_growth_mb"] = round((_rss() - base) / 2**20, 1)
    matchers = [new() for _ in paths]
    one: list[float] = []
    batch: list[float] = []
    accepted = [True] * len(paths)
    for step in range(max(len(p) for p in paths)):
        start = time.perf_counter()
        mask(matchers[0])
        one.append(time.perf_counter() - start)
        start = time.perf_counter()
        for matcher in matchers:
            mask(matcher)
        batch.append(time.perf_counter() - start)
        for i, path in enumerate(paths):
            if step < len(path):
                accepted[i] = accepted[i] and advance(matchers[i], path[step])
    row["mask_ms_b1"] = round(statistics.median(one) * 1e3, 4)
    row[f"mask_ms_b{BATCH}"] = round(statistics.median(batch) * 1e3, 4)
    row["walks_accepted"] = sum(accepted)
    errors = {e for e in (error(m) for m in matchers) if e}
    if errors:
        row["matcher_error"] = sorted(errors)[0].splitlines()[0][:200]
    return row


def measure(engine: str, size: int, tokenizer_dir: Path, timeout_s: float) -> dict[str, Any]:
    """One engine on one size in a child process, killed at `timeout_s`."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(engine, size, str(tokenizer_dir), out))
    start = time.perf_counter()
    proc.start()
    proc.join(timeout_s)
    row: dict[str, Any] = {"engine": engine, "size": size}
    if proc.is_alive():
        proc.kill()
        proc.join()
        return row | {"compile_s": f"timeout after {timeout_s:.0f} s"}
    try:
        got = out.get(timeout=5)
    except queue.Empty:
        return row | {"error": f"exit code {proc.exitcode}"}
    return row | got | {"wall_s": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one JSON row per (engine, size) on stdout, all rows to --out."""
    parser = argparse.ArgumentParser(prog="structserve bench choice-grammars", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="HF folder")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per engine and size")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes:
        for engine in args.engines:
            row = measure(engine, size, args.tokenizer, args.timeout)
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0
