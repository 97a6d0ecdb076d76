"""`structserve compress`: one-shot compression of a dense HF model folder.

Example:
    structserve compress --model ~/.cache/structserve/models/smollm2-135m-instruct \\
        --method sparsegpt24 --out /tmp/smollm2-sparsegpt24

The arguments are parsed and validated once, into a `CompressJob` (typed config: the run, the
optional healing, and how to run them); nothing below this module sees argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from compress.heal import HealConfig, HealJob
from compress.methods import METHODS, MethodConfig
from compress.options import add_options, from_namespace
from compress.pipeline import RunConfig
from compress.shared_data import default_calib


@dataclass(frozen=True)
class CompressJob:
    """One `structserve compress` invocation.

    run: the compression run (its device may be "auto", resolved when torch is imported).
    threads: torch threads (0: torch default). restart: discard a previous partial run.
    progress: show the progress bar. heal: the recovery step after it (None: off).
    """

    run: RunConfig
    threads: int = 0
    restart: bool = False
    progress: bool = True
    heal: HealJob | None = None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also the documentation of every option)."""
    p = argparse.ArgumentParser(prog="structserve compress", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, type=Path, help="dense HF model folder")
    p.add_argument("--method", required=True, choices=METHODS, help="compression method")
    p.add_argument("--out", required=True, type=Path, help="checkpoint folder to write")
    add_options(p, MethodConfig)
    p.add_argument("--calib", type=Path, default=default_calib(), help="calibration raw text")
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


def _heal_job(args: argparse.Namespace, compressed: Path, out: Path) -> HealJob:
    """The healing described by the heal options, of `compressed` into `out`."""
    cfg = from_namespace(HealConfig, args, prefix="heal_")
    return HealJob(args.model, compressed, out, args.calib, cfg, args.heal_ppl_windows)


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


def parse_job(argv: Sequence[str]) -> CompressJob:
    """Parse and validate `structserve compress` arguments into a CompressJob (exits on error)."""
    parser = build_parser()
    args = parser.parse_args(list(argv))
    _validate(args, parser)
    method = from_namespace(MethodConfig, args)
    run = from_namespace(RunConfig, args, model_dir=args.model, out_dir=args.out, method=method)
    heal_out = args.heal_out or args.out.with_name(args.out.name + "-healed")
    heal = _heal_job(args, args.out, heal_out) if args.heal_steps else None
    return CompressJob(run, args.threads, args.restart, not args.quiet, heal)


def run_job(job: CompressJob) -> int:
    """Compress (then heal, if asked); prints one JSON summary line per step."""
    import shutil

    import torch

    from compress.pipeline import run, state_dir

    if job.threads:
        torch.set_num_threads(job.threads)
    cfg = job.run
    if cfg.device == "auto":
        cfg = replace(cfg, device="cuda" if torch.cuda.is_available() else "cpu")
    if job.restart and state_dir(cfg.out_dir).exists():
        shutil.rmtree(state_dir(cfg.out_dir))
    report = run(cfg, progress=job.progress)
    keys = ("compress_seconds", "linear_param_ratio", "linear_byte_ratio")
    print(json.dumps({"out": str(cfg.out_dir), **{k: report[k] for k in keys}}))
    if job.heal is not None:
        _print_heal(run_heal(job.heal), job.heal.out)
    return 0


def run_heal(job: HealJob) -> dict:
    """Heal `job.compressed` into `job.out` and measure test perplexity before and after."""
    from compress.heal import HEAL_REPORT, heal
    from compress.perplexity import eval_windows, hf_perplexity

    report = heal(job.dense, job.compressed, job.out, job.calib, job.config)
    windows = eval_windows(job.dense, max_windows=job.ppl_windows)
    report["test_ppl_windows"] = len(windows)
    report["test_ppl_before"] = hf_perplexity(job.compressed, windows).ppl
    report["test_ppl_after"] = hf_perplexity(job.out, windows).ppl
    (job.out / HEAL_REPORT).write_text(json.dumps(report, indent=1))
    return report


def _print_heal(report: dict, out: Path) -> None:
    keys = ("test_ppl_before", "test_ppl_after", "heldout_kl_before", "heldout_kl_after")
    print(json.dumps({"healed": str(out), **{k: report[k] for k in keys}}))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve compress` (`compress draft ...`: compress/draft.py)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["draft"]:
        from compress.draft import main as draft_main

        return draft_main(argv[1:])
    if argv[:1] == ["heal"]:
        return heal_main(argv[1:])
    return run_job(parse_job(argv))


def heal_main(argv: Sequence[str]) -> int:
    """`structserve compress heal`: heal an existing checkpoint (same options as --heal)."""
    p = argparse.ArgumentParser(
        prog="structserve compress heal", description="Distil a compressed checkpoint."
    )
    p.add_argument("--model", required=True, type=Path, help="the dense HF folder (teacher)")
    p.add_argument("--compressed", required=True, type=Path, help="structserve checkpoint")
    p.add_argument("--out", required=True, type=Path, help="healed checkpoint folder")
    p.add_argument("--calib", type=Path, default=default_calib(), help="calibration raw text")
    p.add_argument("--seed", type=int, default=0, help="seed (same seed, same checkpoint)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    add_heal_options(p, steps_flag="--steps")
    args = p.parse_args(list(argv))
    if args.heal_steps < 1:
        p.error("--steps must be >= 1")
    job = _heal_job(args, args.compressed, args.out)
    _print_heal(run_heal(job), job.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
