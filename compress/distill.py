"""Self-data distillation of a pruned draft (Thangarasa et al., "Self-Data Distillation for
Recovering Quality in Pruned LLMs"): the *target* answers a prompt set, and the draft is
fine-tuned on those answers, so it learns the target's own distribution — exactly what
speculative decoding rewards (a draft token is accepted when it is the target's choice).

Prompts are chat turns: instructions written here plus continuation/summary requests built from
calibration text. The target answers greedily (its own outputs are the training data); the
draft is trained for a bounded number of AdamW steps with the loss on the answer tokens only.
Embeddings (tied to the lm_head) stay frozen, so the draft's vocabulary is the target's.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

INSTRUCTIONS = (
    "Explain what a hash table is in two sentences.",
    "Write a short poem about the sea.",
    "List three tips for staying focused while studying.",
    "What is the capital of France, and what is it known for?",
    "Give a JSON object describing a book with title, author and year.",
    "Translate 'good morning, how are you?' into Spanish.",
    "Write a Python function that returns the square of a number.",
    "Why is the sky blue? Answer briefly.",
    "Summarize the plot of Romeo and Juliet in three sentences.",
    "What are the benefits of regular exercise?",
    "Describe a cat to someone who has never seen one.",
    "Write an email asking a colleague to reschedule a meeting.",
    "How does photosynthesis work?",
    "Name five fruits and their colors.",
    "What is the difference between weather and climate?",
    "Give me a recipe for a simple pancake.",
    "Explain recursion to a beginner programmer.",
    "What is machine learning? Keep it short.",
    "Write a haiku about autumn leaves.",
    "How many days are there in a leap year, and why?",
    "Suggest a name for a coffee shop and explain it.",
    "What should I pack for a weekend camping trip?",
    "Explain the rules of tic-tac-toe.",
    "Return a JSON list of three colors with their hex codes.",
)


@dataclass(frozen=True)
class DistillConfig:
    """Bounded self-data distillation.

    steps: optimizer steps. batch: sequences per step. lr: peak AdamW learning rate (cosine
    decay, 10% warm-up). prompts: prompt count. max_new_tokens: target answer length.
    seed: prompt sampling and data order. keep_zeros: hold the exact zeros of the decoder
    weight matrices at zero (a 2:4 draft stays 2:4).
    """

    steps: int
    batch: int = 8
    lr: float = 3e-4
    prompts: int = 64
    max_new_tokens: int = 96
    seed: int = 0
    keep_zeros: bool = False


def build_prompts(calib: Path, *, count: int, seed: int) -> list[str]:
    """User messages: the fixed instructions, then requests built from calibration passages."""
    rng = random.Random(seed)
    lines = [ln.strip() for ln in calib.read_text(encoding="utf-8").splitlines()]
    passages = [ln for ln in lines if len(ln) > 200 and not ln.startswith("=")]
    rng.shuffle(passages)
    templates = (
        "Continue this text:\n{p}",
        "Summarize the following passage in two sentences:\n{p}",
        "What is the following passage about?\n{p}",
        "Write three questions about this text:\n{p}",
    )
    prompts = list(INSTRUCTIONS[:count])
    for i, passage in enumerate(passages):
        if len(prompts) >= count:
            break
        prompts.append(templates[i % len(templates)].format(p=passage[:600]))
    return prompts


def _chat_text(tok: Any, prompt: str) -> str:
    """`prompt` as one user turn in the target's chat template, ready for its answer."""
    messages = [{"role": "user", "content": prompt}]
    return str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def generate_answers(
    target_dir: Path, prompts: list[str], *, max_new_tokens: int, batch: int = 8
) -> list[list[int]]:
    """The target's greedy answers: one full sequence (prompt + answer) of token ids each,
    with the prompt length recorded as the first element (`[prompt_len, *ids]`)."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(target_dir, dtype=torch.float32).eval()
    out: list[list[int]] = []
    for i in tqdm(range(0, len(prompts), batch), desc="target answers"):
        texts = [_chat_text(tok, p) for p in prompts[i : i + batch]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )  # gen: [B, P + new]
        width = enc["input_ids"].shape[1]
        for row, mask in zip(gen, enc["attention_mask"], strict=True):
            prompt = row[:width][mask.bool()].tolist()
            answer = row[width:].tolist()
            if tok.eos_token_id in answer:
                answer = answer[: answer.index(tok.eos_token_id) + 1]
            out.append([len(prompt), *prompt, *answer])
    return out


def generate_answers_remote(
    target_dir: Path, prompts: list[str], *, url: str, max_new_tokens: int, concurrency: int = 8
) -> list[list[int]]:
    """Like `generate_answers`, but the target answers through a vLLM server serving it.

    Args:
        target_dir: the target folder (its tokenizer and chat template build the prompts).
        prompts: user messages.
        url: base URL of a vLLM OpenAI server serving exactly the target (e.g. the engine
            behind a structserve gateway); greedy `/v1/completions` with `return_token_ids`.
        max_new_tokens: answer length.
        concurrency: requests in flight.

    Returns:
        `[prompt_len, *prompt_ids, *answer_ids]` per prompt, in order.
    """
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from tqdm import tqdm
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target_dir)
    model = httpx.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]

    def one(prompt: str) -> list[int]:
        ids = tok(_chat_text(tok, prompt), add_special_tokens=False)["input_ids"]
        body = {
            "model": model,
            "prompt": ids,
            "max_tokens": max_new_tokens,
            "temperature": 0,
            "return_token_ids": True,
        }
        choice = httpx.post(f"{url}/v1/completions", json=body, timeout=600).json()["choices"][0]
        answer = list(choice["token_ids"])
        if choice.get("finish_reason") == "stop" and tok.eos_token_id not in answer:
            answer.append(tok.eos_token_id)
        return [len(ids), *ids, *answer]

    with ThreadPoolExecutor(concurrency) as pool:
        return list(tqdm(pool.map(one, prompts), total=len(prompts), desc="target answers"))


def _batch_tensors(
    seqs: list[list[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(s) - 1 for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # [B, T]
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)  # [B, T]
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # [B, T]
    for r, s in enumerate(seqs):
        plen, toks = s[0], s[1:]
        ids[r, : len(toks)] = torch.tensor(toks)
        mask[r, : len(toks)] = 1
        labels[r, plen : len(toks)] = torch.tensor(toks[plen:])
    return ids, labels, mask


def _answer_loss(
    model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Next-token loss on the answer tokens only; the lm_head runs only where it counts
    (with a 49k vocabulary it dominates the cost, and prompts are most of the tokens)."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, T, d]
    target = labels[:, 1:]  # [B, T-1]: token t+1 is predicted at t
    where = target != -100
    picked = hidden[:, :-1][where].float()  # [n, d]
    logits = model.lm_head(picked)  # [n, V]
    return torch.nn.functional.cross_entropy(logits, target[where])


def _zero_masks(model: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, non-zero mask) of every trainable decoder weight matrix that has zeros."""
    out = []
    for name, p in model.named_parameters():
        if p.requires_grad and p.dim() == 2 and ".layers." in name and bool((p == 0).any()):
            out.append((p, (p != 0).to(p.dtype)))  # mask: [O, I], 1 where the weight is kept
    return out


