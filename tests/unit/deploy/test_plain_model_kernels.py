"""Shipped CPU engines serving the plain default model get what `structserve serve` adds for it.

`structserve serve` passes `--hf-overrides` with an empty structserve manifest for a plain
folder (model_loaders.vllm.native_config), so vLLM builds its linears through structserve's
config and they run on the faster path (docs/kernels.md). The compose engine and the CPU
overlay's default-model engine must pass the same, or a deployment is slower than the gateway's
own engine (3.5x at 16 concurrent on an AVX2-only CPU, docs/benchmarks.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from model_loaders.vllm.native_config import native_engine_args
from tests.unit.deploy.conftest import DEPLOY
from tests.unit.deploy.k8s_objects import engine_containers

PREFIX = "--hf-overrides="
ENGINE = "Deployment/structserve-engine-smollm2"  # the default (plain) model's engine


def _overrides(args: list[str]) -> list[Any]:
    return [json.loads(a[len(PREFIX) :]) for a in args if a.startswith(PREFIX)]


def _what_serve_adds(tmp_path: Path) -> Any:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    flag, value = native_engine_args(tmp_path, "auto")
    assert flag == "--hf-overrides"
    return json.loads(value)


def test_compose_engine_passes_the_plain_model_overrides(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert _overrides(compose["services"]["engine"]["command"]) == [_what_serve_adds(tmp_path)]


def test_cpu_overlay_default_engine_passes_them_and_gpu_does_not(  # type: ignore[no-untyped-def]
    rendered, tmp_path: Path
) -> None:
    expected = _what_serve_adds(tmp_path)
    cpu = [c for t, c in engine_containers(rendered["cpu"]) if t.name.endswith(ENGINE)]
    assert [_overrides(list(c["args"])) for c in cpu] == [[expected]]
    for _, c in engine_containers(rendered["gpu"]):  # CUDA keeps vLLM's own kernels
        assert _overrides(list(c.get("args", []))) == []
