"""Sequential, resumable layer-by-layer compression of a dense model folder.

Calibration activations flow through the *compressed* layers: layer i is calibrated on the
outputs of the already-compressed layers 0..i-1 (as in SparseGPT / SVD-LLM). Memory holds one
decoder layer plus the activations. After each layer, its compressed tensors, the next layer's
inputs and the progress are written to `<out>.partial/`, so an interrupted run resumes at the
next layer (same config required). The checkpoint is written by model_loaders.writer at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compress.layerwise import LINEAR_GROUPS, LINEARS, SHARED_INPUT
from compress.methods import LOWRANK_METHODS, MethodConfig, compress_one
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


def state_dir(out_dir: Path) -> Path:
    """Where per-layer progress lives while a run is incomplete."""
    return out_dir.with_name(out_dir.name + ".partial")


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=meta)
    os.replace(tmp, path)


def save_layer(path: Path, results: dict[str, CompressedLinear]) -> None:
    """Persist one layer's compressed linears (safetensors + JSON metadata)."""
    tensors = {f"{n}::{k}": v for n, c in results.items() for k, v in c.tensors.items()}
    info = {n: {"fmt": c.fmt, "shape": list(c.shape), "meta": c.meta} for n, c in results.items()}
    _save_tensors(path, tensors, {"layers": json.dumps(info)})


def load_layer_results(path: Path) -> dict[str, CompressedLinear]:
    """Inverse of `save_layer`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        info = json.loads(f.metadata()["layers"])
        raw = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    out = {}
    for name, d in info.items():
        t = {k.split("::", 1)[1]: v for k, v in raw.items() if k.split("::", 1)[0] == name}
        out[name] = CompressedLinear(d["fmt"], tuple(d["shape"]), t, d["meta"])
    return out


def _relative_error(w: torch.Tensor, w_hat: torch.Tensor, h: torch.Tensor) -> float:
    from compress.masks import layer_error

    base = layer_error(w, w.new_zeros(w.shape), h)
    return layer_error(w, w_hat, h) / max(base, 1e-30)


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
    model: LayerwiseModel,
    layer: torch.nn.Module,
    hidden: torch.Tensor,
    names: tuple[str, ...],
    cfg: RunConfig,
    prefix: str,
    dense: tuple[torch.nn.Module, torch.Tensor] | None = None,
    fisher: dict[str, torch.Tensor] | None = None,
) -> dict[str, CompressedLinear]:
    import torch

    from compress.target import dense_target

    moments = _moments(model, layer, hidden, names, cfg, dense)
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
        c.meta["rel_error"] = _relative_error(w, c.dense(), h)
        mod.weight.data.copy_(c.dense().to(mod.weight.dtype))
        out[name] = c
    return out


def is_data_free(method: MethodConfig) -> bool:
    """Methods that need no calibration pass (their error is reported with H = I)."""
    return method.method == "magnitude24" or (
        method.method == "svd" and method.allocation == "uniform"
    )


def _compress_data_free(
    model: LayerwiseModel, index: int, cfg: RunConfig
) -> dict[str, CompressedLinear]:
    import torch

    layer = model.load_layer(index)
    out = {}
    for n in LINEARS:
        w = layer.get_submodule(n).weight.data.float().cpu()
        name = f"model.layers.{index}.{n}"
        c = compress_one(cfg.method, name, w, torch.eye(w.shape[1]))
        c.meta["rel_error"] = _relative_error(w, c.dense(), torch.eye(w.shape[1]))
        out[name] = c
    return out


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
        results.update(_compress_group(model, layer, hidden, names, cfg, prefix, dense, fisher))
    dense_out = None if dense is None else model.run_layer(dense[0], dense[1], batch=cfg.batch)
    return results, model.run_layer(layer, hidden, batch=cfg.batch), dense_out


def needs_fisher(method: MethodConfig) -> bool:
    """Whether a run needs the dense model's output Fisher (compress/fisher.py)."""
    return method.method == "asvd" and (
        method.allocation == "fisher" or method.asvd_objective == "loss"
    )


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
    _save_tensors(path, fisher, {})
    return fisher


def _global_ranks(
    model: LayerwiseModel,
    hidden: torch.Tensor,
    cfg: RunConfig,
    fisher: dict[str, torch.Tensor] | None,
) -> dict[str, int]:
    """Dense pre-pass: spectra (or Fisher-valued directions) of every linear, one budget."""
    from tqdm import tqdm

    from compress import asvd, svd
    from compress.calibration import HessianCollector

    by_loss = cfg.method.allocation == "fisher"
    if by_loss and fisher is None:
        raise ValueError("allocation 'fisher' needs the output Fisher")
    values, shapes = {}, {}
    for i in tqdm(range(model.num_layers), desc="rank allocation (dense pre-pass)"):
        layer = model.load_layer(i)
        modules = {n: layer.get_submodule(n) for n in LINEARS}
        collector = HessianCollector(modules, aliases=SHARED_INPUT)
        out = model.run_layer(layer, hidden, batch=cfg.batch)
        collector.remove()
        hess = collector.hessians()
        for n, mod in modules.items():
            w = mod.weight.data.float().cpu()
            key = f"model.layers.{i}.{n}"
            shapes[key] = (int(w.shape[0]), int(w.shape[1]))
            if by_loss and fisher is not None:
                weighted = cfg.method.asvd_objective == "loss"
                values[key] = asvd.fisher_scores(w, hess[n].cpu(), fisher[key], weighted=weighted)
            else:
                mod_sv = svd if cfg.method.method == "svd" else asvd
                values[key] = mod_sv.singular_values(w, hess[n].cpu())
        hidden = out
    if by_loss:
        return svd.allocate_budget(values, shapes, cfg.method.ratio)
    return svd.allocate_ranks(values, shapes, cfg.method.ratio)


