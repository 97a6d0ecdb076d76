"""`--heal`: distillation of a compressed tiny Llama from the dense one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from compress.heal import HealConfig, heal
from compress.methods import MethodConfig
from compress.pipeline import RunConfig, run

CFG = HealConfig(steps=30, batch=2, seqlen=32, lr=1e-3, eval_windows=4)


def _compressed(model: Path, calib: Path, out: Path, method: str) -> Path:
    m = MethodConfig(method=method, armor_iters=3, armor_block_size=32)
    run(RunConfig(model, out, m, calib, nsamples=4, seqlen=32), progress=False)
    return out


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("method", ["sparsegpt24", "armor", "asvd", "dict"])
def test_heal_lowers_kl_keeps_format(
    method: str, tiny_model: Path, calib_text: Path, tmp_path: Path
) -> None:
    from model_loaders.checkpoint.checks import check_folder

    comp = _compressed(tiny_model, calib_text, tmp_path / method, method)
    report = heal(tiny_model, comp, tmp_path / "healed", calib_text, CFG)
    # held-out windows (another seed): the per-batch training KL is too noisy to compare
    assert report["heldout_kl_after"] < 0.95 * report["heldout_kl_before"]
    assert len(report["train_kl"]) == CFG.steps
    before = check_folder(comp, deep=True)
    after = check_folder(tmp_path / "healed", deep=True)  # loader checks: shapes, 2:4 codes
    assert before is not None and after is not None
    assert after.layers == before.layers  # same formats, ranks, block sizes
    old, new = _tensors(comp), _tensors(tmp_path / "healed")
    assert old.keys() == new.keys()
    changed = 0
    for k, v in old.items():
        assert new[k].dtype == v.dtype, k  # e.g. a dictsparse C_index stays I16
        if not v.is_floating_point() or ".layers." not in k or k.endswith("norm.weight"):
            assert (new[k] == v).all(), k  # 2:4 codes, indices, norms, embeddings untouched
        else:
            changed += int(not (new[k] == v).all())
    assert changed > 0


def test_heal_is_deterministic(tiny_model: Path, calib_text: Path, tmp_path: Path) -> None:
    comp = _compressed(tiny_model, calib_text, tmp_path / "c", "sparsegpt24")
    digests = []
    for name in ("a", "b"):
        heal(tiny_model, comp, tmp_path / name, calib_text, CFG)
        blob = (tmp_path / name / "model.safetensors").read_bytes()
        digests.append(hashlib.sha256(blob).hexdigest())
    assert digests[0] == digests[1]
