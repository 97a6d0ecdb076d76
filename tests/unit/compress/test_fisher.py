"""Fisher-valued rank allocation (`--allocation fisher`): the loss estimate and the budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from compress import asvd, svd
from compress.calibration import calibration_samples
from compress.fisher import output_fisher
from compress.layerwise import LINEARS


def test_fisher_scores_sum_to_the_truncation_error() -> None:
    """Σ_{i>r} score_i = tr(D ΔW H' ΔWᵀ) for asvd's rank-r truncation (H' = L Lᵀ, damped)."""
    torch.manual_seed(0)
    w = torch.randn(24, 16)
    x = torch.randn(200, 16) @ torch.randn(16, 16)  # correlated inputs
    h = x.T @ x / x.shape[0]
    d = torch.rand(24) + 0.1
    scores = asvd.fisher_scores(w, h, d).double()
    chol = asvd.whitening(h)
    h_damped = chol @ chol.T
    for r in (1, 4, 7):
        delta = w.double() - asvd.compress_linear(w, h, rank=r).dense().double()
        exact = torch.trace(torch.diag(d.double()) @ delta @ h_damped @ delta.T)
        assert float(scores[r:].sum()) == pytest.approx(float(exact), rel=1e-4)


def test_loss_objective_truncation() -> None:
    """Objective "loss": the discarded σ² of G W L are the Fisher-weighted error, and at equal
    rank it is lower than the output objective's."""
    torch.manual_seed(1)
    w = torch.randn(24, 16)
    x = torch.randn(200, 16) @ torch.randn(16, 16)
    h = x.T @ x / x.shape[0]
    d = torch.rand(24) ** 4 + 0.01  # uneven channel weights
    scores = asvd.fisher_scores(w, h, d, weighted=True).double()
    chol = asvd.whitening(h)
    h_damped = chol @ chol.T
    g2 = torch.diag(asvd.loss_weights(d) ** 2)

    def weighted_error(w_hat: torch.Tensor) -> float:
        delta = w.double() - w_hat.double()
        return float(torch.trace(g2 @ delta @ h_damped @ delta.T))

    for r in (2, 5, 9):
        by_loss = asvd.compress_linear(w, h, rank=r, fisher=d).dense()
        by_output = asvd.compress_linear(w, h, rank=r).dense()
        assert float(scores[r:].sum()) == pytest.approx(weighted_error(by_loss), rel=1e-4)
        assert weighted_error(by_loss) < weighted_error(by_output)


def test_budget_goes_where_the_loss_is() -> None:
    """Same spectrum, ten times the Fisher: that layer keeps more rank; the budget holds."""
    shapes = {"a": (64, 64), "b": (64, 64)}
    base = torch.logspace(0, -2, 64)
    ranks = svd.allocate_budget({"a": base, "b": 10 * base}, shapes, 0.4)
    assert ranks["b"] > ranks["a"]
    assert sum(r * 128 for r in ranks.values()) <= 0.4 * 2 * 64 * 64


def test_output_fisher_covers_every_linear(tiny_model: Path, calib_text: Path) -> None:
    ids = calibration_samples(tiny_model, calib_text, nsamples=2, seqlen=32, seed=0)
    fisher = output_fisher(tiny_model, ids, linears=LINEARS)
    assert len(fisher) == 2 * len(LINEARS)
    for name, d in fisher.items():
        assert d.ndim == 1 and bool(torch.isfinite(d).all()) and float(d.sum()) > 0, name
    assert fisher["model.layers.0.mlp.down_proj"].shape == (64,)
    assert fisher["model.layers.1.self_attn.k_proj"].shape == (32,)


def test_cli_fisher_allocation(tiny_model: Path, calib_text: Path, tmp_path: Path) -> None:
    from compress.cli import main as cli_main
    from model_loaders.checkpoint.checks import check_folder

    argv = ["--model", str(tiny_model), "--method", "asvd", "--ratio", "0.5"]
    argv += ["--allocation", "fisher", "--asvd-objective", "loss"]
    argv += ["--calib", str(calib_text), "--nsamples", "4"]
    argv += ["--seqlen", "32", "--out", str(tmp_path / "o"), "--quiet", "--device", "cpu"]
    assert cli_main(argv) == 0
    manifest = check_folder(tmp_path / "o", deep=True)
    assert manifest is not None
    params = dense = 0
    for e in manifest.layers.values():
        o, i = e.out_features, e.in_features
        dense += o * i
        params += o * i if e.format.value == "dense" else e.params["rank"] * (o + i)
    assert 0.4 * dense < params <= 0.5 * dense
    ranks = {e.params.get("rank") for e in manifest.layers.values()}
    assert len(ranks) > 2  # not one uniform ratio


def test_cli_refuses_fisher_for_plain_svd(tiny_model: Path, calib_text: Path) -> None:
    from compress.cli import main as cli_main

    argv = ["--model", str(tiny_model), "--method", "svd", "--allocation", "fisher"]
    with pytest.raises(SystemExit) as exc:
        cli_main([*argv, "--calib", str(calib_text), "--out", "/nonexistent/x"])
    assert exc.value.code == 2


def test_loss_objective_resumes_to_the_same_checkpoint(
    tiny_model: Path, calib_text: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Fisher is computed once, kept in the partial state, and reused after a crash."""
    import dataclasses
    import hashlib

    from compress import pipeline
    from compress.methods import MethodConfig
    from compress.pipeline import RunConfig, run, state_dir

    method = MethodConfig(method="asvd", ratio=0.5, allocation="fisher", asvd_objective="loss")

    def cfg(out: Path) -> RunConfig:
        return RunConfig(tiny_model, out, method, calib_text, nsamples=4, seqlen=32)

    def digest(folder: Path) -> str:
        return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()

    run(cfg(tmp_path / "full"), progress=False)
    real = pipeline.compress_layer

    def crash_on_layer_1(model, index, *rest):  # type: ignore[no-untyped-def]
        if index == 1:
            raise KeyboardInterrupt
        return real(model, index, *rest)

    monkeypatch.setattr(pipeline, "compress_layer", crash_on_layer_1)
    with pytest.raises(KeyboardInterrupt):
        run(cfg(tmp_path / "resumed"), progress=False)
    assert (state_dir(tmp_path / "resumed") / "fisher.st").is_file()
    monkeypatch.setattr(pipeline, "compress_layer", real)
    run(dataclasses.replace(cfg(tmp_path / "resumed")), progress=False)
    assert digest(tmp_path / "resumed") == digest(tmp_path / "full")
