"""`structserve eval ppl --model DIR`: perplexity through the serving engine (vLLM).

Example:
    structserve eval ppl --model /tmp/smollm2-sparsegpt24 --max-windows 16 --out ppl.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from compress.shared_data import default_test_text


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `structserve eval`."""
    p = argparse.ArgumentParser(prog="structserve eval", description="Quality evaluation.")
    sub = p.add_subparsers(dest="command", required=True)
    ppl = sub.add_parser("ppl", help="WikiText-2 perplexity through vLLM prompt logprobs")
    ppl.add_argument("--model", required=True, type=Path, help="model folder (dense or compressed)")
    ppl.add_argument("--text", type=Path, default=default_test_text(), help="raw test text")
    ppl.add_argument("--context", type=int, default=512, help="tokens per window")
    ppl.add_argument("--stride", type=int, default=512, help="tokens between window starts")
    ppl.add_argument("--max-windows", type=int, default=None, help="score only the first N windows")
    ppl.add_argument("--dtype", default="bfloat16", help="serving dtype")
    ppl.add_argument(
        "--hf-check",
        action="store_true",
        help="also run transformers on the same windows and report the relative difference",
    )
    ppl.add_argument(
        "--engine",
        choices=("vllm", "transformers"),
        default="vllm",
        help="vllm (the serving engine, default) or transformers (decompressed weights)",
    )
    ppl.add_argument("--out", type=Path, default=None, help="write the result JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve eval`."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from bench.quality import vllm_perplexity
    from compress.perplexity import eval_windows, hf_perplexity

    windows = eval_windows(
        args.model,
        text=args.text,
        context=args.context,
        stride=args.stride,
        max_windows=args.max_windows,
    )
    if args.engine == "vllm":
        result = vllm_perplexity(args.model, windows, dtype=args.dtype)
    else:
        result = hf_perplexity(args.model, windows)
    report = {
        "model": str(args.model),
        "text": str(args.text),
        "context": args.context,
        "stride": args.stride,
        "max_windows": args.max_windows,
        **result.to_json(),
    }
    if args.hf_check:
        hf = hf_perplexity(args.model, windows)
        report["hf_ppl"] = hf.ppl
        report["hf_rel_diff"] = abs(result.ppl - hf.ppl) / hf.ppl
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
