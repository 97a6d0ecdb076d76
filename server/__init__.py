"""structserve gateway: an OpenAI-compatible front end over supervised vLLM engines.

This package must never import torch or vllm: the engine runs in its own process.
"""
