"""The vLLM linear method of structserve layers: create_weights -> load -> process -> apply.

One vLLM layer may merge several checkpoint layers (q/k/v -> qkv_proj, gate/up -> gate_up_proj),
each with its own format. Every stored tensor name (`U`, `values`, `weight`, ...) becomes one flat
parameter of the vLLM layer holding that tensor for every shard that has it; the weight loader
copies each shard's tensor into its slice, checking shape and dtype first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from vllm.model_executor.layers.linear import LinearMethodBase
from vllm.model_executor.utils import set_weight_attrs

from model_loaders.checkpoint.errors import (
    ManifestError,
    MissingTensorError,
    RankMismatchError,
    TensorDtypeError,
    TensorShapeError,
    UnexpectedTensorError,
)
from model_loaders.checkpoint.manifest import LayerEntry
from model_loaders.checkpoint.specs import FLOAT, FORMATS, Format, TensorSpec
from model_loaders.formats import bundle
from model_loaders.vllm.plan import LinearPlan

_INT_DTYPES = {"U8": torch.uint8, "I32": torch.int32, "I64": torch.int64, "I16": torch.int16}
_QKV = {"q": 0, "k": 1, "v": 2}
_RANK_TENSORS = {suffix for spec in FORMATS.values() for suffix in spec.rank_dims}


@dataclass(frozen=True)
class _Slot:
    offset: int
    shape: tuple[int, ...]
    name: str  # the checkpoint tensor name, for errors

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class _LayerState:
    entries: list[LayerEntry]
    slots: dict[str, dict[int, _Slot]]
    loaded: set[tuple[int, str]] = field(default_factory=set)
    plan: LinearPlan | None = None


_STATE = "ss_state"


def _state(layer: torch.nn.Module) -> _LayerState:
    state = getattr(layer, _STATE)
    assert isinstance(state, _LayerState)
    return state


def shard_index(shard_id: object, n_shards: int, *, tensor: str) -> int:
    """vLLM's shard id ('q'/'k'/'v', an int, or None for an unmerged layer) -> shard index."""
    if shard_id is None and n_shards == 1:
        return 0
    if isinstance(shard_id, str) and shard_id in _QKV:
        return _QKV[shard_id]
    if isinstance(shard_id, int) and 0 <= shard_id < n_shards:
        return shard_id
    raise UnexpectedTensorError(tensor, expected=f"one of {n_shards} shards", found=shard_id)


def _int_dtypes(spec: TensorSpec) -> list[torch.dtype]:
    """The torch dtypes an integer spec accepts, narrow to wide (INDEX: int16, int32)."""
    return [_INT_DTYPES[name] for name in spec.accepted()]


def _param_dtype(spec: TensorSpec, params_dtype: torch.dtype) -> torch.dtype:
    """The flat parameter's dtype: the serving float, or the widest accepted integer dtype
    (an I16 index is copied into an int32 parameter)."""
    return params_dtype if spec.dtype == FLOAT else _int_dtypes(spec)[-1]


def _check_tensor(slot: _Slot, spec: TensorSpec, loaded: torch.Tensor) -> None:
    if spec.dtype == FLOAT:
        if not loaded.is_floating_point():
            raise TensorDtypeError(slot.name, expected="a floating dtype", found=loaded.dtype)
    elif loaded.dtype not in (accepted := _int_dtypes(spec)):
        expected = accepted[0] if len(accepted) == 1 else f"one of {accepted}"
        raise TensorDtypeError(slot.name, expected=expected, found=loaded.dtype)
    if tuple(loaded.shape) != slot.shape:
        suffix = slot.name.rsplit(".", 1)[-1]
        error = RankMismatchError if suffix in _RANK_TENSORS else TensorShapeError
        raise error(slot.name, expected=list(slot.shape), found=list(loaded.shape))


