"""Each method on real calibration activations of a tiny Llama: structure, budget, quality."""

from __future__ import annotations

import itertools

import pytest
import torch

from compress import armor, asvd, dictsparse, magnitude24, sparsegpt24, spense, svd, wanda24
from compress.masks import is_24, layer_error

DATA_AWARE_24 = {
    "wanda24": lambda w, h: wanda24.compress_linear(w, h),
    "sparsegpt24": lambda w, h: sparsegpt24.compress_linear(w, h),
    "armor": lambda w, h: armor.compress_linear(
        w, h, options=armor.ArmorOptions(iters=10, block_size=32)
    ),
    "spense": lambda w, h: spense.compress_linear(w, h, fraction=0.25),
    "spense-cols": lambda w, h: spense.compress_linear(w, h, fraction=0.25, axis="cols"),
}


def _rel(w: torch.Tensor, w_hat: torch.Tensor, h: torch.Tensor) -> float:
    return layer_error(w, w_hat, h) / layer_error(w, torch.zeros_like(w), h)


@pytest.mark.parametrize("method", sorted(DATA_AWARE_24))
def test_data_aware_24_beats_magnitude(method: str, layer0_problem: dict) -> None:
    for name, (w, h) in layer0_problem.items():
        c = DATA_AWARE_24[method](w, h)
        base = _rel(w, magnitude24.compress_linear(w).dense(), h)
        assert _rel(w, c.dense(), h) < base, (method, name)


def test_24_masks_exact(layer0_problem: dict) -> None:
    w, h = layer0_problem["mlp.down_proj"]
    for c in (
        magnitude24.compress_linear(w),
        wanda24.compress_linear(w, h),
        sparsegpt24.compress_linear(w, h),
    ):
        assert is_24(c.tensors["mask"])
        assert torch.equal(c.tensors["weight"] != 0, c.tensors["mask"] & (c.tensors["weight"] != 0))
        assert int((c.tensors["weight"] != 0).sum()) <= w.numel() // 2
    a = armor.compress_linear(w, h, options=armor.ArmorOptions(iters=3, block_size=32))
    assert is_24(a.tensors["mask"])
    s = spense.compress_linear(w, h, fraction=0.25)
    assert is_24(s.tensors["sparse_mask"])
    assert s.tensors["dense_index"].numel() == round(0.25 * w.shape[0])


def test_armor_proxy_loss_never_increases(layer0_problem: dict) -> None:
    for hessian_mode in ("full", "diag"):
        for init in ("wanda", "sparsegpt"):
            w, h = layer0_problem["mlp.gate_proj"]
            opts = armor.ArmorOptions(
                iters=15, block_size=32, hessian=hessian_mode, init=init, lr=1e-2
            )
            hist = armor.compress_linear(w, h, options=opts).meta["loss_history"]
            assert len(hist) == 16
            assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(hist)), hist
            assert hist[-1] < hist[0]


def test_armor_beats_sparsegpt(layer0_problem: dict) -> None:
    w, h = layer0_problem["mlp.up_proj"]
    a = armor.compress_linear(w, h, options=armor.ArmorOptions(iters=10, block_size=32))
    assert _rel(w, a.dense(), h) < _rel(w, sparsegpt24.compress_linear(w, h).dense(), h)


@pytest.mark.parametrize("ratio", [0.5, 0.7])
def test_lowrank_budget_and_quality(ratio: float, layer0_problem: dict) -> None:
    for name, (w, h) in layer0_problem.items():
        rank = svd.uniform_rank(tuple(w.shape), ratio)
        plain = svd.compress_linear(w, rank=rank)
        aware = asvd.compress_linear(w, h, rank=rank)
        for c in (plain, aware):
            if c.fmt == "lowrank":
                assert c.tensors["u"].shape == (w.shape[0], rank)
                assert c.tensors["v"].shape == (rank, w.shape[1])
                assert c.num_params() <= ratio * w.numel() + sum(w.shape)
        assert _rel(w, aware.dense(), h) <= _rel(w, plain.dense(), h) + 1e-6, name


def test_global_allocation_meets_budget() -> None:
    torch.manual_seed(0)
    shapes = {"a": (64, 64), "b": (128, 64), "c": (64, 128)}
    spectra = {
        "a": torch.logspace(0, -3, 64),
        "b": torch.logspace(0, -1, 64),
        "c": torch.ones(64),
    }
    ranks = svd.allocate_ranks(spectra, shapes, 0.5)
    cost = 0
    for n, r in ranks.items():
        o, i = shapes[n]
        cost += o * i if r > svd.max_useful_rank((o, i)) else r * (o + i)
    total = sum(o * i for o, i in shapes.values())
    assert cost <= 0.5 * total
    assert cost >= 0.45 * total
    assert ranks["a"] < ranks["c"]  # fast-decaying spectrum gets fewer ranks


def test_dict_budget_and_quality(layer0_problem: dict) -> None:
    for name, (w, h) in layer0_problem.items():
        c = dictsparse.compress_linear(w, h, ratio=0.7)
        k, s = c.meta["atoms"], c.meta["nnz_per_column"]
        assert c.tensors["dictionary"].shape == (w.shape[0], k)
        assert c.tensors["coef_values"].shape == (s, w.shape[1])
        idx = c.tensors["coef_index"]
        assert all(idx[:, j].unique().numel() == s for j in range(idx.shape[1]))
        assert c.num_params() <= 0.7 * w.numel() * 1.02
        rank = svd.uniform_rank(tuple(w.shape), 0.7)
        assert _rel(w, c.dense(), h) < _rel(w, svd.compress_linear(w, rank=rank).dense(), h), name
