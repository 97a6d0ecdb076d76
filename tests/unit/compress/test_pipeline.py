"""End to end on the tiny Llama: every method writes a checkpoint the loader accepts,
deterministically, and an interrupted run resumes to the same result."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from compress.cli import main as cli_main
from compress.methods import MethodConfig
from compress.pipeline import REPORT_FILE, RunConfig, run, state_dir
from compress.svd import uniform_rank

EXPECTED_FORMAT = {
    "magnitude24": "sparse24",
    "wanda24": "sparse24",
    "sparsegpt24": "sparse24",
    "armor": "armor",
    "spense": "spense",
    "svd": "lowrank",
    "asvd": "lowrank",
    "dict": "dictsparse",
}


def _cfg(model: Path, calib: Path, out: Path, method: str, **kw: object) -> RunConfig:
    m = MethodConfig(method=method, armor_iters=5, armor_block_size=32, **kw)  # type: ignore[arg-type]
    return RunConfig(model_dir=model, out_dir=out, method=m, calib=calib, nsamples=4, seqlen=32)


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.parametrize("method", sorted(EXPECTED_FORMAT))
def test_method_checkpoint_passes_loader(
    method: str, tiny_model: Path, calib_text: Path, tmp_path: Path
) -> None:
    from model_loaders.checkpoint.checks import check_folder

    report = run(_cfg(tiny_model, calib_text, tmp_path / method, method), progress=False)
    manifest = check_folder(tmp_path / method, deep=True)  # raises on a bad mask / shape
    assert manifest is not None
    fmts = {e.format.value for e in manifest.layers.values()}
    assert fmts == {EXPECTED_FORMAT[method]}
    assert len(manifest.layers) == 2 * 7
    if method in ("svd", "asvd"):
        for e in manifest.layers.values():
            assert e.params["rank"] == uniform_rank((e.out_features, e.in_features), 0.7)
    ratio = report["linear_param_ratio"]
    if method.endswith("24"):
        assert ratio == 0.5
    if method in ("svd", "asvd", "dict"):
        assert 0.6 < ratio <= 0.7
    if method == "dict":  # the index is stored I16, so the bytes stay below dense
        from model_loaders.checkpoint.folder import tensor_index

        index = tensor_index(tmp_path / method)
        assert {r["dtype"] for n, r in index.items() if n.endswith(".C_index")} == {"I16"}
        assert report["linear_byte_ratio"] < 1.0
    assert (tmp_path / method / REPORT_FILE).is_file()
    assert not state_dir(tmp_path / method).exists()


def test_seed_reproduces(tiny_model: Path, calib_text: Path, tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = dataclasses.replace(_cfg(tiny_model, calib_text, tmp_path / name, "sparsegpt24"))
        run(dataclasses.replace(cfg, seed=seed), progress=False)
        digests.append(_digest(tmp_path / name))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


@pytest.mark.parametrize("target", ["compressed", "dense"])
def test_resume_after_interruption(
    target: str,
    tiny_model: Path,
    calib_text: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import compress.pipeline as pipeline

    full = _cfg(tiny_model, calib_text, tmp_path / "full", "wanda24")
    run(dataclasses.replace(full, target=target), progress=False)
    real = pipeline.compress_layer

    def crash_on_layer_1(model, index, hidden, cfg, *rest):  # type: ignore[no-untyped-def]
        if index == 1:
            raise KeyboardInterrupt
        return real(model, index, hidden, cfg, *rest)

    monkeypatch.setattr(pipeline, "compress_layer", crash_on_layer_1)
    cfg = _cfg(tiny_model, calib_text, tmp_path / "resumed", "wanda24")
    cfg = dataclasses.replace(cfg, target=target)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, progress=False)
    assert (state_dir(tmp_path / "resumed") / "layer0000.st").is_file()
    monkeypatch.setattr(pipeline, "compress_layer", real)
    run(cfg, progress=False)
    assert _digest(tmp_path / "resumed") == _digest(tmp_path / "full")


def test_cli(tiny_model: Path, calib_text: Path, tmp_path: Path) -> None:
    argv = ["--model", str(tiny_model), "--method", "asvd", "--ratio", "0.5"]
    argv += ["--allocation", "global", "--calib", str(calib_text), "--nsamples", "4"]
    argv += ["--seqlen", "32", "--out", str(tmp_path / "o"), "--quiet", "--device", "cpu"]
    assert cli_main(argv) == 0
    from model_loaders.checkpoint.checks import check_folder

    assert check_folder(tmp_path / "o", deep=True) is not None
