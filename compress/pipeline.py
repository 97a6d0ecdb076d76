"""Sequential, resumable layer-by-layer compression of a dense model folder.

Calibration activations flow through the *compressed* layers: layer i is calibrated on the
outputs of the already-compressed layers 0..i-1 (as in SparseGPT / SVD-LLM). Memory holds one
decoder layer plus the activations. After each layer, its compressed tensors, the next layer's
inputs and the progress are written to `<out>.partial/`, so an interrupted run resumes at the
next layer (same config required). The checkpoint is written by model_loaders.formats.writer
at the end.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compress.layerwise import LINEAR_GROUPS, LINEARS, SHARED_INPUT
from compress.masks import relative_error
from compress.methods import (
    LOWRANK_METHODS,
    MethodConfig,
    compress_one,
    is_data_free,
    needs_fisher,
)
from compress.report import layer_report, linear_budget
from compress.state import (
    atomic_json,
    layer_path,
    load_layer_results,
    save_layer,
    save_tensors,
    state_dir,
)
from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch

    from compress.layerwise import LayerwiseModel

REPORT_FILE = "structserve-compress.json"


@dataclass(frozen=True)
class RunConfig:
    """One compression run.

    model_dir: dense HF folder. out_dir: checkpoint folder to write.
    calib: raw calibration text. nsamples, seqlen: calibration windows. seed: sampling seed.
    device: "cpu" or "cuda". true_sequential: re-capture inputs after each linear group
    (q/k/v, o, gate/up, down) instead of once per layer. target: "compressed" fits each layer
    to W on the compressed model's inputs, "dense" to the dense model's outputs
    (compress/target.py).
    batch: sequences per forward.
    """

    model_dir: Path
    out_dir: Path
    method: MethodConfig
    calib: Path
    nsamples: int = 32
    seqlen: int = 512
    seed: int = 0
    device: str = "cpu"
    true_sequential: bool = False
    target: str = "compressed"
    batch: int = 8
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a resume (everything but the device)."""
        d = asdict(self)
        d.pop("device")
        d.pop("batch")
        return json.loads(json.dumps(d, default=str))


def _moments(
    model: LayerwiseModel,
    layer: torch.nn.Module,
    hidden: torch.Tensor,
    names: tuple[str, ...],
    cfg: RunConfig,
    dense: tuple[torch.nn.Module, torch.Tensor] | None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """name -> (Ĥ, M) for the dense-output target, or (H, None) for the plain one."""
    from compress.calibration import HessianCollector
    from compress.target import CrossCollector

    modules = {n: layer.get_submodule(n) for n in names}
    if dense is None:
        collector = HessianCollector(modules, aliases=SHARED_INPUT)
        try:
            model.run_layer(layer, hidden, batch=cfg.batch)
        finally:
            collector.remove()
        return {n: (h, None) for n, h in collector.hessians().items()}
    dense_layer, dense_hidden = dense
    cross = CrossCollector(
        {n: dense_layer.get_submodule(n) for n in names}, modules, aliases=SHARED_INPUT
    )
    try:
        for i in range(0, hidden.shape[0], cfg.batch):
            model.run_layer(dense_layer, dense_hidden[i : i + cfg.batch], batch=cfg.batch)
            model.run_layer(layer, hidden[i : i + cfg.batch], batch=cfg.batch)
    finally:
        cross.remove()
    return {n: (h, m) for n, (h, m) in cross.moments().items()}


def _compress_group(
    layer: torch.nn.Module,
    names: tuple[str, ...],
    moments: dict[str, tuple[torch.Tensor, torch.Tensor | None]],
    cfg: RunConfig,
    prefix: str,
    fisher: dict[str, torch.Tensor] | None = None,
) -> dict[str, CompressedLinear]:
    """Compress the linears `names` of `layer` on their moments (`_moments`), writing each Ŵ
    back into the layer."""
    import torch

    from compress.target import dense_target

    out = {}
    for n in names:
        mod = layer.get_submodule(n)
        w = mod.weight.data.float().cpu()
        h, m = (t.cpu() if t is not None else None for t in moments[n])
        if m is not None:
            w = dense_target(w, h, m)
        torch.manual_seed(cfg.seed)
        name = f"{prefix}{n}"
        c = compress_one(cfg.method, name, w, h, None if fisher is None else fisher[name])
        c.meta["rel_error"] = relative_error(w, c.dense(), h)
        mod.weight.data.copy_(c.dense().to(mod.weight.dtype))
        out[name] = c
    return out


def _compress_data_free(
    model: LayerwiseModel, index: int, cfg: RunConfig
) -> dict[str, CompressedLinear]:
    import torch

    layer = model.load_layer(index)
    eye = {n: (torch.eye(layer.get_submodule(n).weight.shape[1]), None) for n in LINEARS}
    return _compress_group(layer, LINEARS, eye, cfg, f"model.layers.{index}.")


def compress_layer(
    model: LayerwiseModel,
    index: int,
    hidden: torch.Tensor,
    cfg: RunConfig,
    dense_hidden: torch.Tensor | None = None,
    fisher: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, CompressedLinear], torch.Tensor, torch.Tensor | None]:
    """Compress decoder layer `index` on its calibration inputs.

    Args:
        model: the layer-wise model.
        index: decoder layer index.
        hidden: [N, L, d] inputs of this layer (outputs of the compressed layers before it).
        cfg: the run.
        dense_hidden: [N, L, d] the dense model's inputs of this layer (target "dense" only).
        fisher: HF module name -> [out] output-channel Fisher (asvd objective "loss" only).

    Returns:
        (HF module name -> CompressedLinear, [N, L, d] outputs of the compressed layer,
        [N, L, d] outputs of the dense layer or None).
    """
    layer = model.load_layer(index)
    prefix = f"model.layers.{index}."
    dense = None if dense_hidden is None else (model.load_layer(index), dense_hidden)
    groups = LINEAR_GROUPS if cfg.true_sequential else (LINEARS,)
    results: dict[str, CompressedLinear] = {}
    for names in groups:
        moments = _moments(model, layer, hidden, names, cfg, dense)
        results.update(_compress_group(layer, names, moments, cfg, prefix, fisher))
    dense_out = None if dense is None else model.run_layer(dense[0], dense[1], batch=cfg.batch)
    return results, model.run_layer(layer, hidden, batch=cfg.batch), dense_out


