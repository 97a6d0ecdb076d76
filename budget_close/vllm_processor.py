"""The engine side of budget closing: a vLLM logits processor (the `vllm.logits_processors`
entry point, both runner interfaces, as `choice_sets.vllm_processor`).

A request opts in with `SamplingParams.extra_args["structserve_close_on_budget"]` (the gateway
sets it through `vllm_xargs`) next to a JSON schema, `json_object` or `regex` structured output;
the constraint the row closes against is the one the engine enforces (`structured_outputs`). Each
step, rows follow their new tokens (`BudgetRow.follow`); a row that closes keeps only its forced
token, and a row near the end keeps only those of its TOP_K likeliest tokens after which the
closing still fits (`BudgetRow.safe`): every other logit is set to -inf (`keep_only`). Near the
end that is top-K sampling; elsewhere the distribution is untouched. Rows without the flag cost
nothing. A closing ends with the request's marker (`MARKER_XARG`, one of its `stop_token_ids`)
where the grammar is stopped after it, so `stop_reason` says the engine closed the document.

Limits: speculative decoding (as for choice sets, V1 loads no custom processor with it; under V2
a request has one row per draft token, not followed: the batch is left alone and logged).
The GPU runner's interface (V2) is implemented but was not run on a GPU here.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from budget_close import MARKER_XARG, XARG
from budget_close.closer import Closer
from budget_close.document import DocumentCloser
from budget_close.regex_closer import RegexCloser
from budget_close.row import BudgetRow
from budget_close.token_text import TokenText
from budget_close.verify import Judge, judge_of
from choice_sets.logits_mask import keep_only
from choice_sets.runner_rows import RowLogitsProcessor
from choice_sets.tokenizer import ModelTokenizer

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig

log = logging.getLogger("structserve.budget_close")

CACHED_SCHEMAS = 32
TOP_K = 8  # near the end, the next token is one of the K likeliest that keep the closing in budget


def request_constraint(params: SamplingParams) -> tuple[str, Any] | None:
    """The constraint the engine enforces for this request, as ("json", schema) (`json_object`:
    any object) or ("regex", pattern); None for any other (or none)."""
    outputs = params.structured_outputs
    if outputs is None:
        return None
    if outputs.json is not None:
        schema = json.loads(outputs.json) if isinstance(outputs.json, str) else outputs.json
        return "json", schema
    if outputs.json_object:
        return "json", {"type": "object"}
    if isinstance(outputs.regex, str):
        return "regex", outputs.regex
    return None


class BudgetCloseLogitsProcessor(RowLogitsProcessor[BudgetRow]):
    """Forces the shortest valid closing of a JSON output when its token budget runs short
    (both of vLLM's processor interfaces: `choice_sets.runner_rows`)."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        """400 for the flag on a request without a JSON schema or `max_tokens`."""
        if not (sampling_params.extra_args or {}).get(XARG):
            return
        if request_constraint(sampling_params) is None:
            raise ValueError(f"{XARG} needs a JSON schema, json_object or regex structured output")
        if sampling_params.max_tokens is None:
            raise ValueError(f"{XARG} needs max_tokens")

    def __init__(self, vllm_config: VllmConfig, *runner_args: Any) -> None:
        super().__init__(vllm_config, *runner_args)  # the tokenizer is read at the first row
        self._text: TokenText | None = None
        self._schemas: OrderedDict[str, tuple[DocumentCloser, Judge]] = OrderedDict()

    # --- the core -----------------------------------------------------------------------------
    def _process(self, logits: torch.Tensor, rows: dict[int, BudgetRow]) -> None:
        """Follow each row's new tokens; keep only what each closing or near-end row may take."""
        keep: dict[int, list[int]] = {}
        markers: list[tuple[int, int]] = []  # (row, marker) to lift from the grammar's -inf
        for index, row in rows.items():
            row.follow()
            allowed = self._allowed(logits, index, row)
            if allowed:
                keep[index] = allowed
                if row.ends_with_marker(allowed[0]):
                    markers.append((index, allowed[0]))
        if keep:
            order = sorted(keep)
            width = max(len(keep[i]) for i in order)
            ids = [keep[i] + keep[i][-1:] * (width - len(keep[i])) for i in order]
            keep_only(logits, order, torch.tensor(ids, dtype=torch.long, device=logits.device))
        for index, marker in markers:
            logits[index, marker] = 0.0  # the only finite logit of its row

    def _allowed(self, logits: torch.Tensor, index: int, row: BudgetRow) -> list[int] | None:
        """The tokens row `index` may take this step (None: any the grammar allows)."""
        token = row.next_token()
        if token is None and row.near_end():
            values, ids = logits[index].topk(min(TOP_K, logits.shape[1]))  # [K]
            candidates = ids[values.isfinite()].tolist()
            safe = row.safe(candidates)
            if safe:
                return safe
            token = row.close_now()
        if token is None:
            return None
        if token >= logits.shape[1]:
            log.error("budget closing: forced token %d outside the logits; row left alone", token)
            row.given_up = True
            return None
        if not bool(logits[index, token].isfinite()) and not row.ends_with_marker(token):
            # the grammar's mask refused it: never leave a row without a token
            log.error("budget closing: the grammar refused a forced token; row left alone")
            row.given_up = True
            return None
        return [token]

    def _new_row(
        self, params: SamplingParams, _prompt: list[int] | None, output: list[int]
    ) -> BudgetRow | None:
        if not (params.extra_args or {}).get(XARG) or params.max_tokens is None:
            return None
        constraint = request_constraint(params)
        if constraint is None:
            return None
        try:
            closer, judge = self._schema(*constraint)
            text = self._token_text()
        except (OSError, ValueError, TypeError, KeyError) as exc:  # never take the engine down
            log.error("budget closing unavailable for a request: %s", exc)
            return None
        marker = (params.extra_args or {}).get(MARKER_XARG)
        if not isinstance(marker, int) or not 0 <= marker < text.tokenizer.get_vocab_size():
            marker = None
        return BudgetRow(closer, judge, text, int(params.max_tokens), output, marker=marker)

    def _schema(self, kind: str, spec: Any) -> tuple[DocumentCloser, Judge]:
        key = json.dumps([kind, spec], sort_keys=True)
        entry = self._schemas.get(key)
        if entry is None:
            closer: DocumentCloser = Closer(spec) if kind == "json" else RegexCloser(spec)
            entry = (closer, judge_of(kind, spec))
            self._schemas[key] = entry
            while len(self._schemas) > CACHED_SCHEMAS:
                self._schemas.popitem(last=False)
        self._schemas.move_to_end(key)
        return entry

    def _token_text(self) -> TokenText:
        if self._text is None:
            folder = Path(self.vllm_config.model_config.tokenizer)
            self._text = TokenText.of(ModelTokenizer.open(folder))
        return self._text
