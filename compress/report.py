"""The figures of a finished compression run (`structserve-compress.json`)."""

from __future__ import annotations

from typing import Any

from compress.types import CompressedLinear


def linear_budget(results: dict[str, CompressedLinear]) -> dict[str, Any]:
    """Parameters and bytes of the compressed linears against their dense bf16 originals.

    Args:
        results: HF module name -> CompressedLinear, every compressed linear of the model.

    Returns:
        linear_param_ratio, linear_byte_ratio, linear_params, linear_dense_params.
    """
    from compress.export import stored_bytes

    dense_params = sum(c.shape[0] * c.shape[1] for c in results.values())
    params = sum(c.num_params() for c in results.values())
    stored = sum(stored_bytes(c) for c in results.values())
    return {
        "linear_param_ratio": params / dense_params,
        "linear_byte_ratio": stored / (2 * dense_params),
        "linear_params": params,
        "linear_dense_params": dense_params,
    }


def layer_report(c: CompressedLinear) -> dict[str, Any]:
    """One linear's line of the report: format, relative error, proxy loss first/last, axis."""
    entry: dict[str, Any] = {"format": c.fmt, "rel_error": c.meta["rel_error"]}
    if "loss_history" in c.meta:
        h = c.meta["loss_history"]
        entry["proxy_loss"] = [h[0], h[-1]]
    if "axis" in c.meta:
        entry["axis"] = c.meta["axis"]
    return entry
