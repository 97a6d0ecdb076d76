"""`structserve compress draft` on a tiny random Llama with SmolLM2's tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from compress.draft import DRAFT_REPORT, main  # noqa: E402
from compress.hf_folder import write_layerdrop  # noqa: E402
from compress.layer_importance import angular_distance, select_layers  # noqa: E402
from compress.layerwise import LayerwiseModel  # noqa: E402
from tests.prereq import require_default_model  # noqa: E402
from tests.tiny_llama import save_tiny_llama  # noqa: E402

SIDE = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer Llama (hidden 64), tied embeddings, SmolLM2 vocabulary (the default model's
    tokenizer files: a missing default model skips, or fails in CI)."""
    smollm2 = require_default_model()
    out = tmp_path_factory.mktemp("tiny") / "target"
    save_tiny_llama(
        out,
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_layers=4,
        num_heads=2,
        num_kv_heads=1,
    )
    for name in SIDE:
        shutil.copy2(smollm2 / name, out / name)
    return out


@pytest.fixture(scope="module")
def calib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic calibration text (long lines become distillation passages)."""
    words = [
        "the",
        "river",
        "flows",
        "past",
        "old",
        "stone",
        "bridges",
        "while",
        "merchants",
        "trade",
        "salt",
        "and",
        "grain",
    ]
    lines = [" ".join(words[(i + j) % len(words)] for j in range(60)) for i in range(40)]
    path = tmp_path_factory.mktemp("calib") / "calib.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_angular_distance_bounds() -> None:
    a = torch.randn(2, 5, 8)
    assert angular_distance(a, a) == pytest.approx(0.0, abs=1e-3)
    assert angular_distance(a, -a) == pytest.approx(1.0, abs=1e-3)


def test_selection_is_measured(tiny: Path) -> None:
    ids = torch.randint(0, 49152, (4, 16), generator=torch.Generator().manual_seed(0))
    sel = select_layers(LayerwiseModel(tiny), ids[:2], ids[2:], keep=2)
    assert len(sel.kept) == 2 and sel.kept == sorted(sel.kept)
    assert sel.rule in ("angular_top", "angular_block")
    assert sel.kept == sel.candidates[sel.rule]["kept"]
    assert len(sel.angular) == 4 and all(0 <= a <= 1 for a in sel.angular)
    losses = {k: v["loss"] for k, v in sel.candidates.items() if k != "first_layers"}
    assert sel.candidates[sel.rule]["loss"] == min(losses.values())


def test_layerdrop_equals_target_restricted_to_kept_layers(tiny: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    kept = [0, 3]
    draft_dir = write_layerdrop(tiny, tmp_path / "draft", kept)
    assert json.loads((draft_dir / "config.json").read_text())["num_hidden_layers"] == 2
    target = AutoModelForCausalLM.from_pretrained(tiny).eval()
    draft = AutoModelForCausalLM.from_pretrained(draft_dir).eval()
    target.model.layers = torch.nn.ModuleList([target.model.layers[i] for i in kept])
    for new, layer in enumerate(target.model.layers):
        layer.self_attn.layer_idx = new
    target.config.num_hidden_layers = 2
    ids = torch.randint(0, 49152, (1, 12))
    with torch.no_grad():
        want, got = target(ids).logits, draft(ids).logits  # [1, 12, V]
    torch.testing.assert_close(got, want)
    assert (draft_dir / "tokenizer.json").read_bytes() == (tiny / "tokenizer.json").read_bytes()


def test_cli_layerdrop_with_distillation(tiny: Path, calib: Path, tmp_path: Path) -> None:
    out = tmp_path / "draft"
    argv = ["--model", str(tiny), "--method", "layerdrop", "--keep-layers", "2", "--out", str(out)]
    argv += ["--calib", str(calib)]
    argv += ["--nsamples", "2", "--seqlen", "16", "--distill", "3", "--distill-prompts", "4"]
    argv += ["--distill-max-new", "4", "--distill-batch", "2"]
    assert main(argv) == 0
    report = json.loads((out / DRAFT_REPORT).read_text())
    assert len(report["kept_layers"]) == 2
    assert report["selection"]["rule"] in ("angular_top", "angular_block")
    assert report["distill"]["steps"] == 3 and report["distill"]["prompts"] == 4
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2
    assert report["draft_bytes"] < report["target_bytes"]


def test_cli_sparse24_draft_is_dense_and_24(tiny: Path, calib: Path, tmp_path: Path) -> None:
    """vLLM loads drafts only dense: the 2:4 weights are materialized (zeros kept), and
    distillation runs after pruning without filling the zeros."""
    from safetensors.torch import load_file

    out = tmp_path / "draft24"
    argv = ["--model", str(tiny), "--method", "sparse24", "--out", str(out), "--calib", str(calib)]
    argv += ["--distill", "2", "--distill-prompts", "4", "--distill-max-new", "4"]
    assert main([*argv, "--nsamples", "2", "--seqlen", "16", "--keep-structured"]) == 0
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    state = load_file(str(out / "model.safetensors"))
    for i in range(4):
        w = state[f"model.layers.{i}.mlp.down_proj.weight"]  # [O, I]
        assert ((w.reshape(w.shape[0], -1, 4) != 0).sum(-1) <= 2).all()
    structured = json.loads((tmp_path / "draft24-structserve" / "config.json").read_text())
    formats = {e["format"] for e in structured["quantization_config"]["layers"].values()}
    assert formats == {"sparse24"}
    report = json.loads((out / DRAFT_REPORT).read_text())
    assert (
        report["compress"]["method"] == "sparsegpt24" and report["compress"]["structured_bytes"] > 0
    )
    assert report["distill"]["after_pruning"] and report["distill"]["steps"] == 2


def test_method_needs_keep_layers(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--model", str(tiny), "--method", "combo", "--out", str(tmp_path / "x")])
