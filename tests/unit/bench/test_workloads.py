"""Workloads: length distributions, corpus prompts, JSON-schema tasks, seeded mixtures."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

import pytest

from bench.tokens import TokenCounter, find_tokenizer_file
from bench.validity import check_output
from bench.workloads import (
    LengthDist,
    WorkloadSources,
    build_requests,
    corpus_passages,
    parse_mixture,
    requests_sha256,
)

PARAGRAPH = " ".join(f"word{i}" for i in range(120))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "wiki.raw"
    path.write_text(f" = Heading = \n\n {PARAGRAPH} \n short line \n {PARAGRAPH.upper()} \n")
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "jsb.tgz"
    schemas = {
        "jsonschemabench/Glaiveai2K/a.json": {"type": "object", "required": ["x"]},
        "jsonschemabench/Glaiveai2K/b.json": {"type": "array"},
        "jsonschemabench/Kubernetes/big.json": {"type": "object", "description": "x" * 5000},
        "jsonschemabench/Glaiveai2K/bad.json": "not json {",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, schema in schemas.items():
            raw = (schema if isinstance(schema, str) else json.dumps(schema)).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def sources(corpus: Path, archive: Path, tmp_path: Path, **kw: object) -> WorkloadSources:
    return WorkloadSources(
        tokens=TokenCounter(),
        corpus=corpus,
        json_archive=archive,
        json_subsets=["Glaiveai2K", "Kubernetes"],
        cache_dir=tmp_path / "cache",
        **kw,  # type: ignore[arg-type]
    )


def test_length_dist_parse_and_sample() -> None:
    rng = random.Random(0)
    assert LengthDist.parse("128").sample(rng) == 128
    uni = LengthDist.parse("uniform:10:20")
    assert all(10 <= uni.sample(rng) <= 20 for _ in range(200))
    normal = [LengthDist.parse("normal:100:10").sample(rng) for _ in range(2000)]
    assert 97 < sum(normal) / len(normal) < 103
    logn = sorted(LengthDist.parse("lognormal:64:0.5").sample(rng) for _ in range(2001))
    assert 58 <= logn[1000] <= 70  # median
    assert LengthDist.parse("normal:1:100").sample(rng) >= 1
    for bad in ("gauss:1:2", "uniform:1", "abc"):
        with pytest.raises(ValueError):
            LengthDist.parse(bad)


def test_parse_mixture() -> None:
    assert parse_mixture("chat:3,json:1") == {"chat": 0.75, "json": 0.25}
    assert parse_mixture("synthetic") == {"synthetic": 1.0}
    for bad in ("", "video:1", "chat:0"):
        with pytest.raises(ValueError):
            parse_mixture(bad)


def test_mixture_is_seeded_and_weighted(corpus: Path, archive: Path, tmp_path: Path) -> None:
    src = sources(corpus, archive, tmp_path)
    a = build_requests("chat:3,json:1,synthetic:1", 200, src, seed=7)
    b = build_requests("chat:3,json:1,synthetic:1", 200, src, seed=7)
    c = build_requests("chat:3,json:1,synthetic:1", 200, src, seed=8)
    assert a == b and requests_sha256(a) == requests_sha256(b)
    assert requests_sha256(a) != requests_sha256(c)
    counts = {name: sum(r.workload == name for r in a) for name in ("chat", "json", "synthetic")}
    assert 90 < counts["chat"] < 150 and 20 < counts["json"] < 65


def test_synthetic_lengths(corpus: Path, archive: Path, tmp_path: Path) -> None:
    src = sources(
        corpus,
        archive,
        tmp_path,
        input_len=LengthDist.parse("50"),
        output_len=LengthDist.parse("uniform:5:9"),
    )
    reqs = build_requests("synthetic", 20, src, seed=0)
    assert all(r.prompt_tokens == 50 and len(r.prompt) == 200 for r in reqs)
    assert all(5 <= r.max_tokens <= 9 and r.schema is None for r in reqs)


def test_chat_prompts_come_from_passages(corpus: Path, archive: Path, tmp_path: Path) -> None:
    assert len(corpus_passages(corpus.read_text())) == 2
    src = sources(corpus, archive, tmp_path, input_len=LengthDist.parse("10000"))
    reqs = build_requests("chat", 10, src, seed=0)
    assert all(PARAGRAPH in r.prompt or PARAGRAPH.upper() in r.prompt for r in reqs)
    short = build_requests(
        "chat", 5, sources(corpus, archive, tmp_path, input_len=LengthDist.parse("10")), seed=0
    )
    assert all(len(r.prompt) < 200 for r in short)


def test_json_workload_filters_schemas(corpus: Path, archive: Path, tmp_path: Path) -> None:
    src = sources(corpus, archive, tmp_path, json_max_tokens=77)
    reqs = build_requests("json", 30, src, seed=0)
    seen = {json.dumps(r.schema, sort_keys=True) for r in reqs}
    assert seen == {
        json.dumps({"type": "object", "required": ["x"]}, sort_keys=True),
        json.dumps({"type": "array"}, sort_keys=True),
    }  # big and bad skipped
    assert all(r.max_tokens == 77 and "JSON Schema" in r.prompt for r in reqs)
    assert (tmp_path / "cache").is_dir()  # unpacked into the cache, once
    assert build_requests("json", 3, src, seed=0) == reqs[:3]


def test_json_workload_without_archive(corpus: Path, tmp_path: Path) -> None:
    src = sources(corpus, tmp_path / "missing.tgz", tmp_path)
    with pytest.raises(FileNotFoundError):
        build_requests("json", 2, src, seed=0)


def test_real_tokenizer_file(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    assert find_tokenizer_file(str(tmp_path)) == tmp_path / "tokenizer.json"
    counter = TokenCounter.load(str(tmp_path))
    assert counter.encode("hello world hello") == [1, 2, 1]
    assert counter.count("hello world") == 2
    assert TokenCounter.load(str(tmp_path / "nowhere")).source == "approx"


def test_check_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert check_output(' {"a": 1} ', schema) is True
    assert check_output('{"a": "x"}', schema) is False
    assert check_output("not json", schema) is False
    assert check_output("{}", {"$ref": "#/nowhere"}) is None
    assert check_output('"x"', {"type": "string", "pattern": "("}) is None


def test_json_workload_leaves_out_schemas_the_policy_refuses() -> None:
    from bench.workloads import policy_accepts

    assert policy_accepts({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert not policy_accepts({"type": "string", "not": {"pattern": "^x"}})
