"""`echo: true` on completions: the engine returns each prompt followed by its output, and only
the output is checked against a structured-output constraint.

The prefix to strip is the prompt as the engine echoes it: a string prompt as sent; a token-id
prompt as the engine's own `/detokenize` decodes it. An output that does not start with its
prefix is left unchecked (never invalid).
"""

from __future__ import annotations

from typing import Any

import httpx

NOT_SEPARATED = "unchecked: the echoed prompt could not be separated from the output"


def _prompts(prompt: Any) -> list[Any]:
    """The prompt field as a list of prompts (each a string or a list of token ids)."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], int):
        return [prompt]
    return list(prompt) if isinstance(prompt, list) else []


async def echoed_prompts(
    body: dict[str, Any], client: httpx.AsyncClient, base_url: str, *, timeout_s: float = 10.0
) -> list[str | None] | None:
    """The text the engine echoes before each prompt's output (None for a prompt it could not
    decode), or None when the request does not echo.

    Args:
        body: a /v1/completions request body.
        client: the client to the engine.
        base_url: the engine's base URL (its `/detokenize` decodes token-id prompts).
        timeout_s: deadline of one `/detokenize` call.
    """
    if not body.get("echo"):
        return None
    if "messages" in body:  # chat: vLLM prepends the last message if it is the assistant's
        last = (body.get("messages") or [{}])[-1]
        content = last.get("content") if isinstance(last, dict) else None
        is_assistant = isinstance(last, dict) and last.get("role") == "assistant"
        return [content] if is_assistant and isinstance(content, str) else None
    texts: list[str | None] = []
    for prompt in _prompts(body.get("prompt")):
        if isinstance(prompt, str):
            texts.append(prompt)
            continue
        try:
            answer = await client.post(
                f"{base_url}/detokenize",
                json={"model": body.get("model"), "tokens": prompt},
                timeout=timeout_s,
            )
            decoded = answer.json().get("prompt") if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            decoded = None
        texts.append(decoded if isinstance(decoded, str) else None)
    return texts


def generated_part(text: str, prompts: list[str | None] | None, index: int, n: int) -> str | None:
    """The generated part of choice `index`'s text (choice index // n is its prompt's index),
    or None when the echoed prompt is not a prefix of it.

    Args:
        text: the choice's whole text.
        prompts: `echoed_prompts(...)`; None means no echo (the text is all generated).
        index: the choice's index.
        n: choices per prompt.
    """
    if prompts is None:
        return text
    position = index // max(1, n)
    prefix = prompts[position] if position < len(prompts) else None
    if prefix is None or not text.startswith(prefix):
        return None
    return text[len(prefix) :]
