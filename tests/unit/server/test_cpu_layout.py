"""CPU engines run the model inside vLLM's EngineCore process unless told otherwise."""

from __future__ import annotations

import pytest

from server.cpu_layout import IN_PROCESS_ENV, cpu_layout_env, vllm_is_cpu_build
from tests.prereq import require_default_model


@pytest.mark.parametrize(
    ("mode", "cpu_build", "expected"),
    [
        ("auto", True, IN_PROCESS_ENV),
        ("auto", False, {}),
        ("on", False, IN_PROCESS_ENV),
        ("off", True, {}),
    ],
)
def test_layout_env(mode: str, cpu_build: bool, expected: dict[str, str]) -> None:
    assert cpu_layout_env(mode, cpu_build=cpu_build) == expected  # type: ignore[arg-type]


def test_in_process_env_is_vllms_switch_and_one_thread() -> None:
    assert IN_PROCESS_ENV == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("mode", ["auto", "on", "off"])
def test_engine_environment_carries_the_setting(mode: str) -> None:
    from server.serve import build_components
    from server.settings import Settings

    model = require_default_model()
    _pool, supervisor = build_components(Settings(model=str(model), cpu_in_process=mode))
    assert supervisor is not None
    on = mode == "on" or (mode == "auto" and vllm_is_cpu_build())
    ours = {k: v for k, v in supervisor.spec.env.items() if k in IN_PROCESS_ENV}
    assert ours == (IN_PROCESS_ENV if on else {})
    if on:  # and they reach the child, over whatever the gateway's own environment says
        env = supervisor.spec.environment()
        assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
        assert env["OMP_NUM_THREADS"] == "1"


def test_setting_is_in_help() -> None:
    from server.cli_args import build_parser

    assert "--cpu-in-process" in build_parser().format_help()