def run(cfg: RunConfig, *, progress: bool = True) -> dict[str, Any]:
    """Compress `cfg.model_dir` into `cfg.out_dir` (resuming from `<out>.partial` if present).

    Returns:
        The run report (also written to `<out>/structserve-compress.json`).
    """
    import dataclasses

    from safetensors.torch import load_file
    from tqdm import tqdm

    from compress.calibration import calibration_samples
    from compress.layerwise import LayerwiseModel

    sdir = state_dir(cfg.out_dir)
    sdir.mkdir(parents=True, exist_ok=True)
    fp_path, prog_path, acts_path = sdir / "config.json", sdir / "progress.json", sdir / "acts.st"
    fisher_path = sdir / "fisher.st"
    if fp_path.exists() and json.loads(fp_path.read_text()) != cfg.fingerprint():
        raise SystemExit(f"{sdir} holds a run with another config; delete it or use --restart")
    _atomic_json(fp_path, cfg.fingerprint())
    model = LayerwiseModel(cfg.model_dir, device=cfg.device)
    prog = json.loads(prog_path.read_text()) if prog_path.exists() else None
    method = cfg.method
    data_free = is_data_free(method)
    hidden = dense_hidden = None
    fisher: dict[str, torch.Tensor] | None = None
    if data_free:
        prog = prog or {"next_layer": 0, "seconds": 0.0, "ranks": {}}
    elif prog is None:
        ids = calibration_samples(
            cfg.model_dir, cfg.calib, nsamples=cfg.nsamples, seqlen=cfg.seqlen, seed=cfg.seed
        )
        hidden = model.embed(ids)
        dense_hidden = hidden.clone() if cfg.target == "dense" else None
        prog = {"next_layer": 0, "seconds": 0.0, "ranks": {}}
        t0 = time.time()
        fisher = _fisher(cfg, ids, fisher_path, model.device)
        if method.method in LOWRANK_METHODS and method.allocation != "uniform":
            prog["ranks"] = _global_ranks(model, hidden, cfg, fisher)
        prog["seconds"] += time.time() - t0
    else:
        acts = load_file(str(acts_path))
        hidden = acts["hidden"].to(model.device)
        dense_hidden = acts["dense"].to(model.device) if "dense" in acts else None
        fisher = _fisher(cfg, None, fisher_path, model.device)
    if prog["ranks"]:
        method = dataclasses.replace(method, ranks=prog["ranks"])
    run_cfg = dataclasses.replace(cfg, method=method)
    bar = tqdm(
        range(prog["next_layer"], model.num_layers),
        initial=prog["next_layer"],
        total=model.num_layers,
        desc=f"compress {method.method}",
        disable=not progress,
    )
    for i in bar:
        t0 = time.time()
        if data_free:
            results = _compress_data_free(model, i, run_cfg)
        else:
            results, hidden, dense_hidden = compress_layer(
                model, i, hidden, run_cfg, dense_hidden, fisher
            )
            acts = (
                {"hidden": hidden}
                if dense_hidden is None
                else {"hidden": hidden, "dense": dense_hidden}
            )
            _save_tensors(acts_path, acts, {})
        save_layer(sdir / f"layer{i:04d}.st", results)
        prog["next_layer"] = i + 1
        prog["seconds"] += time.time() - t0
        _atomic_json(prog_path, prog)
        errs = [c.meta["rel_error"] for c in results.values()]
        bar.set_postfix(rel_err=f"{sum(errs) / len(errs):.4f}")
    return _finish(cfg, sdir, prog, model.num_layers)


def _finish(cfg: RunConfig, sdir: Path, prog: dict[str, Any], num_layers: int) -> dict[str, Any]:
    from compress.export import stored_bytes, to_format_tensors
    from model_loaders.formats.writer import write_checkpoint

    layers, per_layer = {}, {}
    dense_params = params = dense_bytes = stored = 0
    for i in range(num_layers):
        for name, c in load_layer_results(sdir / f"layer{i:04d}.st").items():
            layers[name] = to_format_tensors(c)
            out_f, in_f = c.shape
            dense_params += out_f * in_f
            params += c.num_params()
            dense_bytes += 2 * out_f * in_f
            stored += stored_bytes(c)
            per_layer[name] = {"format": c.fmt, "rel_error": c.meta["rel_error"]}
            if "loss_history" in c.meta:
                h = c.meta["loss_history"]
                per_layer[name]["proxy_loss"] = [h[0], h[-1]]
            if "axis" in c.meta:
                per_layer[name]["axis"] = c.meta["axis"]
    write_checkpoint(cfg.model_dir, cfg.out_dir, layers)
    report = {
        "method": asdict(cfg.method),
        "config": cfg.fingerprint(),
        "compress_seconds": prog["seconds"],
        "linear_param_ratio": params / dense_params,
        "linear_byte_ratio": stored / dense_bytes,
        "linear_params": params,
        "linear_dense_params": dense_params,
        "layers": per_layer,
    }
    _atomic_json(cfg.out_dir / REPORT_FILE, report)
    shutil.rmtree(sdir)
    return report
