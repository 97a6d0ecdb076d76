"""`structserve compress`: one-shot compression of a dense HF model folder.

Example:
    structserve compress --model ~/.cache/structserve/models/smollm2-135m-instruct \\
        --method sparsegpt24 --out /tmp/smollm2-sparsegpt24
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from compress.calibration import DEFAULT_CALIB
from compress.methods import METHODS, MethodConfig


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also the documentation of every option)."""
    p = argparse.ArgumentParser(prog="structserve compress", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, type=Path, help="dense HF model folder")
    p.add_argument("--method", required=True, choices=METHODS, help="compression method")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    p.add_argument(
        "--ratio",
        type=float,
        default=0.7,
        help="target parameter ratio of the decoder linears (svd, asvd, dict)",
    )
    p.add_argument(
        "--allocation",
        choices=("uniform", "global", "fisher"),
        default="uniform",
        help="rank allocation for svd/asvd: same ratio per layer, one global budget by "
        "normalized energy, or (asvd) one global budget by estimated loss (output Fisher)",
    )
    p.add_argument(
        "--asvd-objective",
        choices=("output", "loss"),
        default="output",
        help="asvd: minimize each layer's output error (SVD-LLM), or its estimated loss "
        "(output error weighted by the dense model's output-channel Fisher)",
    )
    p.add_argument(
        "--dense-fraction", type=float, default=0.1, help="spense: share of rows/cols kept dense"
    )
    p.add_argument(
        "--spense-axis",
        choices=("rows", "cols"),
        default="rows",
        help="spense dense region: output rows (the v1 format) or input columns (measured only)",
    )
    p.add_argument("--dict-sparsity", type=float, default=0.5, help="dict: nnz per column / atoms")
    p.add_argument("--armor-iters", type=int, default=30, help="ARMOR outer iterations per layer")
    p.add_argument(
        "--armor-adam-steps", type=int, default=4, help="ARMOR Adam steps per outer iteration"
    )
    p.add_argument(
        "--armor-lr", type=float, default=1e-2, help="ARMOR Adam lr of A, B (values: lr / 10)"
    )
    p.add_argument("--armor-block-size", type=int, default=64, help="ARMOR wrapper block size")
    p.add_argument(
        "--armor-hessian",
        choices=("diag", "full"),
        default="full",
        help="ARMOR proxy loss weighting: diag(H) (paper) or full H (exact output error)",
    )
    p.add_argument(
        "--armor-init", choices=("wanda", "sparsegpt"), default="sparsegpt", help="ARMOR core init"
    )
    p.add_argument("--calib", type=Path, default=DEFAULT_CALIB, help="calibration raw text")
    p.add_argument("--nsamples", type=int, default=32, help="calibration windows")
    p.add_argument("--seqlen", type=int, default=512, help="tokens per calibration window")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same checkpoint)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument(
        "--true-sequential",
        action="store_true",
        help="re-capture inputs after each linear group inside a layer (slower, better)",
    )
    p.add_argument(
        "--target",
        choices=("compressed", "dense"),
        default="compressed",
        help="fit each layer to W on the compressed inputs, or to the dense model's outputs",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    add_heal_options(p)
    p.add_argument("--restart", action="store_true", help="discard a previous partial run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def add_heal_options(p: argparse.ArgumentParser, *, steps_flag: str = "--heal") -> None:
    """Options of the optional recovery step (compress/heal.py)."""
    p.add_argument(
        steps_flag,
        dest="heal_steps",
        type=int,
        default=0,
        metavar="STEPS",
        help="distil the compressed model from the dense one for STEPS Adam steps (0: off)",
    )
    p.add_argument("--heal-out", type=Path, default=None, help="healed folder (<out>-healed)")
    p.add_argument("--heal-lr", type=float, default=5e-5, help="heal: Adam learning rate")
    p.add_argument("--heal-batch", type=int, default=1, help="heal: windows per step")
    p.add_argument("--heal-seqlen", type=int, default=512, help="heal: tokens per window")
    p.add_argument(
        "--heal-ppl-windows",
        type=int,
        default=8,
        help="heal: WikiText-2 test windows (512 tokens) for the perplexity before/after",
    )


def run_heal(args: argparse.Namespace, dense: Path, compressed: Path, out: Path) -> dict:
    """Heal `compressed` into `out` and measure test perplexity before and after."""
    from bench.quality import eval_windows, hf_perplexity
    from compress.heal import HEAL_REPORT, HealConfig, heal

    cfg = HealConfig(
        steps=args.heal_steps,
        batch=args.heal_batch,
        seqlen=args.heal_seqlen,
        lr=args.heal_lr,
        seed=args.seed,
        threads=args.threads,
    )
    report = heal(dense, compressed, out, args.calib, cfg)
    windows = eval_windows(dense, max_windows=args.heal_ppl_windows)
    report["test_ppl_windows"] = len(windows)
    report["test_ppl_before"] = hf_perplexity(compressed, windows).ppl
    report["test_ppl_after"] = hf_perplexity(out, windows).ppl
    (out / HEAL_REPORT).write_text(json.dumps(report, indent=1))
    return report


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not (0 < args.ratio <= 1):
        parser.error("--ratio must be in (0, 1]")
    if args.allocation == "fisher" and args.method != "asvd":
        parser.error("--allocation fisher needs --method asvd (it values whitened directions)")
    if args.asvd_objective != "output" and args.method != "asvd":
        parser.error("--asvd-objective needs --method asvd")
    if not (0 <= args.dense_fraction < 1):
        parser.error("--dense-fraction must be in [0, 1)")
    if not (args.model / "config.json").is_file():
        parser.error(f"--model {args.model}: no config.json")
    if not args.calib.is_file():
        parser.error(f"--calib {args.calib}: not a file")
    if args.nsamples < 1 or args.seqlen < 8:
        parser.error("--nsamples must be >= 1 and --seqlen >= 8")
    if args.heal_steps < 0 or args.heal_batch < 1 or args.heal_seqlen < 8:
        parser.error("--heal must be >= 0, --heal-batch >= 1 and --heal-seqlen >= 8")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve compress` (`compress draft ...`: compress/draft.py)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["draft"]:
        from compress.draft import main as draft_main

        return draft_main(argv[1:])
    if argv[:1] == ["heal"]:
        return heal_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(args, parser)
    import shutil

    import torch

    from compress.pipeline import RunConfig, run, state_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.restart and state_dir(args.out).exists():
        shutil.rmtree(state_dir(args.out))
    method = MethodConfig(
        method=args.method,
        ratio=args.ratio,
        allocation=args.allocation,
        asvd_objective=args.asvd_objective,
        dense_fraction=args.dense_fraction,
        spense_axis=args.spense_axis,
        dict_sparsity=args.dict_sparsity,
        armor_iters=args.armor_iters,
        armor_adam_steps=args.armor_adam_steps,
        armor_lr=args.armor_lr,
        armor_block_size=args.armor_block_size,
        armor_hessian=args.armor_hessian,
        armor_init=args.armor_init,
    )
    cfg = RunConfig(
        model_dir=args.model,
        out_dir=args.out,
        method=method,
        calib=args.calib,
        nsamples=args.nsamples,
        seqlen=args.seqlen,
        seed=args.seed,
        device=device,
        true_sequential=args.true_sequential,
        target=args.target,
    )
    report = run(cfg, progress=not args.quiet)
    keys = ("compress_seconds", "linear_param_ratio", "linear_byte_ratio")
    summary = {k: report[k] for k in keys}
    print(json.dumps({"out": str(args.out), **summary}))
    if args.heal_steps:
        heal_out = args.heal_out or args.out.with_name(args.out.name + "-healed")
        _print_heal(run_heal(args, args.model, args.out, heal_out), heal_out)
    return 0


def _print_heal(report: dict, out: Path) -> None:
    keys = ("test_ppl_before", "test_ppl_after", "heldout_kl_before", "heldout_kl_after")
    print(json.dumps({"healed": str(out), **{k: report[k] for k in keys}}))


def heal_main(argv: Sequence[str]) -> int:
    """`structserve compress heal`: heal an existing checkpoint (same options as --heal)."""
    p = argparse.ArgumentParser(
        prog="structserve compress heal", description="Distil a compressed checkpoint."
    )
    p.add_argument("--model", required=True, type=Path, help="the dense HF folder (teacher)")
    p.add_argument("--compressed", required=True, type=Path, help="structserve checkpoint")
    p.add_argument("--out", required=True, type=Path, help="healed checkpoint folder")
    p.add_argument("--calib", type=Path, default=DEFAULT_CALIB, help="calibration raw text")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same checkpoint)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    add_heal_options(p, steps_flag="--steps")
    args = p.parse_args(list(argv))
    if args.heal_steps < 1:
        p.error("--steps must be >= 1")
    _print_heal(run_heal(args, args.model, args.compressed, args.out), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
