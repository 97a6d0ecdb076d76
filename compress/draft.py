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
is checked to share its vocabulary (model_loaders/checkpoint/vocab.py). `structserve-draft.json`
reports it all. The dense folders themselves are written by compress/hf_folder.py.

Example:
    structserve compress draft --model ~/.cache/structserve/models/smollm2-135m-instruct \\
        --method layerdrop --keep-layers 6 --distill 200 --out /tmp/smollm2-draft6
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compress.distill import DistillConfig
from compress.hf_folder import materialize, write_layerdrop
from compress.options import from_namespace
from compress.shared_data import default_calib

if TYPE_CHECKING:
    from compress.layer_importance import LayerSelection

DRAFT_METHODS = ("layerdrop", "sparse24", "lowrank", "combo")
DRAFT_REPORT = "structserve-draft.json"


@dataclass(frozen=True)
class DraftConfig:
    """One `structserve compress draft` run (the options of `build_parser`, validated).

    model: dense target folder. method: one of DRAFT_METHODS. out: draft folder (absolute).
    keep_layers: decoder layers kept (layerdrop, combo). ratio: low-rank parameter ratio.
    distill: self-distillation (steps 0: none; keep_zeros is set per method by `build_draft`).
    teacher_url: vLLM server answering the distillation prompts (None: transformers here).
    distill_data: JSON cache of the target's answers. keep_structured: also keep the
    structserve checkpoint as OUT-structserve. calib, nsamples, seqlen: calibration windows.
    seed: every random choice. threads: torch threads (0: torch default).
    """

    model: Path
    method: str
    out: Path
    keep_layers: int | None
    ratio: float
    distill: DistillConfig
    teacher_url: str | None
    distill_data: Path | None
    keep_structured: bool
    calib: Path
    nsamples: int
    seqlen: int
    seed: int
    threads: int


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
    p.add_argument(
        "--distill",
        dest="distill_steps",
        metavar="DISTILL",
        type=int,
        default=0,
        help="self-distillation steps (0: none)",
    )
    p.add_argument("--distill-prompts", type=int, default=128, help="prompts the target answers")
    p.add_argument("--distill-batch", type=int, default=8, help="sequences per step")
    p.add_argument("--distill-lr", type=float, default=3e-4, help="peak learning rate")
    p.add_argument(
        "--distill-max-new",
        dest="distill_max_new_tokens",
        metavar="DISTILL_MAX_NEW",
        type=int,
        default=96,
        help="target answer tokens",
    )
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
    p.add_argument("--calib", type=Path, default=default_calib(), help="calibration raw text")
    p.add_argument("--nsamples", type=int, default=8, help="calibration windows")
    p.add_argument("--seqlen", type=int, default=256, help="tokens per calibration window")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same draft)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    return p


