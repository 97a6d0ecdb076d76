"""The declaration table and the engine-side classes agree, format by format."""

from __future__ import annotations

import pytest
import torch

from bench.speed_checkpoints import simple_compress
from compress.export import to_format_tensors
from compress.types import CompressedLinear
from model_loaders.checkpoint.specs import FLOAT, FORMATS, Format
from model_loaders.formats import format_class
from tests.unit.model_loaders.conftest import OPTIONS


def test_every_format_has_one_row_and_one_class() -> None:
    assert set(FORMATS) == set(Format)
    for fmt in Format:
        assert format_class(fmt).format is fmt


@pytest.mark.parametrize("fmt", [Format.DENSE, *OPTIONS])
def test_class_tensors_match_the_declaration(fmt: Format) -> None:
    layer = simple_compress(fmt, torch.randn(64, 32), **OPTIONS.get(fmt, {}))
    specs = layer.entry("x").tensors()
    tensors = layer.tensors()
    assert list(specs) == list(tensors)
    for suffix, spec in specs.items():
        assert tuple(tensors[suffix].shape) == spec.shape, suffix
        assert tensors[suffix].is_floating_point() == (spec.dtype == FLOAT), suffix


def _factors(fmt: Format, w: torch.Tensor) -> CompressedLinear:
    """A compressor-shaped result (compress.types names) holding the same Ŵ as `w`'s layer."""
    layer = simple_compress(fmt, w, **OPTIONS.get(fmt, {}))
    t = {k: v.float() for k, v in layer.tensors().items()}
    if fmt is Format.DENSE:
        factors = {"weight": t["weight"]}
    elif fmt is Format.LOWRANK:
        factors = {"u": t["U"], "v": t["V"]}
    elif fmt is Format.SPARSE24:
        dense = layer.to_dense().float()
        factors = {"weight": dense, "mask": dense != 0}
    elif fmt is Format.ARMOR:
        core = format_class(Format.SPARSE24)(t["values"], layer.tensors()["meta"]).to_dense()
        factors = {"a": t["A"], "core": core, "mask": core != 0, "b": t["B"]}
    elif fmt is Format.DICTSPARSE:
        index = layer.tensors()["C_index"].long()
        factors = {"dictionary": t["D"], "coef_values": t["C_values"], "coef_index": index}
    else:
        rows = layer.tensors()["dense_rows"].long()
        other = torch.tensor([r for r in range(w.shape[0]) if r not in set(rows.tolist())])
        dense = layer.to_dense().float()
        factors = {
            "dense_weight": dense[rows],
            "dense_index": rows,
            "sparse_weight": dense[other],
            "sparse_index": other,
        }
        return CompressedLinear(fmt.value, tuple(w.shape), factors, {"axis": "rows"})  # type: ignore[arg-type]
    return CompressedLinear(fmt.value, tuple(w.shape), factors)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", [Format.DENSE, *OPTIONS])
def test_export_builds_each_format_from_compressor_factors(fmt: Format) -> None:
    torch.manual_seed(5)
    c = _factors(fmt, torch.randn(64, 32))
    layer = to_format_tensors(c)
    assert layer.format is fmt
    torch.testing.assert_close(layer.to_dense().float(), c.dense().float(), atol=1e-4, rtol=1e-4)


def test_export_spense_columns_is_dense_and_unknown_format_fails() -> None:
    w = torch.randn(8, 8)
    c = CompressedLinear("spense", (8, 8), {}, {"axis": "cols"})
    c.dense = lambda: w  # type: ignore[method-assign]
    assert to_format_tensors(c).format is Format.DENSE
    with pytest.raises(ValueError, match="no export"):
        to_format_tensors(CompressedLinear("nope", (8, 8), {}))
