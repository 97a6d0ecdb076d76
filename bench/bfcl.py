"""`structserve bench bfcl`: tool calling on BFCL (AST categories), structserve vs vLLM direct.

Both targets serve the same model and see the same requests (BFCL function docs converted to
OpenAI tools as BFCL's OpenAI function-calling handler does, `strict: true`, `tool_choice:
"auto"`, temperature 0) and the same prompt (a parity preflight proves it token for token).
Each target is run in turn; a target without a URL is started here and stopped after its run.
Scoring uses BFCL's own AST checker from the bfcl-eval wheel (bench/bfcl_check.py).

    structserve bench bfcl --limit 5 --out results/bfcl
    structserve bench bfcl --structserve-url http://127.0.0.1:8000 --targets structserve
    structserve bench bfcl --categories simple_python,irrelevance --vllm-url http://127.0.0.1:8300

Writes DIR/result.json (settings, versions, parity, the table, every request) and
DIR/summary.md (the table).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import bfcl_report, bfcl_targets
from bench.bfcl_check import Checker, load_checker
from bench.bfcl_data import BFCL_VERSION, CATEGORIES, Entry, ensure_wheel, load_category
from bench.bfcl_data import wheel_version as read_wheel_version
from bench.bfcl_prompt import check_parity
from bench.bfcl_run import Outcome, RunSettings, run_target
from bench.bfcl_tools import to_tools
from bench.report import git_commit, machine
from compress.options import from_namespace
from server.settings import load_settings

TARGETS = ("structserve", "vllm", "vllm-xgrammar")
"""structserve; vLLM direct with structserve's engine flags; the same with the xgrammar backend."""


@dataclass(frozen=True)
class BfclConfig:
    """All of `structserve bench bfcl`'s flags, parsed once (see `--help`)."""

    categories: str
    limit: int | None
    targets: str
    structserve_url: str | None
    structserve_src: str | None
    vllm_url: str | None
    port: int
    engine_port: int
    vllm_port: int
    max_tokens: int
    tool_choice: str
    concurrency: int
    parity_samples: int
    wheel: str | None
    out: str
    no_progress: bool


