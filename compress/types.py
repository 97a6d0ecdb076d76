"""In-memory result of compressing one linear layer, independent of the on-disk format.

`CompressedLinear` holds the factors a method produced; `dense()` rebuilds the effective weight
(used to propagate calibration activations through compressed layers and in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def block_diag_apply_left(blocks: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Compute blockdiag(blocks) @ x.

    Args:
        blocks: [n, bs, bs] diagonal blocks.
        x: [n * bs, m].

    Returns:
        [n * bs, m].
    """
    n, bs, _ = blocks.shape
    # x: [n, bs, m]
    return (blocks @ x.reshape(n, bs, -1)).reshape(n * bs, -1)


def block_diag_apply_right(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Compute x @ blockdiag(blocks).

    Args:
        x: [m, n * bs].
        blocks: [n, bs, bs] diagonal blocks.

    Returns:
        [m, n * bs].
    """
    n, bs, _ = blocks.shape
    m = x.shape[0]
    # x: [m, n, bs] -> [n, m, bs] @ [n, bs, bs]
    out = x.reshape(m, n, bs).transpose(0, 1) @ blocks
    return out.transpose(0, 1).reshape(m, n * bs)


# the 2:4 tensor of each format that has one (stores half its values)
_SPARSE24_PART = {"sparse24": "weight", "armor": "core", "spense": "sparse_weight"}


@dataclass
class CompressedLinear:
    """One compressed linear layer: format name (model_loaders.checkpoint.specs.Format), factor
    tensors, and metadata. `compress.export.to_format_tensors` turns it into the format's class.

    Tensors per format (all float32 unless stated):
      dense:      weight [out, in]
      sparse24:   weight [out, in] (zeros outside the mask), mask [out, in] bool, exactly 2:4
                  along the input dim
      lowrank:    u [out, r], v [r, in]
      spense:     axis "rows": sparse_weight/sparse_mask [out - nd, in], dense_weight [nd, in],
                  dense_index [nd] (output rows kept dense), sparse_index [out - nd];
                  axis "cols": sparse_weight/sparse_mask [out, in - nd], dense_weight [out, nd],
                  dense_index [nd] (input columns kept dense), sparse_index [in - nd]
      armor:      a [out/bs, bs, bs], core/mask [out, in] (2:4), b [in/bs, bs, bs];
                  W = blockdiag(a) @ core @ blockdiag(b)
      dictsparse: dictionary [out, k], coef_values [s, in], coef_index [s, in] int64 (each column
                  of the coefficient matrix C [k, in] has exactly s non-zeros)
    """

    fmt: str
    shape: tuple[int, int]
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def dense(self) -> torch.Tensor:
        """The effective dense weight [out, in] this compressed layer computes."""
        import torch

        t = self.tensors
        out_f, in_f = self.shape
        if self.fmt in ("dense", "sparse24"):
            return t["weight"]
        if self.fmt == "lowrank":
            return t["u"] @ t["v"]
        if self.fmt == "armor":
            return block_diag_apply_right(block_diag_apply_left(t["a"], t["core"]), t["b"])
        if self.fmt == "dictsparse":
            k = t["dictionary"].shape[1]
            coef = torch.zeros(k, in_f, dtype=t["coef_values"].dtype)
            coef.scatter_(0, t["coef_index"], t["coef_values"])
            return t["dictionary"] @ coef
        if self.fmt == "spense":
            w = torch.zeros(out_f, in_f, dtype=t["dense_weight"].dtype)
            if self.meta["axis"] == "rows":
                w[t["dense_index"]] = t["dense_weight"]
                w[t["sparse_index"]] = t["sparse_weight"]
            else:
                w[:, t["dense_index"]] = t["dense_weight"]
                w[:, t["sparse_index"]] = t["sparse_weight"]
            return w
        raise ValueError(f"unknown format {self.fmt!r}")

    def num_params(self) -> int:
        """Stored parameters: the floating tensors' values, half of each 2:4 one (masks and
        indices are counted in bytes, not here)."""
        halved = _SPARSE24_PART.get(self.fmt)
        return sum(
            t.numel() // (2 if k == halved else 1)
            for k, t in self.tensors.items()
            if t.is_floating_point()
        )
