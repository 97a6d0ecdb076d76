"""Runtime plans (both 2:4 modes) and the vLLM linear method's shard-by-shard loading."""

from __future__ import annotations

import pytest
import torch

from bench.speed_checkpoints import simple_compress
from model_loaders.checkpoint.errors import (
    InvalidIndexError,
    MaskNot24Error,
    MissingTensorError,
    RankMismatchError,
    TensorDtypeError,
    UnexpectedTensorError,
)
from model_loaders.checkpoint.specs import Format
from model_loaders.vllm.plan import LinearPlan
from tests.unit.model_loaders.conftest import OPTIONS

FORMATS = list(OPTIONS)


@pytest.mark.parametrize("mode", ["dense", "compressed"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_plan_matches_effective_weight(fmt: Format, mode: str) -> None:
    torch.manual_seed(1)
    layer = simple_compress(fmt, torch.randn(64, 32), **OPTIONS[fmt])
    x = torch.randn(5, 32)  # [N, I]
    plan = LinearPlan([layer.plan(mode)])
    expected = x @ layer.to_dense().t()  # [N, O]
    torch.testing.assert_close(plan(x), expected, atol=1e-4, rtol=1e-4)


def test_merged_plan_concatenates_shards() -> None:
    torch.manual_seed(2)
    shards = [simple_compress(f, torch.randn(32, 32), **OPTIONS[f]) for f in FORMATS]
    x = torch.randn(3, 32)
    for mode in ("dense", "compressed"):
        plan = LinearPlan([s.plan(mode) for s in shards])
        expected = torch.cat([x @ s.to_dense().t() for s in shards], dim=-1)
        torch.testing.assert_close(plan(x), expected, atol=1e-4, rtol=1e-4)


# ---- the vLLM linear method on a bare module (vLLM imported, no engine) ----


def _method(entries_fmt: list[Format | None], out: list[int], mode: str = "compressed"):  # type: ignore[no-untyped-def]
    from model_loaders.vllm.linear_method import StructServeLinearMethod

    torch.manual_seed(3)
    names = [f"model.layers.0.self_attn.{p}_proj" for p in "qkv"[: len(out)]]
    layers = {}
    entries = []
    for name, fmt, size in zip(names, entries_fmt, out, strict=True):
        if fmt is None:
            layers[name] = None
            entries.append(None)
            continue
        layers[name] = simple_compress(
            fmt, torch.randn(size, 64), **{**OPTIONS[fmt], "block_size": 16}
        )
        entries.append(layers[name].entry(name))
    method = StructServeLinearMethod(entries, names, mode=mode)
    module = torch.nn.Module()
    method.create_weights(module, 64, out, 64, sum(out), torch.float32)
    return method, module, layers, names


def _load(module: torch.nn.Module, suffix: str, tensor: torch.Tensor, shard: object) -> None:
    param = getattr(module, suffix)
    param.weight_loader(param, tensor, shard)


@pytest.mark.parametrize("mode", ["dense", "compressed"])
def test_linear_method_merged_qkv(mode: str) -> None:
    fmts = [Format.ARMOR, Format.SPARSE24, None]
    method, module, layers, _ = _method(fmts, [64, 32, 32], mode)
    dense_v = torch.randn(32, 64)
    for shard, layer in zip("qk", (layers[n] for n in list(layers)[:2]), strict=True):
        for suffix, tensor in layer.tensors().items():  # type: ignore[union-attr]
            _load(module, suffix, tensor, shard)
    _load(module, "weight", dense_v, "v")
    method.process_weights_after_loading(module)
    assert not hasattr(module, "values")  # flat parameters released
    x = torch.randn(4, 64)
    want = [x @ layer.to_dense().t() for layer in list(layers.values())[:2]]  # type: ignore[union-attr]
    expected = torch.cat([*want, x @ dense_v.t()], dim=-1)
    torch.testing.assert_close(method.apply(module, x), expected, atol=1e-4, rtol=1e-4)


def test_linear_method_errors() -> None:
    method, module, layers, names = _method([Format.LOWRANK, Format.SPARSE24], [64, 32])
    low, s24 = layers[names[0]], layers[names[1]]
    with pytest.raises(RankMismatchError, match=r"q_proj\.U"):
        _load(module, "U", torch.randn(64, 3), 0)
    with pytest.raises(TensorDtypeError, match=r"k_proj\.meta"):
        _load(module, "meta", s24.tensors()["meta"].to(torch.int32), 1)  # type: ignore[union-attr]
    with pytest.raises(UnexpectedTensorError, match=r"k_proj\.U"):
        _load(module, "U", low.tensors()["U"], 1)  # type: ignore[union-attr]
    for suffix, tensor in low.tensors().items():  # type: ignore[union-attr]
        _load(module, suffix, tensor, 0)
    with pytest.raises(MissingTensorError, match=r"k_proj\.values"):
        method.process_weights_after_loading(module)
    bad = s24.tensors()["meta"].clone()  # type: ignore[union-attr]
    bad[0, 0] = 0
    _load(module, "values", s24.tensors()["values"], 1)  # type: ignore[union-attr]
    _load(module, "meta", bad, 1)
    with pytest.raises(MaskNot24Error, match=r"k_proj\.meta"):
        method.process_weights_after_loading(module)


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32])
def test_linear_method_index_i16_or_i32(dtype: torch.dtype) -> None:
    method, module, layers, names = _method([Format.DICTSPARSE, Format.LOWRANK], [64, 32])
    assert module.C_index.dtype == torch.int32  # an I16 index is widened into it
    for name, shard in zip(names, (0, 1), strict=True):
        for suffix, tensor in layers[name].tensors().items():  # type: ignore[union-attr]
            _load(module, suffix, tensor.to(dtype) if suffix == "C_index" else tensor, shard)
    method.process_weights_after_loading(module)
    x = torch.randn(4, 64)
    expected = torch.cat([x @ layers[n].to_dense().t() for n in names], dim=-1)  # type: ignore[union-attr]
    torch.testing.assert_close(method.apply(module, x), expected, atol=1e-4, rtol=1e-4)


