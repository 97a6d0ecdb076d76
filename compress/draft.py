"""`structserve compress draft`: a speculative-decoding draft pruned from the served model.

Methods:
  layerdrop  keep N decoder layers chosen by measured importance (compress/layer_importance.py):
             a plain dense HF folder with fewer layers, which vLLM loads directly.
  sparse24   every layer kept, each linear 2:4 (SparseGPT on calibration data).
  lowrank    every layer kept, each linear low-rank (ASVD at --ratio parameters).
  combo      layerdrop, then ASVD low-rank of the kept layers.
Optional self-data distillation (`--distill STEPS`, compress/distill.py) fine-tunes the draft on
the target's own answers: the (layer-dropped) dense draft before the low-rank step (lowrank,
combo: training would densify the factors), and for sparse24 the pruned draft after SparseGPT
with its zeros held at zero (distilling the full-depth dense target on its own answers first
would recover nothing; `--keep-structured` then keeps the undistilled 2:4 checkpoint).
2:4 and low-rank drafts are written with their effective weights materialized (dense): vLLM
builds drafts without a quantization config, see `materialize`; `--keep-structured` also keeps
the structserve checkpoint. The draft reuses the target's tokenizer files and embeddings, and
is checked to share its vocabulary (compress/vocab.py). `structserve-draft.json` reports it all.

Example:
    structserve compress draft --model ~/.cache/structserve/models/smollm2-135m-instruct \\
        --method layerdrop --keep-layers 6 --distill 200 --out /tmp/smollm2-draft6
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compress.calibration import DEFAULT_CALIB

DRAFT_METHODS = ("layerdrop", "sparse24", "lowrank", "combo")
DRAFT_REPORT = "structserve-draft.json"
_NOT_COPIED = ("config.json", "model.safetensors.index.json", "structserve-model.json")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also the documentation of every option)."""
    p = argparse.ArgumentParser(
        prog="structserve compress draft", description=__doc__.split("\n")[0]
    )
    p.add_argument("--model", required=True, type=Path, help="dense target HF model folder")
    p.add_argument("--method", required=True, choices=DRAFT_METHODS, help="how to prune")
    p.add_argument("--out", required=True, type=Path, help="draft folder to write")
    p.add_argument(
        "--keep-layers", type=int, default=None, help="decoder layers kept (layerdrop, combo)"
    )
    p.add_argument("--ratio", type=float, default=0.5, help="low-rank parameter ratio")
    p.add_argument("--distill", type=int, default=0, help="self-distillation steps (0: none)")
    p.add_argument("--distill-prompts", type=int, default=128, help="prompts the target answers")
    p.add_argument("--distill-batch", type=int, default=8, help="sequences per step")
    p.add_argument("--distill-lr", type=float, default=3e-4, help="peak learning rate")
    p.add_argument("--distill-max-new", type=int, default=96, help="target answer tokens")
    p.add_argument(
        "--teacher-url",
        default=None,
        help="vLLM server serving the target: generates the distillation answers (fast); "
        "default: generate here with transformers",
    )
    p.add_argument(
        "--distill-data",
        type=Path,
        default=None,
        help="JSON cache of the target's answers (read if present, else written)",
    )
    p.add_argument(
        "--keep-structured",
        action="store_true",
        help="also keep the structserve-format checkpoint as OUT-structserve (servable as a "
        "target; vLLM loads drafts only dense, see materialize)",
    )
    p.add_argument("--calib", type=Path, default=DEFAULT_CALIB, help="calibration raw text")
    p.add_argument("--nsamples", type=int, default=8, help="calibration windows")
    p.add_argument("--seqlen", type=int, default=256, help="tokens per calibration window")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same draft)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    return p


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not (args.model / "config.json").is_file():
        parser.error(f"--model {args.model}: no config.json")
    if args.method in ("layerdrop", "combo") and args.keep_layers is None:
        parser.error(f"--method {args.method} needs --keep-layers N")
    if args.keep_layers is not None and args.keep_layers < 1:
        parser.error("--keep-layers must be >= 1")
    if not (0 < args.ratio <= 1):
        parser.error("--ratio must be in (0, 1]")
    if args.distill < 0:
        parser.error("--distill must be >= 0")
    if not args.calib.is_file():
        parser.error(f"--calib {args.calib}: not a file")


