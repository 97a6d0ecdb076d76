"""Recovery after one-shot compression: distil the compressed model from the dense one.

The student is the compressed checkpoint with every compressed linear rebuilt from its stored
tensors (model_loaders' own bundles, so Ŵ is exactly what the loaders compute). Only the
floating tensors of those bundles are trained — low-rank factors, kept 2:4 values, ARMOR
wrappers, dense rows, dictionary and coefficient values; integer tensors (2:4 position codes,
dense-row and coefficient indices) stay fixed, so every 2:4 pattern is kept exactly.
Embeddings, norms and the head stay frozen. The loss is the token-level KL(teacher ‖ student)
on the logits over random calibration windows (WikiText-2 validation); Adam, linear decay,
gradient clipping, a bounded number of steps, deterministic for a seed. The healed checkpoint
is written in the same format by model_loaders.formats.writer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from model_loaders.checkpoint.manifest import LayerEntry
    from model_loaders.formats.base import FormatTensors

HEAL_REPORT = "structserve-heal.json"


@dataclass(frozen=True)
class HealConfig:
    """One healing run.

    steps: optimizer steps. batch, seqlen: calibration windows per step and their length.
    lr: Adam learning rate (linearly decayed to 0). clip: gradient-norm clip.
    eval_windows: held-out calibration windows for the KL before/after.
    seed: data order and windows. threads: torch threads (0: default).
    """

    steps: int = 100
    batch: int = 1
    seqlen: int = 512
    lr: float = 5e-5
    clip: float = 1.0
    eval_windows: int = 4
    seed: int = 0
    threads: int = 0


@dataclass(frozen=True)
class HealJob:
    """Heal `compressed` (compressed from `dense`) into `out`, on `calib` text, then measure
    WikiText-2 test perplexity before/after on `ppl_windows` windows (`compress --heal`)."""

    dense: Path
    compressed: Path
    out: Path
    calib: Path
    config: HealConfig
    ppl_windows: int = 8


def _heal_linear_cls():  # type: ignore[no-untyped-def]
    import torch

    from model_loaders.checkpoint.specs import Format
    from model_loaders.formats import format_class

    class HealLinear(torch.nn.Module):
        """A compressed linear whose stored floating tensors are trainable parameters."""

        def __init__(
            self, entry: LayerEntry, parts: dict[str, torch.Tensor], bias: torch.Tensor | None
        ) -> None:
            super().__init__()
            self.fmt = entry.format
            self.cls = format_class(entry.format)
            self.trained = [k for k, v in parts.items() if v.is_floating_point()]
            self.fixed = [k for k, v in parts.items() if not v.is_floating_point()]
            for k in self.trained:  # "f_" avoids clashes with Module attributes
                self.register_parameter(f"f_{k}", torch.nn.Parameter(parts[k].float()))
            for k in self.fixed:
                self.register_buffer(f"f_{k}", parts[k])
            b = None if bias is None else torch.nn.Parameter(bias.float(), requires_grad=False)
            self.bias = b

        def bundle(self, *, detach: bool = False) -> FormatTensors:
            """The format bundle of the current tensors (differentiable unless `detach`)."""
            parts = {k: getattr(self, f"f_{k}") for k in self.trained + self.fixed}
            return self.cls(**{k: v.detach() if detach else v for k, v in parts.items()})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # x: [..., in] -> [..., out]
            if self.fmt == Format.LOWRANK:
                y = (x @ self.f_V.T) @ self.f_U.T
                return y if self.bias is None else y + self.bias
            return torch.nn.functional.linear(x, self.bundle().to_dense(), self.bias)

    return HealLinear


def load_student(compressed_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The compressed checkpoint as a float32 transformers model with trainable factors.

    Returns:
        (model, HF module name -> HealLinear). Only the HealLinears' factors require grad.
    """
    from compress.perplexity import model_from_state
    from model_loaders.checkpoint.manifest import load_manifest
    from model_loaders.formats.writer import load_dense_state

    manifest = load_manifest(Path(compressed_dir))
    if manifest is None:
        raise ValueError(f"{compressed_dir}: not a structserve checkpoint (no manifest)")
    state = load_dense_state(Path(compressed_dir))
    parts = {
        e.name: {sfx: state.pop(f"{e.name}.{sfx}") for sfx in e.tensors()}
        for e in manifest.layers.values()
    }
    model = model_from_state(compressed_dir, state)
    model.requires_grad_(False)
    heal_cls = _heal_linear_cls()
    linears = {}
    for e in manifest.layers.values():
        parent_name, _, child = e.name.rpartition(".")
        parent = model.get_submodule(parent_name)
        bias = state.get(f"{e.name}.bias")
        linears[e.name] = heal_cls(e, parts[e.name], bias)
        setattr(parent, child, linears[e.name])
    return model.eval(), linears


