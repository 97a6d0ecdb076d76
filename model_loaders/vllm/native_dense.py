"""vLLM methods that run dense layers on structserve's native CPU kernels (imports vLLM).

`StructServeConfig.get_quant_method` returns these for dense linear layers and the LM head when
the kernels are enabled ($STRUCTSERVE_NATIVE_KERNELS, kernels/native.py); each layer is packed
only when the kernel dispatcher (`kernels.kernel`, "auto") picks the native path for its weight,
otherwise vLLM's own method runs it unchanged. Plain (unquantized) models reach them through a
structserve manifest without layers (model_loaders.vllm.native_config).
"""

from __future__ import annotations

import logging

import torch
from vllm.model_executor.layers.linear import UnquantizedLinearMethod
from vllm.model_executor.layers.vocab_parallel_embedding import UnquantizedEmbeddingMethod

import kernels
from kernels import native

log = logging.getLogger("vllm.structserve.native")  # under vLLM's logger: shown in its log
_PACKED = "ss_native"


def native_enabled() -> bool:
    """The native kernels are wanted and usable here (CPU build of vLLM, mode not off)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu() and native.enabled()


def _pack(layer: torch.nn.Module) -> bool:
    """Pack `layer.weight` when the kernel dispatcher picks the native path for it; False
    (nothing done) when it does not, and vLLM's own method runs the layer."""
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.is_meta or weight.dim() != 2:
        return False
    tensors = {"weight": weight.data}  # [O, I]
    if kernels.choices("dense", tensors)[:1] != ["native"]:
        return False
    # the native dense kernel takes (x, bias): vLLM's apply passes the bias through
    setattr(layer, _PACKED, kernels.kernel("dense", tensors, backend="native"))
    return True


class _PackedApply:
    """`apply` through the packed weight when `_pack` packed one, else the vLLM base's."""

    def apply(
        self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """y = x·Wᵀ + bias. x: [N, I] -> [N, O] (the LM head: [N, hidden] -> [N, vocab])."""
        packed = getattr(layer, _PACKED, None)
        if packed is None:
            return super().apply(layer, x, bias)  # type: ignore[misc]
        return packed(x, bias)


class NativeDenseLinearMethod(_PackedApply, UnquantizedLinearMethod):
    """vLLM's unquantized linear method with the native packed GEMV/GEMM on CPU."""

    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        """Pack the weight and release the unpacked copy (vLLM's CPU path does the same)."""
        weight = layer.weight
        if not isinstance(weight, torch.Tensor) or not _pack(layer):
            super().process_weights_after_loading(layer)
            return
        layer.weight = torch.nn.Parameter(torch.empty(0, dtype=weight.dtype), requires_grad=False)


class NativeLMHeadMethod(_PackedApply, UnquantizedEmbeddingMethod):
    """vLLM's LM-head method with the native kernel for the logits GEMV.

    The (possibly tied) embedding weight stays as it is for token lookups; the packed copy is
    extra memory (vocab x hidden bf16).
    """

    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        """Pack a copy of the weight for the logits (else vLLM's own CPU setup)."""
        if not _pack(layer):
            super().process_weights_after_loading(layer)
            return
        isa = native.ISA_NAMES[native.cpu_isa()]
        log.info("structserve native CPU kernels (%s) run the LM head and dense layers", isa)
