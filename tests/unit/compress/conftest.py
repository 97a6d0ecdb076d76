"""Fixtures: a tiny random-init Llama with its own word-level tokenizer, and calibration text.

Everything is generated here; no dataset text is copied into the repository.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.tiny_llama import save_tiny_llama

WORDS = [f"w{i}" for i in range(200)]


def _write_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2}
    for w in WORDS:
        vocab[w] = len(vocab)
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    return len(vocab)


def build_tiny_llama(folder: Path, *, seed: int = 0) -> Path:
    """A 2-layer Llama: hidden 64, MLP 128, 4 heads of 16 / 2 KV heads, tied embeddings."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = _write_tokenizer(folder)
    save_tiny_llama(
        folder,
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        initializer_range=0.1,
        seed=seed,
    )
    return folder


def write_calibration_text(path: Path, *, words: int = 6000, seed: int = 0) -> Path:
    """Random text over the tiny vocabulary, with some repeated phrases (structure to learn)."""
    rng = random.Random(seed)
    phrases = [" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(20)]
    parts = []
    while sum(len(p.split()) for p in parts) < words:
        parts.append(rng.choice(phrases) if rng.random() < 0.5 else rng.choice(WORDS))
    path.write_text(" ".join(parts) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny dense Llama."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "dense")


@pytest.fixture(scope="session")
def calib_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Calibration text file for the tiny model."""
    return write_calibration_text(tmp_path_factory.mktemp("calib") / "calib.txt")


@pytest.fixture(scope="session")
def layer0_problem(tiny_model: Path, calib_text: Path) -> dict:
    """Weights of layer 0 of the tiny model and the Hessians of their real calibration inputs."""
    from compress.calibration import HessianCollector, calibration_samples
    from compress.layerwise import LINEARS, SHARED_INPUT, LayerwiseModel

    model = LayerwiseModel(tiny_model)
    ids = calibration_samples(tiny_model, calib_text, nsamples=8, seqlen=64, seed=0)
    hidden = model.embed(ids)
    layer = model.load_layer(0)
    modules = {n: layer.get_submodule(n) for n in LINEARS}
    collector = HessianCollector(modules, aliases=SHARED_INPUT)
    model.run_layer(layer, hidden)
    collector.remove()
    hess = collector.hessians()
    return {n: (m.weight.data.float().clone(), hess[n]) for n, m in modules.items()}