def _apply_masks(masks: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Hold the zeros of every (weight, mask) of `_zero_masks` at zero."""
    import torch

    with torch.no_grad():
        for weight, keep in masks:
            weight.mul_(keep)


def _lr_at(step: int, cfg: DistillConfig) -> float:
    """Linear warm-up over the first 10% of the steps, then cosine decay to 0."""
    warm = max(1, cfg.steps // 10)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * (step - warm) / max(1, cfg.steps - warm)))


def train_draft(
    draft_dir: Path, data: list[list[int]], cfg: DistillConfig, *, pad_id: int
) -> dict[str, Any]:
    """Fine-tune the draft in `draft_dir` in place on the target's answers.

    Args:
        draft_dir: dense HF folder of the draft (rewritten, bf16).
        data: `[prompt_len, *ids]` sequences from `generate_answers`.
        cfg: steps, batch, lr, seed.
        pad_id: padding token id.

    Returns:
        {"steps", "loss_first", "loss_last", "seconds"}.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from compress.heal import train_steps

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(draft_dir, dtype=torch.float32)
    model.train()
    model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    masks = _zero_masks(model) if cfg.keep_zeros else []
    order: list[int] = []

    def batch_loss(step: int) -> torch.Tensor:
        nonlocal order
        if len(order) < cfg.batch:
            order += rng.sample(range(len(data)), len(data))
        picked, order = order[: cfg.batch], order[cfg.batch :]
        return _answer_loss(model, *_batch_tensors([data[i] for i in picked], pad_id))

    t0 = time.time()
    losses = train_steps(
        torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0),
        params,
        steps=cfg.steps,
        lr_at=lambda step: _lr_at(step, cfg),
        batch_loss=batch_loss,
        clip=1.0,
        desc="distill draft",
        after_step=lambda: _apply_masks(masks),
    )
    model.eval()
    model.to(torch.bfloat16).save_pretrained(draft_dir)
    head = sum(losses[: min(5, len(losses))]) / max(1, min(5, len(losses)))
    tail = sum(losses[-5:]) / max(1, len(losses[-5:]))
    seconds = round(time.time() - t0, 1)
    return {
        "steps": cfg.steps,
        "loss_first": round(head, 4),
        "loss_last": round(tail, 4),
        "seconds": seconds,
    }


def self_distill(
    target_dir: Path,
    draft_dir: Path,
    calib: Path,
    cfg: DistillConfig,
    *,
    teacher_url: str | None = None,
    data_cache: Path | None = None,
) -> dict[str, Any]:
    """Generate the target's answers to the prompt set and fine-tune the draft on them.

    Args:
        target_dir: the dense target HF folder.
        draft_dir: the dense draft HF folder (rewritten in place).
        calib: raw text the passage prompts are cut from.
        cfg: the distillation budget.
        teacher_url: a vLLM server serving the target, to generate the answers fast (None:
            generate in this process with transformers).
        data_cache: JSON file of the target's answers: read when present, else written.

    Returns:
        Report: prompt count, answer tokens, generation seconds and the training summary.
    """
    from transformers import AutoTokenizer

    t0 = time.time()
    prompts = build_prompts(calib, count=cfg.prompts, seed=cfg.seed)
    cache = data_cache or Path("/nonexistent")
    if cache.is_file():
        data = json.loads(cache.read_text())
    elif teacher_url:
        data = generate_answers_remote(
            target_dir, prompts, url=teacher_url, max_new_tokens=cfg.max_new_tokens
        )
    else:
        data = generate_answers(target_dir, prompts, max_new_tokens=cfg.max_new_tokens)
    if data_cache is not None and not cache.is_file():
        cache.write_text(json.dumps(data))
    gen_s = time.time() - t0
    tok = AutoTokenizer.from_pretrained(target_dir)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    train = train_draft(draft_dir, data, cfg, pad_id=int(pad))
    answer_tokens = sum(len(s) - 1 - s[0] for s in data)
    return {
        "prompts": len(prompts),
        "answer_tokens": answer_tokens,
        "generate_seconds": round(gen_s, 1),
        **train,
    }
