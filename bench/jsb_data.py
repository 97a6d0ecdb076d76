"""JSONSchemaBench data and prompts: unpack the archive to a cache, sample schemas, build the
benchmark's chat protocol (system line, two worked examples, the schema as the user turn)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.workloads import unpack_archive

SUBSETS = (
    "Glaiveai2K",
    "Github_trivial",
    "Github_easy",
    "Snowplow",
    "Github_medium",
    "Kubernetes",
    "WashingtonPost",
    "Github_hard",
    "JsonSchemaStore",
    "Github_ultra",
)

SYSTEM = "You need to generate a JSON object that matches the schema below."

# Two worked examples in the benchmark's few-shot format (schema as the user turn, a matching
# instance as the assistant turn); written for this evaluator.
EXAMPLES: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = (
    (
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "population": {"type": "integer", "minimum": 0},
            },
            "required": ["city", "population"],
        },
        {"city": "Lyon", "population": 522250},
    ),
    (
        {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "published": {"type": "boolean"},
            },
            "required": ["title", "tags"],
        },
        {"title": "Release notes", "tags": ["news", "software"], "published": True},
    ),
)


@dataclass(frozen=True)
class Case:
    """One benchmark schema."""

    subset: str
    name: str
    schema: Any


def data_root(data: Path, cache: Path) -> Path:
    """The folder holding `<Subset>/*.json`: `data` itself, its `jsonschemabench/`, or the
    archive `data` (a .tgz, or a folder holding `jsonschemabench-dev.tgz`) unpacked under
    `cache` (`workloads.unpack_archive`, as the `json` workload of `bench serve` does)."""
    for candidate in (data, data / "jsonschemabench"):
        if candidate.is_dir() and any((candidate / s).is_dir() for s in SUBSETS):
            return candidate
    archive = data if data.is_file() else data / "jsonschemabench-dev.tgz"
    if not archive.is_file():
        raise FileNotFoundError(f"no JSONSchemaBench data under {data}")
    return unpack_archive(archive, cache) / "jsonschemabench"


def load_cases(root: Path, subsets: list[str], limit: int | None, seed: int) -> list[Case]:
    """Up to `limit` schemas per subset, a seeded random sample (all when limit is None)."""
    cases = []
    rng = random.Random(seed)
    for subset in subsets:
        files = sorted((root / subset).glob("*.json"))
        if limit is not None and limit < len(files):
            files = sorted(rng.sample(files, limit))
        for path in files:
            cases.append(Case(subset, path.stem, json.loads(path.read_text())))
    return cases


def messages(schema: Any) -> list[dict[str, str]]:
    """The benchmark's chat prompt for one schema."""
    turns = [{"role": "system", "content": SYSTEM}]
    for example_schema, instance in EXAMPLES:
        turns.append({"role": "user", "content": json.dumps(example_schema)})
        turns.append({"role": "assistant", "content": json.dumps(instance)})
    turns.append({"role": "user", "content": json.dumps(schema)})
    return turns
