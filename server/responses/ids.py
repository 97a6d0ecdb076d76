"""Identifiers of Responses objects, shaped like OpenAI's (`resp_…`, `msg_…`, `fc_…`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A fresh random id such as `resp_3f9c…` (24 random bytes, hex).

    Args:
        prefix: "resp", "msg" or "fc".

    Returns:
        The id.
    """
    return f"{prefix}_{secrets.token_hex(24)}"
