"""Benchmark workloads: synthetic lengths, chat over a real corpus, JSON-schema tasks, mixtures.

Every workload is drawn from a seeded `random.Random`, so the same flags give the same requests.
Corpora are read from where they lie (shared data), never copied into the repository; the
JSONSchemaBench archive is unpacked into a cache folder at run time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.records import BenchRequest, json_schema_format
from bench.tokens import TokenCounter

DEFAULT_JSON_SUBSETS: tuple[str, ...] = ("Glaiveai2K", "Github_easy", "Github_trivial")
WORKLOAD_NAMES: tuple[str, ...] = ("synthetic", "chat", "json")


@dataclass(frozen=True)
class LengthDist:
    """A token-length distribution: `128`, `uniform:64:256`, `normal:128:32`, `lognormal:128:0.5`.

    `lognormal:M:S` has median M and log-space sigma S. Samples are rounded and clipped to
    [1, `limit`].
    """

    kind: str
    a: float
    b: float = 0.0
    limit: int = 1 << 20

    @classmethod
    def parse(cls, spec: str | int) -> LengthDist:
        """Parse a length spec (see the class docstring); raises ValueError when malformed."""
        parts = str(spec).strip().split(":")
        if len(parts) == 1:
            return cls("fixed", float(parts[0]))
        kind, *nums = parts
        if kind not in ("uniform", "normal", "lognormal") or len(nums) != 2:
            raise ValueError(
                f"length spec {spec!r}: use N, uniform:LO:HI, normal:MU:SD, "
                "or lognormal:MEDIAN:SIGMA"
            )
        return cls(kind, float(nums[0]), float(nums[1]))

    def sample(self, rng: random.Random) -> int:
        """Draw one length."""
        if self.kind == "fixed":
            value = self.a
        elif self.kind == "uniform":
            value = rng.uniform(self.a, self.b)
        elif self.kind == "normal":
            value = rng.gauss(self.a, self.b)
        else:
            value = rng.lognormvariate(math.log(max(self.a, 1e-9)), self.b)
        return max(1, min(self.limit, round(value)))


@dataclass
class WorkloadSources:
    """Where workloads read their data, and the shared options.

    Attributes:
        tokens: token counter for lengths and slicing.
        corpus: a plain-text corpus (WikiText-2 raw) for synthetic and chat prompts.
        json_archive: the JSONSchemaBench `.tgz`.
        json_subsets: which of its subsets to draw schemas from.
        json_max_schema_chars: skip schemas longer than this (huge schemas stall the engine).
        cache_dir: where the archive is unpacked.
        input_len: prompt length distribution (synthetic; chat truncates passages to it).
        output_len: output budget distribution (synthetic and chat).
        json_max_tokens: output budget of JSON requests.
    """

    tokens: TokenCounter
    corpus: Path | None
    json_archive: Path | None
    json_subsets: Sequence[str] = DEFAULT_JSON_SUBSETS
    json_max_schema_chars: int = 2000
    cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
        "structserve/bench"
    )
    input_len: LengthDist = LengthDist("fixed", 128)
    output_len: LengthDist = LengthDist("fixed", 64)
    json_max_tokens: int = 256


def parse_mixture(spec: str) -> dict[str, float]:
    """Parse `chat:3,json:1` (or `synthetic`) into normalized weights.

    Raises:
        ValueError: on an unknown workload name or a non-positive weight.
    """
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, raw = part.partition(":")
        if name not in WORKLOAD_NAMES:
            raise ValueError(f"unknown workload {name!r}; choose from {WORKLOAD_NAMES}")
        weight = float(raw) if raw else 1.0
        if weight <= 0:
            raise ValueError(f"workload {name!r}: weight must be positive")
        weights[name] = weights.get(name, 0.0) + weight
    if not weights:
        raise ValueError("empty workload spec")
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


def build_requests(spec: str, n: int, sources: WorkloadSources, *, seed: int) -> list[BenchRequest]:
    """Draw n requests from a weighted mixture of workloads.

    Args:
        spec: workload mixture, e.g. `synthetic`, `chat:3,json:1`.
        n: number of requests.
        sources: data and options.
        seed: RNG seed; the same seed and sources give the same requests.

    Returns:
        The requests, in the order they will be sent.
    """
    weights = parse_mixture(spec)
    rng = random.Random(seed)
    names = rng.choices(list(weights), weights=list(weights.values()), k=n)
    makers: dict[str, Callable[[int, random.Random], list[BenchRequest]]] = {
        "synthetic": lambda k, r: synthetic_requests(k, sources, r),
        "chat": lambda k, r: chat_requests(k, sources, r),
        "json": lambda k, r: json_requests(k, sources, r),
    }
    pools = {name: iter(makers[name](names.count(name), rng)) for name in weights}
    return [next(pools[name]) for name in names]


def _corpus_text(sources: WorkloadSources) -> str:
    if sources.corpus is not None and sources.corpus.is_file():
        return sources.corpus.read_text(encoding="utf-8")
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while",
        "seven", "wizards", "quietly", "hum"]  # fmt: skip
    return " ".join(words[i % len(words)] for i in range(20_000))


def synthetic_requests(n: int, sources: WorkloadSources, rng: random.Random) -> list[BenchRequest]:
    """Prompts of sampled token lengths cut from the corpus at random offsets."""
    if n == 0:
        return []
    text = _corpus_text(sources)
    ids = sources.tokens.encode(text)
    out = []
    for _ in range(n):
        length = sources.input_len.sample(rng)
        begin = rng.randrange(len(ids))
        window = [ids[(begin + i) % len(ids)] for i in range(length)]
        prompt = sources.tokens.decode(window, text)
        out.append(BenchRequest("synthetic", prompt, sources.output_len.sample(rng), length))
    return out


def corpus_passages(text: str, min_chars: int = 200) -> list[str]:
    """Paragraphs of a WikiText-style corpus (headings and short lines dropped)."""
    lines = (line.strip() for line in text.splitlines())
    return [ln for ln in lines if len(ln) >= min_chars and not ln.startswith("=")]


CHAT_INSTRUCTIONS: tuple[str, ...] = (
    "Summarize the following passage in a few sentences.",
    "What are the main facts in this text? Answer briefly.",
    "Continue this text with the next paragraph.",
    "Write three questions a reader might ask about this passage.",
)


def chat_requests(n: int, sources: WorkloadSources, rng: random.Random) -> list[BenchRequest]:
    """Chat prompts: an instruction over a corpus paragraph truncated to a sampled length."""
    if n == 0:
        return []
    passages = corpus_passages(_corpus_text(sources)) or [_corpus_text(sources)[:2000]]
    out = []
    for _ in range(n):
        passage = rng.choice(passages)
        ids = sources.tokens.encode(passage)
        keep = min(len(ids), sources.input_len.sample(rng))
        body = sources.tokens.decode(ids[:keep], passage) if keep < len(ids) else passage
        prompt = f"{rng.choice(CHAT_INSTRUCTIONS)}\n\n{body}"
        tokens = sources.tokens.count(prompt)
        out.append(BenchRequest("chat", prompt, sources.output_len.sample(rng), tokens))
    return out


def unpack_archive(archive: Path, cache_dir: Path) -> Path:
    """Unpack a `.tgz` once into `cache_dir/<stem>-<hash>/`; returns that folder."""
    digest = file_sha256(archive)[:12]
    target = cache_dir / f"{archive.name.split('.')[0]}-{digest}"
    marker = target / ".unpacked"
    if not marker.exists():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
        marker.touch()
    return target


def policy_accepts(schema: dict[str, Any]) -> bool:
    """Whether the gateway's structured-output policy takes `schema` under `strict: true`.

    The JSON workload leaves out the schemas the gateway refuses by design (a 400 naming the
    unsupported keywords): a load test of refusals measures nothing, and the same requests go
    to every target, ours or not. The grammar compile itself is not run here.
    """
    from server.errors import InvalidRequest
    from server.structured.plan import plan_request

    try:  # plan_request rewrites the body in place: give it a copy
        plan_request({"response_format": json_schema_format(copy.deepcopy(schema))})
    except InvalidRequest:
        return False
    return True


def load_schemas(sources: WorkloadSources) -> list[tuple[str, dict[str, Any]]]:
    """`(name, schema)` pairs from the chosen subsets, small enough, that the gateway's policy
    accepts (see `policy_accepts`), sorted by name."""
    if sources.json_archive is None or not sources.json_archive.is_file():
        raise FileNotFoundError(f"JSON workload: no archive at {sources.json_archive}")
    root = unpack_archive(sources.json_archive, sources.cache_dir)
    found = []
    for subset in sources.json_subsets:
        for file in sorted(root.glob(f"**/{subset}/*.json")):
            raw = file.read_text(encoding="utf-8")
            if len(raw) > sources.json_max_schema_chars:
                continue
            try:
                schema = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(schema, dict) and policy_accepts(schema):
                found.append((f"{subset}/{file.name}", schema))
    if not found:
        raise FileNotFoundError(f"JSON workload: no usable schema in {sources.json_subsets}")
    return found


def json_requests(n: int, sources: WorkloadSources, rng: random.Random) -> list[BenchRequest]:
    """Requests that ask for a JSON document following a JSONSchemaBench schema."""
    if n == 0:
        return []
    schemas = load_schemas(sources)
    out = []
    for _ in range(n):
        _, schema = rng.choice(schemas)
        prompt = (
            "Produce a JSON document that is valid against this JSON Schema. "
            "Answer with the JSON only.\n\n" + json.dumps(schema)
        )
        tokens = sources.tokens.count(prompt)
        out.append(BenchRequest("json", prompt, sources.json_max_tokens, tokens, schema))
    return out


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def requests_sha256(requests: Sequence[BenchRequest]) -> str:
    """Hex sha256 of the request list (the dataset hash in the provenance)."""
    canon = json.dumps([asdict(r) for r in requests], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()