class StructServeLinearMethod(LinearMethodBase):
    """Linear method for one vLLM layer whose shards are structserve layer entries."""

    def __init__(self, entries: list[LayerEntry | None], names: list[str], *, mode: str) -> None:
        self.entries = entries
        self.names = names
        self.mode = mode

    def _shard_entries(self, sizes: list[int], in_features: int) -> list[LayerEntry]:
        if len(sizes) != len(self.entries):
            raise ManifestError(self.names[0], expected=f"{len(self.entries)} shards", found=sizes)
        out = []
        for entry, name, size in zip(self.entries, self.names, sizes, strict=True):
            entry = entry or LayerEntry(name, Format.DENSE, size, in_features)
            if (entry.out_features, entry.in_features) != (size, in_features):
                found = f"[{entry.out_features}, {entry.in_features}] in the manifest"
                raise ManifestError(name, expected=f"[{size}, {in_features}] (tp=1)", found=found)
            out.append(entry)
        return out

    def create_weights(
        self,
        layer: torch.nn.Module,
        input_size_per_partition: int,
        output_partition_sizes: list[int],
        input_size: int,
        output_size: int,
        params_dtype: torch.dtype,
        **extra_weight_attrs: Any,
    ) -> None:
        """Register one flat parameter per stored tensor name, sized for every shard."""
        entries = self._shard_entries(output_partition_sizes, input_size_per_partition)
        slots: dict[str, dict[int, _Slot]] = {}
        dtypes: dict[str, torch.dtype] = {}
        for idx, entry in enumerate(entries):
            for suffix, spec in entry.tensors().items():
                per = slots.setdefault(suffix, {})
                offset = sum(s.numel for s in per.values())
                per[idx] = _Slot(offset, spec.shape, f"{entry.name}.{suffix}")
                dtypes[suffix] = _param_dtype(spec, params_dtype)
        for suffix, per in slots.items():
            total = sum(s.numel for s in per.values())
            param = torch.nn.Parameter(
                torch.empty(total, dtype=dtypes[suffix]), requires_grad=False
            )
            layer.register_parameter(suffix, param)
            set_weight_attrs(param, {"weight_loader": self._make_loader(layer, suffix)})
        setattr(layer, _STATE, _LayerState(entries, slots))

    def _make_loader(self, layer: torch.nn.Module, suffix: str) -> Any:
        def weight_loader(
            param: torch.Tensor, loaded: torch.Tensor, shard_id: object = None
        ) -> None:
            state = _state(layer)
            per = state.slots[suffix]
            if shard_id is None:
                shard_id = getattr(loaded, "shard_id", None)
            idx = shard_index(shard_id, len(state.entries), tensor=f"{self.names[0]}.{suffix}")
            if idx not in per:
                name = f"{state.entries[idx].name}.{suffix}"
                fmt = state.entries[idx].format.value
                raise UnexpectedTensorError(
                    name, expected=f"no such tensor in format {fmt}", found="it"
                )
            slot = per[idx]
            spec = state.entries[idx].tensors()[suffix]
            _check_tensor(slot, spec, loaded)
            # copy_ widens an I16 index into the int32 parameter
            param.data[slot.offset : slot.offset + slot.numel].copy_(loaded.reshape(-1))
            state.loaded.add((idx, suffix))

        return weight_loader

    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        """Check completeness and values, build the compute plan, release what it doesn't need."""
        state = _state(layer)
        plans = []
        for idx, entry in enumerate(state.entries):
            tensors = {}
            for suffix in entry.tensors():
                slot = state.slots[suffix][idx]
                if (idx, suffix) not in state.loaded:
                    raise MissingTensorError(slot.name, expected=list(slot.shape), found="nothing")
                flat = getattr(layer, suffix).data
                tensors[suffix] = flat[slot.offset : slot.offset + slot.numel].view(slot.shape)
            shard = bundle(entry, tensors)
            shard.validate(entry.name)
            plans.append(shard.plan(self.mode))
        state.plan = LinearPlan(plans)
        for suffix in state.slots:
            delattr(layer, suffix)  # compressed plans keep views; dense plans own packed copies

    def apply(
        self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """y = x·Ŵᵀ + bias. x: [N, I] -> [N, O]."""
        plan = _state(layer).plan
        assert plan is not None, "process_weights_after_loading has not run"
        y = plan(x)
        return y if bias is None else y + bias
