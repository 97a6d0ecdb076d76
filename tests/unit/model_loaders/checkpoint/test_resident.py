"""Resident weight bytes (checkpoint.resident, torch-free) against the formats' real plans."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_loaders.checkpoint.describe import describe_folder
from model_loaders.checkpoint.manifest import load_manifest
from model_loaders.checkpoint.resident import layer_resident_bytes, resident_weight_bytes
from model_loaders.formats.base import FormatTensors, ShardPlan
from tests.unit.model_loaders.conftest import compress_all


def _bytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _plan_bytes(layer: FormatTensors, plan: ShardPlan) -> int:
    """What a plan keeps: its dense copy, its two factors, or (a forward over views) the stored
    tensors."""
    if plan.dense is not None:
        return _bytes(plan.dense)
    if plan.factors is not None:
        return _bytes(*plan.factors)
    return _bytes(*layer.tensors().values())


@pytest.mark.parametrize("mode", ["dense", "compressed"])
def test_each_layer_keeps_what_its_plan_keeps(dense_dir: Path, mode: str) -> None:
    layers = compress_all(dense_dir)
    for name, layer in layers.items():
        entry = layer.entry(name)
        stored = _bytes(*layer.tensors().values())
        expected = _plan_bytes(layer, layer.plan(mode))
        assert layer_resident_bytes(entry, stored, 2, mode) == expected, (name, mode)


@pytest.mark.parametrize("mode", ["dense", "compressed"])
def test_folder_resident_bytes_are_the_plans_plus_other_tensors(
    dense_dir: Path, mixed_dir: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    layers = compress_all(dense_dir)
    planned = sum(_plan_bytes(t, t.plan(mode)) for t in layers.values())
    others = _bytes(
        torch.empty(100, 32, dtype=torch.bfloat16), torch.empty(32, dtype=torch.bfloat16)
    )
    assert resident_weight_bytes(mixed_dir, mode) == planned + others
    monkeypatch.setenv("STRUCTSERVE_SPARSE24_MODE", mode)  # what the engine will be told
    described = describe_folder(mixed_dir)
    assert described["resident_weight_bytes"] == planned + others
    assert described["resident_ratio"] == round((planned + others) / described["dense_bytes"], 4)


def test_a_plain_model_keeps_its_stored_bytes(dense_dir: Path) -> None:
    described = describe_folder(dense_dir)
    assert described["resident_weight_bytes"] == described["weight_bytes"]
    assert described["resident_ratio"] == 1.0
    assert load_manifest(dense_dir) is None
