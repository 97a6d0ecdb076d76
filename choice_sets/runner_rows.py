"""Per-request rows under both of vLLM 0.32's logits-processor interfaces, for the processors
that follow each request's output (choice sets, budget closing).

vLLM 0.32 has two interfaces under the one `vllm.logits_processors` entry-point group, and each
model runner refuses a class that lacks its own: the V1 runner (CPU, and GPU setups V2 does not
support yet) calls `update_state(BatchUpdate)` / `apply(logits)` and hands over each request's
running output list; the V2 runner (the GPU default) calls `add_request(slot, params)` /
`apply(logits, ctx)` and keeps the tokens in its request state (`all_token_ids`, `prompt_len`,
`total_len`), read here into each row's output list. Under speculative decoding V2 gives a
request one logits row per draft token, which these processors do not follow: the batch is then
left alone and logged once.

A subclass says which requests get a row (`_new_row`) and what to do to the batch's logits with
them (`_process`, logits rows -> rows).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates
from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsContext
from vllm.v1.worker.gpu.sample.logits_processor.interface import (
    LogitsProcessor as RunnerV2LogitsProcessor,
)

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig
    from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsProcRequestState

log = logging.getLogger("structserve.processors")


class _HasOutput(Protocol):
    output: list[int]


RowT = TypeVar("RowT", bound=_HasOutput)


def read_committed(state: LogitsProcRequestState, outputs: dict[int, list[int]]) -> None:
    """V2 runner: append to each slot's `outputs` list the output tokens vLLM committed since
    (one gather over the runner's token table)."""
    slots = list(outputs)
    totals = state.total_len.gpu[torch.tensor(slots, device=state.device)].tolist()
    where: list[tuple[int, int]] = []  # (slot, column) of every token not read yet
    for slot, total in zip(slots, totals, strict=True):
        prompt = int(state.prompt_len.np[slot])
        done = prompt + len(outputs[slot])
        where += [(slot, col) for col in range(done, total)]
    if not where:
        return
    index = torch.tensor(where, device=state.device)  # [n, 2]
    tokens = state.all_token_ids.gpu[index[:, 0], index[:, 1]].tolist()
    for (slot, _), token in zip(where, tokens, strict=True):
        outputs[slot].append(int(token))


class RowLogitsProcessor(LogitsProcessor, RunnerV2LogitsProcessor, Generic[RowT]):
    """Rows by batch index (V1) or request slot (V2); `_process` acts on the batch's logits."""

    def __init__(self, vllm_config: VllmConfig, *runner_args: Any) -> None:
        # V1: (vllm_config, device, is_pin_memory); V2: (vllm_config, req_states)
        self.vllm_config = vllm_config
        self.req_states: LogitsProcRequestState | None = (
            runner_args[0] if len(runner_args) == 1 else None
        )
        self.rows: dict[int, RowT] = {}  # V1: batch index -> row; V2: request slot -> row
        self._warned_rows = False

    def _new_row(
        self, params: SamplingParams, prompt: list[int] | None, output: list[int]
    ) -> RowT | None:
        """The row of a request that needs this processor, else None."""
        raise NotImplementedError

    def _process(self, logits: torch.Tensor, rows: dict[int, RowT]) -> None:
        """Act, in place, on the logits rows named by `rows`' keys (their outputs are current)."""
        raise NotImplementedError

    # --- V1 interface -------------------------------------------------------------------------
    def is_argmax_invariant(self) -> bool:
        """These processors change what is sampled."""
        return False

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Track added/removed/moved requests."""
        process_dict_updates(self.rows, batch_update, self._new_row)

    def apply(self, logits: torch.Tensor, ctx: LogitsContext | None = None) -> torch.Tensor:
        """Process the rows' logits ([B, V'], in place); `ctx` is the V2 runner's batch layout
        (None under V1)."""
        if ctx is not None:
            return self._apply_v2(logits, ctx)
        if self.rows:
            self._process(logits, self.rows)
        return logits

    # --- V2 interface -------------------------------------------------------------------------
    def add_request(self, req_idx: int, sampling_params: SamplingParams) -> bool:
        """A request enters slot `req_idx`: a row when this processor follows it."""
        row = self._new_row(sampling_params, None, [])
        if row is None:
            self.rows.pop(req_idx, None)
            return False
        self.rows[req_idx] = row
        return True

    def _apply_v2(self, logits: torch.Tensor, ctx: LogitsContext) -> torch.Tensor:
        slots = ctx.idx_mapping_np.tolist()  # batch position -> request slot
        batch = {pos: self.rows[slot] for pos, slot in enumerate(slots) if slot in self.rows}
        if not batch:
            return logits
        if logits.shape[0] != len(slots):  # speculative decoding: rows per draft token
            if not self._warned_rows:
                log.error("%s cannot follow speculative decoding: left alone", type(self).__name__)
                self._warned_rows = True
            return logits
        assert self.req_states is not None, "V2 interface without request state"
        read_committed(self.req_states, {slots[p]: row.output for p, row in batch.items()})
        self._process(logits, batch)
        return logits