def _fisher(
    cfg: RunConfig, ids: torch.Tensor | None, path: Path, device: torch.device
) -> dict[str, torch.Tensor] | None:
    """The run's output Fisher: computed on the first windows once, then read from `path`."""
    if not needs_fisher(cfg.method):
        return None
    if path.exists():
        from safetensors.torch import load_file

        return load_file(str(path))
    from compress.fisher import FISHER_WINDOWS, output_fisher

    assert ids is not None, "the Fisher is computed before the first layer"
    fisher = output_fisher(cfg.model_dir, ids[:FISHER_WINDOWS], linears=LINEARS, device=str(device))
    save_tensors(path, fisher, {})
    return fisher


@dataclass
class _Carry:
    """What flows from one layer to the next: progress, activations, the output Fisher."""

    prog: dict[str, Any]
    hidden: torch.Tensor | None = None  # [N, L, d] inputs of the next layer
    dense_hidden: torch.Tensor | None = None  # [N, L, d] the dense model's (target "dense")
    fisher: dict[str, torch.Tensor] | None = None


def _new_progress() -> dict[str, Any]:
    return {"next_layer": 0, "seconds": 0.0, "ranks": {}}


def _open_state(cfg: RunConfig) -> Path:
    """The run's `<out>.partial/`, refusing one left by a run with another config."""
    sdir = state_dir(cfg.out_dir)
    sdir.mkdir(parents=True, exist_ok=True)
    fp_path = sdir / "config.json"
    if fp_path.exists() and json.loads(fp_path.read_text()) != cfg.fingerprint():
        raise SystemExit(f"{sdir} holds a run with another config; delete it or use --restart")
    atomic_json(fp_path, cfg.fingerprint())
    return sdir