def test_linear_method_checks_i16_index_values() -> None:
    method, module, layers, names = _method([Format.DICTSPARSE], [64])
    for suffix, tensor in layers[names[0]].tensors().items():  # type: ignore[union-attr]
        if suffix == "C_index":
            tensor = tensor.clone()  # [s, I] int16
            tensor[0, 5] = OPTIONS[Format.DICTSPARSE]["atoms"]
        _load(module, suffix, tensor, 0)
    with pytest.raises(InvalidIndexError, match=r"q_proj\.C_index"):
        method.process_weights_after_loading(module)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int64, torch.uint8, torch.float32])
def test_linear_method_refuses_other_index_dtypes(dtype: torch.dtype) -> None:
    _, module, layers, names = _method([Format.DICTSPARSE], [64])
    index = layers[names[0]].tensors()["C_index"]  # type: ignore[union-attr]
    with pytest.raises(TensorDtypeError, match=r"q_proj\.C_index") as err:
        _load(module, "C_index", index.to(dtype), 0)
    assert "torch.int16" in err.value.expected


def test_quant_config_dispatch() -> None:
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod

    from model_loaders.checkpoint.manifest import parse_manifest
    from model_loaders.vllm.config import StructServeConfig
    from model_loaders.vllm.linear_method import StructServeLinearMethod

    entry = {"format": "lowrank", "out_features": 8, "in_features": 8, "rank": 2}
    config = StructServeConfig(
        parse_manifest(
            {
                "quant_method": "structserve",
                "version": 1,
                "layers": {"model.layers.0.self_attn.k_proj": entry},
            }
        )
    )

    class FakeLinear(
        __import__("vllm.model_executor.layers.linear", fromlist=["LinearBase"]).LinearBase
    ):  # type: ignore[misc]
        def __init__(self) -> None:
            torch.nn.Module.__init__(self)

    qkv = config.get_quant_method(FakeLinear(), "model.layers.0.self_attn.qkv_proj")
    assert isinstance(qkv, StructServeLinearMethod)
    assert qkv.names[1] == "model.layers.0.self_attn.k_proj" and qkv.entries[0] is None
    o = config.get_quant_method(FakeLinear(), "model.layers.0.self_attn.o_proj")
    assert isinstance(o, UnquantizedLinearMethod)
    assert config.get_quant_method(torch.nn.Embedding(2, 2), "model.embed_tokens") is None


def test_register_is_idempotent() -> None:
    from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS

    from model_loaders.vllm.plugin import register

    register()
    register()
    assert QUANTIZATION_METHODS.count("structserve") == 1


def test_factored_and_dense_neighbours_fuse() -> None:
    torch.manual_seed(4)
    fmts = [Format.LOWRANK, Format.LOWRANK, Format.DICTSPARSE, Format.DENSE, Format.DENSE]
    opts = {Format.LOWRANK: {"rank": 3}, Format.DICTSPARSE: {"atoms": 4, "nnz_per_column": 2}}
    shards = [simple_compress(f, torch.randn(16, 32), **opts.get(f, {})) for f in fmts]
    plan = LinearPlan([s.plan("dense") for s in shards])
    assert len(plan.steps) == 2  # one factored group, one dense group
    x = torch.randn(3, 32)
    expected = torch.cat([x @ s.to_dense().t() for s in shards], dim=-1)
    torch.testing.assert_close(plan(x), expected, atol=1e-4, rtol=1e-4)
