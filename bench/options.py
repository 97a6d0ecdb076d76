"""Command-line pieces `bench serve` and `bench soak` share: typed configs, the workload flags.

Each subcommand parses its flags once into frozen dataclasses (`from_namespace`); the functions
that run the benchmark take those, never an `argparse.Namespace`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from bench.records import BenchRequest
from bench.tokens import TokenCounter
from bench.workloads import (
    LengthDist,
    WorkloadSources,
    build_requests,
    file_sha256,
    requests_sha256,
)


def csv_floats(text: str) -> list[float]:
    """`1,2.5` -> [1.0, 2.5] (an argparse `type`)."""
    return [float(x) for x in text.split(",") if x.strip()]


def csv_ints(text: str) -> list[int]:
    """`1,16` -> [1, 16] (an argparse `type`)."""
    return [int(x) for x in text.split(",") if x.strip()]


def utc_stamp() -> str:
    """The current UTC time as `20260101T120000Z` (default result folder names)."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def resolve_model(base_url: str, api_key: str | None) -> str:
    """The first model id the server lists at `/v1/models`."""
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    response = httpx.get(f"{root}/v1/models", headers=headers, timeout=30.0, trust_env=False)
    response.raise_for_status()
    models = response.json().get("data") or []
    if not models:
        raise SystemExit(f"{root}/v1/models lists no model; pass --model")
    model: str = models[0]["id"]
    return model


@dataclasses.dataclass(frozen=True)
class WorkloadConfig:
    """What is sent: the `workload` flags of `bench serve` and `bench soak` (see `--help`)."""

    workload: str
    num_prompts: int
    input_len: str
    output_len: str
    ignore_eos: bool
    temperature: float
    cache_salt: str | None
    json_max_tokens: int
    json_subsets: str
    json_max_schema_chars: int
    corpus: str
    jsonschema_archive: str
    tokenizer: str | None
    seed: int


def add_workload_args(w: argparse._ArgumentGroup, data: Path) -> None:
    """The flags of `WorkloadConfig`; corpus and archive default to files under `data`."""
    add = w.add_argument
    add("--workload", default="synthetic", help="Mixture of synthetic, chat, json with weights, "
        "e.g. chat:3,json:1.")  # fmt: skip
    add("--num-prompts", type=int, default=64, help="Requests per point.")
    add("--input-len", default="128", help="Prompt tokens: N, uniform:LO:HI, normal:MU:SD or "
        "lognormal:MEDIAN:SIGMA (chat: passages truncated to it).")  # fmt: skip
    add("--output-len", default="64", help="max_tokens distribution (same forms).")
    add("--ignore-eos", action="store_true", help="Send ignore_eos so every answer runs to "
        "max_tokens (vLLM servers).")  # fmt: skip
    add("--temperature", type=float, default=0.0, help="Sampling temperature.")
    add("--cache-salt", choices=("none", "request", "target"), help="Send vLLM's cache_salt: a "
        "fresh one per request (no prefix-cache hits between requests, points or targets), or "
        "one per target. Default: request when comparing two targets (they may share an "
        "engine's cache), else none.")  # fmt: skip
    add("--json-max-tokens", type=int, default=256, help="Budget of JSON requests.")
    add("--json-subsets", default="Glaiveai2K,Github_easy,Github_trivial",
        help="JSONSchemaBench subsets for the json workload.")  # fmt: skip
    add("--json-max-schema-chars", type=int, default=2000,
        help="Skip larger schemas (huge ones stall the engine for minutes).")  # fmt: skip
    add("--corpus", default=str(data / "wikitext2" / "wiki.valid.raw"),
        help="Plain-text corpus for synthetic and chat prompts.")  # fmt: skip
    add("--jsonschema-archive", default=str(data / "jsonschemabench-dev.tgz"),
        help="JSONSchemaBench archive (.tgz), unpacked into a cache at run time.")  # fmt: skip
    add("--tokenizer", help="tokenizer.json (default: the model's, from the structserve model "
        "cache; else ~4 characters a token).")  # fmt: skip
    add("--seed", type=int, default=0, help="Seed of the workload and arrivals.")


def build_workload(config: WorkloadConfig, model: str) -> tuple[list[BenchRequest], dict[str, Any]]:
    """The requests and the dataset provenance (spec, hashes, tokenizer)."""
    tokens = TokenCounter.load(model, config.tokenizer)
    sources = WorkloadSources(
        tokens=tokens,
        corpus=Path(config.corpus),
        json_archive=Path(config.jsonschema_archive),
        json_subsets=[s for s in config.json_subsets.split(",") if s],
        json_max_schema_chars=config.json_max_schema_chars,
        input_len=LengthDist.parse(config.input_len),
        output_len=LengthDist.parse(config.output_len),
        json_max_tokens=config.json_max_tokens,
    )
    requests = build_requests(config.workload, config.num_prompts, sources, seed=config.seed)
    files = {}
    for path in {Path(config.corpus), Path(config.jsonschema_archive)}:
        if path.is_file():
            files[str(path)] = file_sha256(path)
    dataset = {
        "spec": config.workload,
        "num_prompts": len(requests),
        "requests_sha256": requests_sha256(requests),
        "source_sha256": files,
        "tokenizer": tokens.source,
        "input_len": config.input_len,
        "output_len": config.output_len,
    }
    return requests, dataset