def _calibrate(cfg: RunConfig, model: LayerwiseModel, sdir: Path) -> _Carry:
    """A fresh run: calibration windows, their embeddings, the Fisher and global ranks."""
    from compress.allocation import global_ranks
    from compress.calibration import calibration_samples

    ids = calibration_samples(
        cfg.model_dir, cfg.calib, nsamples=cfg.nsamples, seqlen=cfg.seqlen, seed=cfg.seed
    )
    hidden = model.embed(ids)
    dense_hidden = hidden.clone() if cfg.target == "dense" else None
    carry = _Carry(_new_progress(), hidden, dense_hidden)
    t0 = time.time()
    carry.fisher = _fisher(cfg, ids, sdir / "fisher.st", model.device)
    if cfg.method.method in LOWRANK_METHODS and cfg.method.allocation != "uniform":
        ranks = global_ranks(model, hidden, cfg.method, carry.fisher, batch=cfg.batch)
        carry.prog["ranks"] = ranks
    carry.prog["seconds"] += time.time() - t0
    return carry


def _resume(cfg: RunConfig, model: LayerwiseModel, sdir: Path) -> _Carry:
    """Where the run stands: fresh, data-free, or resumed from `<out>.partial/`."""
    from safetensors.torch import load_file

    prog_path = sdir / "progress.json"
    prog = json.loads(prog_path.read_text()) if prog_path.exists() else None
    if is_data_free(cfg.method):
        return _Carry(prog or _new_progress())
    if prog is None:
        return _calibrate(cfg, model, sdir)
    acts = load_file(str(sdir / "acts.st"))
    dense_hidden = acts["dense"].to(model.device) if "dense" in acts else None
    fisher = _fisher(cfg, None, sdir / "fisher.st", model.device)
    return _Carry(prog, acts["hidden"].to(model.device), dense_hidden, fisher)


def _step(model: LayerwiseModel, index: int, cfg: RunConfig, sdir: Path, carry: _Carry) -> float:
    """Compress layer `index`, persist it and the progress; returns its mean relative error."""
    t0 = time.time()
    if is_data_free(cfg.method):
        results = _compress_data_free(model, index, cfg)
    else:
        assert carry.hidden is not None
        results, carry.hidden, carry.dense_hidden = compress_layer(
            model, index, carry.hidden, cfg, carry.dense_hidden, carry.fisher
        )
        acts = {"hidden": carry.hidden}
        if carry.dense_hidden is not None:
            acts["dense"] = carry.dense_hidden
        save_tensors(sdir / "acts.st", acts, {})
    save_layer(layer_path(sdir, index), results)
    carry.prog["next_layer"] = index + 1
    carry.prog["seconds"] += time.time() - t0
    atomic_json(sdir / "progress.json", carry.prog)
    errs = [c.meta["rel_error"] for c in results.values()]
    return sum(errs) / len(errs)


def run(cfg: RunConfig, *, progress: bool = True) -> dict[str, Any]:
    """Compress `cfg.model_dir` into `cfg.out_dir` (resuming from `<out>.partial` if present).

    Returns:
        The run report (also written to `<out>/structserve-compress.json`).
    """
    from tqdm import tqdm

    from compress.layerwise import LayerwiseModel

    sdir = _open_state(cfg)
    model = LayerwiseModel(cfg.model_dir, device=cfg.device)
    carry = _resume(cfg, model, sdir)
    method = cfg.method
    if carry.prog["ranks"]:
        method = dataclasses.replace(method, ranks=carry.prog["ranks"])
    run_cfg = dataclasses.replace(cfg, method=method)
    start = carry.prog["next_layer"]
    bar = tqdm(
        range(start, model.num_layers),
        initial=start,
        total=model.num_layers,
        desc=f"compress {method.method}",
        disable=not progress,
    )
    for i in bar:
        bar.set_postfix(rel_err=f"{_step(model, i, run_cfg, sdir, carry):.4f}")
    return _finish(cfg, sdir, carry.prog, model.num_layers)


def _finish(cfg: RunConfig, sdir: Path, prog: dict[str, Any], num_layers: int) -> dict[str, Any]:
    from compress.export import to_format_tensors
    from model_loaders.formats.writer import write_checkpoint

    results = {
        n: c for i in range(num_layers) for n, c in load_layer_results(layer_path(sdir, i)).items()
    }
    write_checkpoint(
        cfg.model_dir, cfg.out_dir, {n: to_format_tensors(c) for n, c in results.items()}
    )
    report = {
        "method": asdict(cfg.method),
        "config": cfg.fingerprint(),
        "compress_seconds": prog["seconds"],
        **linear_budget(results),
        "layers": {name: layer_report(c) for name, c in results.items()},
    }
    atomic_json(cfg.out_dir / REPORT_FILE, report)
    shutil.rmtree(sdir)
    return report