def copy_side_files(src: Path, dst: Path) -> None:
    """Tokenizer, chat template and generation config: everything but weights and config."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        skip = f.suffix == ".safetensors" or f.name in _NOT_COPIED
        if f.is_file() and not skip and not f.name.startswith("structserve-"):
            shutil.copy2(f, dst / f.name)


def write_layerdrop(target: Path, out: Path, kept: list[int]) -> Path:
    """A dense HF folder with only the `kept` decoder layers (renumbered 0..N-1).

    Args:
        target: dense HF folder.
        out: folder to create (replaced).
        kept: ascending layer indices of the target.

    Returns:
        out.
    """
    from safetensors.torch import save_file

    from model_loaders.formats.writer import load_dense_state

    state = load_dense_state(target)
    config = json.loads((target / "config.json").read_text())
    new_index = {old: new for new, old in enumerate(kept)}
    draft: dict[str, Any] = {}
    for key, tensor in state.items():
        if key.startswith("model.layers."):
            old = int(key.split(".")[2])
            if old not in new_index:
                continue
            rest = key.split(".", 3)[3]
            key = f"model.layers.{new_index[old]}.{rest}"
        draft[key] = tensor.contiguous()
    if out.exists():
        shutil.rmtree(out)
    copy_side_files(target, out)
    config["num_hidden_layers"] = len(kept)
    if isinstance(config.get("layer_types"), list):
        config["layer_types"] = [config["layer_types"][i] for i in kept]
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(draft, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def materialize(structured: Path, out: Path) -> Path:
    """A plain dense HF folder computing exactly what a structserve checkpoint computes.

    vLLM 0.32 builds a `draft_model` without any quantization config (its DraftModelProposer
    replaces `quant_config` with None), so a structserve-format draft cannot load as a draft.
    Each compressed layer is written as its effective weight (2:4 zeros, low-rank products).

    Args:
        structured: a structserve checkpoint folder.
        out: the dense folder to create (replaced).

    Returns:
        out.
    """
    from safetensors.torch import save_file

    from model_loaders.checkpoint.manifest import expected_tensors, load_manifest
    from model_loaders.formats import bundle
    from model_loaders.formats.writer import load_dense_state

    state = load_dense_state(structured)
    manifest = load_manifest(structured)
    config = json.loads((structured / "config.json").read_text())
    dtype = state["model.embed_tokens.weight"].dtype
    for name, entry in (manifest.layers if manifest else {}).items():
        tensors = {suffix: state.pop(f"{name}.{suffix}") for suffix in expected_tensors(entry)}
        state[f"{name}.weight"] = bundle(entry, tensors).to_dense().to(dtype).contiguous()
    config.pop("quantization_config", None)
    if out.exists():
        shutil.rmtree(out)
    copy_side_files(structured, out)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _select(args: argparse.Namespace) -> dict[str, Any]:
    from compress.calibration import calibration_samples
    from compress.layer_importance import select_layers
    from compress.layerwise import LayerwiseModel

    ids = calibration_samples(
        args.model, args.calib, nsamples=2 * args.nsamples, seqlen=args.seqlen, seed=args.seed
    )
    model = LayerwiseModel(args.model)
    return select_layers(model, ids[: args.nsamples], ids[args.nsamples :], keep=args.keep_layers)


def _compress_structured(args: argparse.Namespace, dense: Path, method: str) -> dict[str, Any]:
    from compress.methods import MethodConfig
    from compress.pipeline import RunConfig, run

    structured = dense.parent / "structured"
    cfg = RunConfig(
        model_dir=dense,
        out_dir=structured,
        method=MethodConfig(method=method, ratio=args.ratio),
        calib=args.calib,
        nsamples=args.nsamples,
        seqlen=args.seqlen,
        seed=args.seed,
    )
    report = run(cfg, progress=True)
    structured_bytes = sum(f.stat().st_size for f in structured.glob("*.safetensors"))
    if args.keep_structured:
        target = args.out.with_name(args.out.name + "-structserve")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(structured, target)
    materialize(structured, args.out)
    keys = ("compress_seconds", "linear_param_ratio", "linear_byte_ratio")
    summary = {k: report[k] for k in keys}
    return {"method": method, "structured_bytes": structured_bytes, **summary}


def _distill(args: argparse.Namespace, draft: Path, *, keep_zeros: bool) -> dict[str, Any]:
    """Self-data distillation of the dense draft folder `draft` in place (CLI budget)."""
    from compress.distill import DistillConfig, self_distill

    cfg = DistillConfig(
        steps=args.distill,
        batch=args.distill_batch,
        lr=args.distill_lr,
        prompts=args.distill_prompts,
        max_new_tokens=args.distill_max_new,
        seed=args.seed,
        keep_zeros=keep_zeros,
    )
    report = self_distill(
        args.model,
        draft,
        args.calib,
        cfg,
        teacher_url=args.teacher_url,
        data_cache=args.distill_data,
    )
    return {**report, "after_pruning": keep_zeros}


def build_draft(args: argparse.Namespace) -> dict[str, Any]:
    """Build the draft described by parsed CLI `args`; returns the report it also writes."""
    from compress.vocab import check_same_vocabulary

    t0 = time.time()
    report: dict[str, Any] = {"target": str(args.model.resolve()), "method": args.method}
    work = Path(tempfile.mkdtemp(prefix="draft-", dir=args.out.parent))
    try:
        n_layers = json.loads((args.model / "config.json").read_text())["num_hidden_layers"]
        keep = args.keep_layers if args.method in ("layerdrop", "combo") else None
        if keep is not None and keep < n_layers:
            selection = _select(args)
            report["selection"] = selection.report()
            kept = selection.kept
        else:
            kept = list(range(n_layers))
        report["kept_layers"] = kept
        dense = args.out if args.method == "layerdrop" else work / "dense"
        write_layerdrop(args.model, dense, kept)
        prune_first = args.method == "sparse24"
        if args.distill and not prune_first:
            report["distill"] = _distill(args, dense, keep_zeros=False)
        if args.method in ("sparse24", "lowrank", "combo"):
            method = "sparsegpt24" if args.method == "sparse24" else "asvd"
            report["compress"] = _compress_structured(args, dense, method)
        if args.distill and prune_first:
            report["distill"] = _distill(args, args.out, keep_zeros=True)
        check_same_vocabulary(args.model, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["draft_bytes"] = sum(f.stat().st_size for f in args.out.glob("*.safetensors"))
    report["target_bytes"] = sum(f.stat().st_size for f in args.model.glob("*.safetensors"))
    report["seconds"] = round(time.time() - t0, 1)
    (args.out / DRAFT_REPORT).write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve compress draft`."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    _validate(args, parser)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out = args.out.expanduser().resolve()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = build_draft(args)
    keys = ("method", "kept_layers", "draft_bytes", "target_bytes", "seconds")
    print(json.dumps({"out": str(args.out), **{k: report[k] for k in keys}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