def build_parser() -> argparse.ArgumentParser:
    """The `structserve bench bfcl` argument parser."""
    p = argparse.ArgumentParser(
        prog="structserve bench bfcl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = p.add_argument
    add("--categories", default=",".join(CATEGORIES), help="BFCL categories, comma-separated.")
    add("--limit", type=int, help="First N entries per category (default: all).")
    add("--targets", default="structserve,vllm,vllm-xgrammar", help="Which targets, in run "
        "order: structserve, vllm (vLLM direct, structserve's engine flags), vllm-xgrammar "
        "(the same with the xgrammar structured-outputs backend).")  # fmt: skip
    add("--structserve-url", help="A running structserve gateway (default: start one).")
    add("--structserve-src", help="structserve source put on PYTHONPATH of the gateway started "
        "here (default: this checkout).")  # fmt: skip
    add("--vllm-url", help="A running vLLM server with tool calling, used for the vllm "
        "targets (default: start one per target).")  # fmt: skip
    add("--port", type=int, default=8300, help="Port of the gateway started here.")
    add("--engine-port", type=int, default=8310, help="Port of that gateway's engine.")
    add("--vllm-port", type=int, default=8320, help="Port of the vLLM direct server started here.")
    add("--max-tokens", type=int, default=256, help="Completion budget per request.")
    add("--tool-choice", choices=("auto", "required"), default="auto", help="tool_choice of "
        "entries that expect a call (irrelevance entries always get auto).")  # fmt: skip
    add("--concurrency", type=int, default=1, help="Requests in flight per target.")
    add("--parity-samples", type=int, default=3, help="Entries per category in the prompt "
        "parity preflight (0: skip it).")  # fmt: skip
    add("--wheel", help=f"bfcl-eval wheel (default: bfcl-eval=={BFCL_VERSION} from the cache, "
        "downloaded with pip --no-deps when missing).")  # fmt: skip
    add("--out", required=True, help="Output folder.")
    add("--no-progress", action="store_true", help="No progress bars.")
    return p


def load_entries(wheel: Path, categories: list[str], limit: int | None) -> list[Entry]:
    """Every requested category's first `limit` entries, in category order."""
    return [e for c in categories for e in load_category(wheel, c, limit)]


def parity_samples(entries: Sequence[Entry], per_category: int) -> list[tuple[str, Any, Any]]:
    """(id, messages, tools) of the first `per_category` entries of each category."""
    taken: dict[str, int] = {}
    samples = []
    for entry in entries:
        if taken.get(entry.category, 0) < per_category:
            taken[entry.category] = taken.get(entry.category, 0) + 1
            samples.append((entry.id, entry.messages, to_tools(entry.functions, strict=True)))
    return samples


def _model_template(model_dir: Path | None) -> str | None:
    if model_dir is None:
        return None
    path = model_dir / "chat_template.jinja"
    if path.is_file():
        return path.read_text()
    config = model_dir / "tokenizer_config.json"
    template = json.loads(config.read_text()).get("chat_template") if config.is_file() else None
    return template if isinstance(template, str) else None


@contextlib.contextmanager
def _server(name: str, config: BfclConfig, logs: Path) -> Iterator[bfcl_targets.Server]:
    settings = load_settings({})
    if name == "structserve" and config.structserve_url:
        yield bfcl_targets.Server(config.structserve_url, settings.model, None)
    elif name == "structserve":
        src = Path(config.structserve_src) if config.structserve_src else None
        log = logs / "structserve.log"
        print(f"starting structserve (log {log})", file=sys.stderr)
        with bfcl_targets.structserve(config.port, config.engine_port, log, source=src) as s:
            yield s
    elif config.vllm_url:
        yield bfcl_targets.Server(config.vllm_url, settings.model, None)
    else:
        log = logs / f"{name}.log"
        print(f"starting vLLM direct, {name} (log {log})", file=sys.stderr)
        backend = bfcl_targets.XGRAMMAR_CONFIG if name == "vllm-xgrammar" else None
        with bfcl_targets.vllm_direct(
            config.vllm_port, log, structured_outputs_config=backend
        ) as s:
            yield s


def _preflight(
    server: bfcl_targets.Server, entries: Sequence[Entry], config: BfclConfig
) -> dict[str, Any]:
    """The parity preflight against vLLM direct; raises SystemExit on any mismatch."""
    settings = load_settings({})
    folder = server.model_dir or settings.cache_dir / "models" / settings.model
    samples = parity_samples(entries, config.parity_samples)
    verdict = check_parity(server.url, server.model, samples, _model_template(folder))
    report = {
        "checked": verdict.checked,
        "mismatches": verdict.mismatches,
        "plain_template": verdict.plain_template,
        "renderer": verdict.renderer,
    }
    plain = f"{verdict.renderer} messages, {verdict.plain_template} template"
    print(f"parity: {verdict.checked} prompts, {len(verdict.mismatches)} differ (plain side: "
          f"{plain})", file=sys.stderr)  # fmt: skip
    if verdict.mismatches:
        raise SystemExit(f"prompt parity failed for {verdict.mismatches}: vLLM direct's tool "
                         "template does not render structserve's prompt")  # fmt: skip
    return report


def run(config: BfclConfig, argv: Sequence[str]) -> dict[str, Any]:
    """Run every target in turn and return result.json's content."""
    settings = load_settings({})
    wheel = Path(config.wheel) if config.wheel else ensure_wheel(settings.cache_dir)
    checker: Checker = load_checker(wheel, settings.cache_dir / "bfcl")
    categories = [c for c in config.categories.split(",") if c]
    entries = load_entries(wheel, categories, config.limit)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, list[Outcome]] = {}
    parity: dict[str, Any] = {}
    for name in [t for t in config.targets.split(",") if t]:
        if name not in TARGETS:
            raise SystemExit(f"unknown target {name!r} (known: {', '.join(TARGETS)})")
        with _server(name, config, out) as server:
            if name.startswith("vllm") and config.parity_samples > 0:
                parity[name] = _preflight(server, entries, config)
            run_settings = RunSettings(
                model=server.model,
                max_tokens=config.max_tokens,
                concurrency=config.concurrency,
                progress=not config.no_progress,
                tool_choice=config.tool_choice,
            )
            outcomes[name] = asyncio.run(
                run_target(server.url, entries, checker, run_settings, name)
            )
    return {
        "provenance": {
            "argv": list(argv),
            "git_commit": git_commit(),
            "structserve_src": config.structserve_url or config.structserve_src or "this checkout",
            "structserve_src_commit": git_commit(Path(config.structserve_src))
            if config.structserve_src
            else None,
            "machine": machine(),
            "bfcl_eval_version": read_wheel_version(wheel),
            "model": settings.model,
            "max_tokens": config.max_tokens,
            "tool_choice": config.tool_choice,
            "concurrency": config.concurrency,
            "limit_per_category": config.limit,
        },
        "parity": parity,
        "summary": bfcl_report.table(outcomes),
        "requests": {name: [o.to_json() for o in rows] for name, rows in outcomes.items()},
    }


def main(argv: Sequence[str]) -> int:
    """`structserve bench bfcl`: run, write result.json and summary.md, print the table."""
    config = from_namespace(BfclConfig, build_parser().parse_args(list(argv)))
    result = run(config, argv)
    out = Path(config.out)
    (out / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    p = result["provenance"]
    header = {
        "bfcl-eval": p["bfcl_eval_version"],
        "model": p["model"],
        "requests": f"tool_choice {p['tool_choice']} (irrelevance: auto), temperature 0, "
        f"max_tokens {p['max_tokens']}, concurrency {p['concurrency']}",
        "limit per category": p["limit_per_category"] or "all",
        "prompt parity": ", ".join(
            f"{name}: {v['checked']} prompts identical" for name, v in result["parity"].items()
        )
        or "not checked",
    }
    text = bfcl_report.markdown(result["summary"], header)
    (out / "summary.md").write_text(text)
    print(text)
    print(f"wrote {out / 'result.json'}, {out / 'summary.md'}", file=sys.stderr)
    return 0