def kl_loss(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of KL(teacher ‖ student). logits: [B, L, V]."""
    import torch

    t = torch.log_softmax(teacher_logits.float(), dim=-1)
    s = torch.log_softmax(student_logits.float(), dim=-1)
    return (t.exp() * (t - s)).sum(-1).mean()


def _mean_kl(teacher: Any, student: Any, ids: torch.Tensor) -> float:
    import torch

    with torch.no_grad():
        losses = [float(kl_loss(teacher(w[None]).logits, student(w[None]).logits)) for w in ids]
    return sum(losses) / len(losses)


def train_steps(
    opt: torch.optim.Optimizer,
    params: list[torch.Tensor],
    *,
    steps: int,
    lr_at: Callable[[int], float],
    batch_loss: Callable[[int], torch.Tensor],
    clip: float,
    desc: str,
    after_step: Callable[[], None] | None = None,
) -> list[float]:
    """`steps` optimizer steps on `params` (healing and draft distillation).

    Args:
        opt, params: the optimizer and the tensors it trains (gradient norm clipped to `clip`).
        steps, desc: step count and progress bar label.
        lr_at, batch_loss: step -> learning rate of every group; step -> that step's loss.
        clip: gradient-norm clip.
        after_step: called after each optimizer step (e.g. to re-apply masks).

    Returns:
        The loss of every step.
    """
    import torch
    from tqdm import tqdm

    history: list[float] = []
    bar = tqdm(range(steps), desc=desc, disable=steps < 2)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = batch_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        if after_step is not None:
            after_step()
        history.append(float(loss.detach()))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    return history


def distill(
    teacher: Any, student: Any, params: list[torch.Tensor], ids: torch.Tensor, cfg: HealConfig
) -> list[float]:
    """Run `cfg.steps` Adam steps on `params` (lr linearly decayed to 0), batch i =
    ids[i*batch:(i+1)*batch].

    Returns:
        The training KL of every step.
    """
    import torch

    def batch_loss(step: int) -> torch.Tensor:
        x = ids[step * cfg.batch : (step + 1) * cfg.batch]  # [B, L]
        with torch.no_grad():
            target = teacher(x).logits  # [B, L, V]
        return kl_loss(target, student(x).logits)

    return train_steps(
        torch.optim.Adam(params, lr=cfg.lr),
        params,
        steps=cfg.steps,
        lr_at=lambda step: cfg.lr * (1.0 - step / cfg.steps),
        batch_loss=batch_loss,
        clip=cfg.clip,
        desc="heal",
    )


def _windows(dense_dir: Path, calib: Path, cfg: HealConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """[steps * batch, seqlen] training windows and [eval_windows, seqlen] held-out ones."""
    from compress.calibration import calibration_samples

    kw = {"seqlen": cfg.seqlen}
    train = calibration_samples(
        dense_dir, calib, nsamples=cfg.steps * cfg.batch, seed=cfg.seed, **kw
    )
    held = calibration_samples(dense_dir, calib, nsamples=cfg.eval_windows, seed=cfg.seed + 1, **kw)
    return train, held


def heal(
    dense_dir: Path,
    compressed_dir: Path,
    out_dir: Path,
    calib: Path,
    cfg: HealConfig,
) -> dict[str, Any]:
    """Distil `compressed_dir` from `dense_dir` and write the healed checkpoint to `out_dir`.

    Args:
        dense_dir: the dense HF folder the checkpoint was compressed from (teacher).
        compressed_dir: a structserve checkpoint (student; its format is kept).
        out_dir: where the healed checkpoint goes (same format, accepted by the loaders).
        calib: raw calibration text (WikiText-2 validation by default).
        cfg: the run.

    Returns:
        The report (also written to `out_dir/structserve-heal.json`): KL on held-out calibration
        windows before/after, the per-step training KL, seconds.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from model_loaders.formats.writer import write_checkpoint

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    teacher = AutoModelForCausalLM.from_pretrained(dense_dir, dtype=torch.float32).eval()
    teacher.requires_grad_(False)
    student, linears = load_student(compressed_dir)
    params = [p for lin in linears.values() for p in lin.parameters() if p.requires_grad]
    train, held = _windows(dense_dir, calib, cfg)
    kl_before = _mean_kl(teacher, student, held)
    history = distill(teacher, student, params, train, cfg) if cfg.steps else []
    kl_after = _mean_kl(teacher, student, held)
    write_checkpoint(dense_dir, out_dir, {n: lin.bundle(detach=True) for n, lin in linears.items()})
    report = {
        "config": asdict(cfg),
        "dense": str(dense_dir),
        "compressed": str(compressed_dir),
        "calib": str(calib),
        "trainable_params": sum(p.numel() for p in params),
        "heldout_kl_before": kl_before,
        "heldout_kl_after": kl_after,
        "train_kl": history,
        "heal_seconds": time.time() - t0,
    }
    (Path(out_dir) / HEAL_REPORT).write_text(json.dumps(report, indent=1))
    return report
