"""The prompt both targets must see, and the preflight that proves they see the same one.

structserve (server/tools/prompt.py) does not hand `tools` to the model's chat template (SmolLM2's
has no tool support): it writes its builtin tools block into the messages and forwards plain
messages. vLLM direct renders `tools` with `bench/templates/smollm2_tools.jinja`, written to
produce the same text. `forwarded_messages` uses the gateway's own `server.tools.render_messages`
when this build has it (else `reproduced_messages`, the rule restated for single-turn requests),
and `check_parity` compares token ids from an engine's `/tokenize` for both renderings.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TEMPLATE = Path(__file__).parent / "templates" / "smollm2_tools.jinja"
"""The tool chat template for vLLM direct (SmolLM2's ChatML + structserve's tools block)."""

_HEAD = (
    "You are a function-calling assistant. You may call one or more of the functions below to "
    "answer the user. The functions, as JSON Schema, are inside <tools></tools>:\n<tools>\n"
)
_TAIL = (
    "</tools>\nTo call a function, answer with one <tool_call></tool_call> block per call, each "
    "holding a JSON object with the function's name and its arguments:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def tool_system_block(tools: Sequence[dict[str, Any]]) -> str:
    """structserve's builtin tools block for `tools` (each as sent, json.dumps one a line)."""
    lines = "".join(json.dumps(tool, ensure_ascii=False) + "\n" for tool in tools)
    return _HEAD + lines + _TAIL


def reproduced_messages(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The plain messages the gateway forwards for a single-turn request with `tools`.

    The block goes after a blank line at the end of a leading system (or developer) message,
    or becomes the first message (a system message) when there is none.
    """
    out = [dict(m) for m in messages]
    if not tools:
        return out
    block = tool_system_block(tools)
    if out and out[0].get("role") in ("system", "developer"):
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{block}"
    else:
        out.insert(0, {"role": "system", "content": block})
    return out


Renderer = Callable[[list[dict[str, Any]], list[dict[str, Any]]], list[dict[str, Any]]]


def gateway_renderer() -> Renderer | None:
    """The gateway's `server.tools.render_messages`, or None in a build without tool calling."""
    try:
        module = importlib.import_module("server.tools")
    except ModuleNotFoundError:
        return None
    render: Renderer | None = getattr(module, "render_messages", None)
    return render


def forwarded_messages(
    messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The plain messages the gateway forwards: its own renderer when present, else ours."""
    render = gateway_renderer()
    if render is None or not tools:
        return reproduced_messages(messages, tools)
    return render(list(messages), list(tools))


@dataclass(frozen=True)
class ParityResult:
    """The preflight's verdict.

    Attributes:
        checked: requests compared.
        mismatches: ids whose token ids differ.
        plain_template: how the forwarded messages were rendered: "model" (the model's own
            chat template, sent with the request) or "server" (the server's template without
            tools: the engine does not trust request templates).
        renderer: what computed the forwarded messages: "gateway" (`server.tools`) or
            "reproduced" (`reproduced_messages`).
    """

    checked: int
    mismatches: list[str]
    plain_template: str
    renderer: str


def _tokenize(client: httpx.Client, model: str, body: dict[str, Any]) -> httpx.Response:
    payload = {"model": model, "add_generation_prompt": True, **body}
    return client.post("/tokenize", json=payload)


def check_parity(
    engine_url: str,
    model: str,
    samples: Sequence[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]],
    model_template: str | None,
) -> ParityResult:
    """Render each sample both ways through an engine's `/tokenize` and compare token ids.

    Args:
        engine_url: vLLM direct's root URL (its server template is the tool template).
        model: the served model name.
        samples: (id, messages, tools) triples.
        model_template: the model's own chat template, sent with the plain rendering (falls
            back to the server template when the engine refuses request templates).

    Returns:
        the verdict (`mismatches` empty when every sample renders the same).
    """
    mismatches: list[str] = []
    mode = "model" if model_template else "server"
    with httpx.Client(base_url=engine_url.rstrip("/"), timeout=60.0, trust_env=False) as client:
        for sample_id, messages, tools in samples:
            direct = _tokenize(client, model, {"messages": messages, "tools": tools})
            direct.raise_for_status()
            plain_body: dict[str, Any] = {"messages": forwarded_messages(messages, tools)}
            if mode == "model":
                plain = _tokenize(client, model, {**plain_body, "chat_template": model_template})
                if plain.status_code == 400:
                    mode = "server"
            if mode == "server":
                plain = _tokenize(client, model, plain_body)
            plain.raise_for_status()
            if direct.json()["tokens"] != plain.json()["tokens"]:
                mismatches.append(sample_id)
    renderer = "gateway" if gateway_renderer() is not None else "reproduced"
    return ParityResult(len(samples), mismatches, mode, renderer)