def parse_config(argv: Sequence[str]) -> DraftConfig:
    """Parse and validate `structserve compress draft` arguments (exits on error)."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    _validate(args, parser)
    distill = from_namespace(DistillConfig, args, prefix="distill_")
    return from_namespace(DraftConfig, args, out=args.out.expanduser().resolve(), distill=distill)


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not (args.model / "config.json").is_file():
        parser.error(f"--model {args.model}: no config.json")
    if args.method in ("layerdrop", "combo") and args.keep_layers is None:
        parser.error(f"--method {args.method} needs --keep-layers N")
    if args.keep_layers is not None and args.keep_layers < 1:
        parser.error("--keep-layers must be >= 1")
    if not (0 < args.ratio <= 1):
        parser.error("--ratio must be in (0, 1]")
    if args.distill_steps < 0:
        parser.error("--distill must be >= 0")
    if not args.calib.is_file():
        parser.error(f"--calib {args.calib}: not a file")


def _select(cfg: DraftConfig) -> LayerSelection:
    from compress.calibration import calibration_samples
    from compress.layer_importance import select_layers
    from compress.layerwise import LayerwiseModel

    ids = calibration_samples(
        cfg.model, cfg.calib, nsamples=2 * cfg.nsamples, seqlen=cfg.seqlen, seed=cfg.seed
    )
    assert cfg.keep_layers is not None
    model = LayerwiseModel(cfg.model)
    return select_layers(model, ids[: cfg.nsamples], ids[cfg.nsamples :], keep=cfg.keep_layers)


def _compress_structured(cfg: DraftConfig, dense: Path, method: str) -> dict[str, Any]:
    from compress.methods import MethodConfig
    from compress.pipeline import RunConfig, run

    structured = dense.parent / "structured"
    run_cfg = RunConfig(
        model_dir=dense,
        out_dir=structured,
        method=MethodConfig(method=method, ratio=cfg.ratio),
        calib=cfg.calib,
        nsamples=cfg.nsamples,
        seqlen=cfg.seqlen,
        seed=cfg.seed,
    )
    report = run(run_cfg, progress=True)
    structured_bytes = sum(f.stat().st_size for f in structured.glob("*.safetensors"))
    if cfg.keep_structured:
        target = cfg.out.with_name(cfg.out.name + "-structserve")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(structured, target)
    materialize(structured, cfg.out)
    keys = ("compress_seconds", "linear_param_ratio", "linear_byte_ratio")
    summary = {k: report[k] for k in keys}
    return {"method": method, "structured_bytes": structured_bytes, **summary}


def _distill(cfg: DraftConfig, draft: Path, *, keep_zeros: bool) -> dict[str, Any]:
    """Self-data distillation of the dense draft folder `draft` in place (CLI budget)."""
    from compress.distill import self_distill

    distill = dataclasses.replace(cfg.distill, keep_zeros=keep_zeros)
    report = self_distill(
        cfg.model,
        draft,
        cfg.calib,
        distill,
        teacher_url=cfg.teacher_url,
        data_cache=cfg.distill_data,
    )
    return {**report, "after_pruning": keep_zeros}


def _kept_layers(cfg: DraftConfig, report: dict[str, Any]) -> list[int]:
    """The target layers the draft keeps (measured selection for layerdrop and combo)."""
    n_layers = json.loads((cfg.model / "config.json").read_text())["num_hidden_layers"]
    keep = cfg.keep_layers if cfg.method in ("layerdrop", "combo") else None
    if keep is None or keep >= n_layers:
        return list(range(n_layers))
    selection = _select(cfg)
    report["selection"] = selection.report()
    return list(selection.kept)


def build_draft(cfg: DraftConfig) -> dict[str, Any]:
    """Build the draft `cfg` describes; returns the report it also writes."""
    from model_loaders.checkpoint.vocab import check_same_vocabulary

    t0 = time.time()
    report: dict[str, Any] = {"target": str(cfg.model.resolve()), "method": cfg.method}
    work = Path(tempfile.mkdtemp(prefix="draft-", dir=cfg.out.parent))
    try:
        kept = report["kept_layers"] = _kept_layers(cfg, report)
        dense = cfg.out if cfg.method == "layerdrop" else work / "dense"
        write_layerdrop(cfg.model, dense, kept)
        prune_first = cfg.method == "sparse24"
        if cfg.distill.steps and not prune_first:
            report["distill"] = _distill(cfg, dense, keep_zeros=False)
        if cfg.method in ("sparse24", "lowrank", "combo"):
            method = "sparsegpt24" if cfg.method == "sparse24" else "asvd"
            report["compress"] = _compress_structured(cfg, dense, method)
        if cfg.distill.steps and prune_first:
            report["distill"] = _distill(cfg, cfg.out, keep_zeros=True)
        check_same_vocabulary(cfg.model, cfg.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["draft_bytes"] = sum(f.stat().st_size for f in cfg.out.glob("*.safetensors"))
    report["target_bytes"] = sum(f.stat().st_size for f in cfg.model.glob("*.safetensors"))
    report["seconds"] = round(time.time() - t0, 1)
    (cfg.out / DRAFT_REPORT).write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve compress draft`."""
    cfg = parse_config(sys.argv[1:] if argv is None else argv)
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    report = build_draft(cfg)
    keys = ("method", "kept_layers", "draft_bytes", "target_bytes", "seconds")
    print(json.dumps({"out": str(cfg.out), **{k: report[k] for k in keys}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
