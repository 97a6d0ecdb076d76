"""The engine-side choice-set metrics: how long each decoding step's masking takes.

The logits processor runs inside vLLM's engine-core process, not the API server that answers
/metrics. With `PROMETHEUS_MULTIPROC_DIR` set for the engine (prometheus-client's multiprocess
mode, which vLLM's /metrics reads through `MultiProcessCollector`), the values recorded here show
up on the engine's /metrics and, relabelled, on the gateway's. `structserve serve` sets it to a
fresh folder at every engine start; compose and Kubernetes give the engine a tmpfs / emptyDir.
Without it the values stay in the engine-core process and cost nothing.

Metrics (no labels; one observation per step with choice-set rows):

* `structserve_choice_set_mask_seconds`: time to mask every choice-set row of the batch
  (trie lookups of the next tokens, writing -inf around them) in one step.
* `structserve_choice_set_masked_rows_total`: rows masked, summed over steps (divide by the
  histogram's count for the mean batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter, Histogram

MASK_BUCKETS = (2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1)
MASK_SECONDS = "structserve_choice_set_mask_seconds"
MASKED_ROWS = "structserve_choice_set_masked_rows"


@dataclass(frozen=True)
class MaskMetrics:
    """The engine process's mask histogram and row counter."""

    seconds: Histogram
    rows: Counter

    def observe(self, seconds: float, rows: int) -> None:
        """Record one step that masked `rows` choice-set rows in `seconds`."""
        self.seconds.observe(seconds)
        self.rows.inc(rows)


@cache
def mask_metrics() -> MaskMetrics:
    """This process's metrics (created once; in no registry: multiprocess mode writes them to
    `PROMETHEUS_MULTIPROC_DIR`, which is what the engine's /metrics collects)."""
    return MaskMetrics(
        seconds=Histogram(
            MASK_SECONDS,
            "Time to mask the choice-set rows of one decoding step (engine side).",
            buckets=MASK_BUCKETS,
            registry=None,
        ),
        rows=Counter(
            MASKED_ROWS, "Choice-set rows masked, summed over decoding steps.", registry=None
        ),
    )
