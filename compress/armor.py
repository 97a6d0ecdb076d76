"""ARMOR (2:4 core wrapped by block-diagonal matrices): Ŵ = A · S · B.

Block coordinate descent on a normalized proxy loss, following the ARMOR paper and its
reference implementation (our own code):

* W is normalized, W = diag(r) · Wn · diag(c) (column norms c, then row norms r), and the
  factors live in normalized space; r and c are folded into A and B at the end.
* Proxy loss L = tr(E H Eᵀ) / tr(W H Wᵀ) with E = Ŵ − W and H the calibration second moment;
  `hessian="diag"` keeps only diag(H) (per-input importance, the paper's weighting), `"full"`
  uses all of H (the exact calibration output error).
* A = B = I at the start; S starts from a 2:4 pruning of W (`init`: wanda or sparsegpt).
* Each iteration: `adam_steps` Adam steps on (A, B, kept values of S), each accepted only if the
  loss does not increase (otherwise reverted and the learning rate halved), then one sparse-core
  step: in every (output block, input block) pair, the 4-group with the largest gradient L1 norm
  is re-solved exactly — all 6 two-of-four masks are enumerated with their least-squares values
  and the best is kept if it lowers the loss. Both updates never increase L.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compress.masks import is_24, mask24_from_scores
from compress.types import CompressedLinear, block_diag_apply_left, block_diag_apply_right

if TYPE_CHECKING:
    import torch

MASKS_2_OF_4 = tuple(itertools.combinations(range(4), 2))  # the 6 masks of a 4-group


@dataclass(frozen=True)
class ArmorOptions:
    """ARMOR hyper-parameters.

    block_size: wrapper block size (the largest multiple of 4 not above it that divides both
        dims is used; the format has one block size for A and B).
    iters: outer iterations (Adam steps + one sparse-core step each).
    adam_steps: Adam steps per iteration.
    lr: Adam learning rate for A and B; lr_values for the kept values of S.
    hessian: "diag" (paper's per-input importance) or "full" (exact output error).
    init: initial 2:4 core, "wanda" or "sparsegpt".
    """

    block_size: int = 64
    iters: int = 30
    adam_steps: int = 4
    lr: float = 1e-2
    lr_values: float = 1e-3
    hessian: str = "full"
    init: str = "sparsegpt"


def pick_block(out_f: int, in_f: int, want: int) -> int:
    """Largest block size <= `want` dividing both dims and a multiple of 4 (2:4 groups)."""
    for b in range(min(want, out_f, in_f), 0, -1):
        if out_f % b == 0 and in_f % b == 0 and b % 4 == 0:
            return b
    raise ValueError(f"no ARMOR block size for a [{out_f}, {in_f}] weight")


class _Problem:
    """Normalized ARMOR state for one weight matrix and its proxy loss."""

    def __init__(self, weight: torch.Tensor, hessian: torch.Tensor, opts: ArmorOptions) -> None:
        import torch

        w = weight.float()
        self.out_f, self.in_f = w.shape
        self.c = w.norm(dim=0).clamp_min(1e-8)  # [in]
        self.r = (w / self.c).norm(dim=1).clamp_min(1e-8)  # [out]
        self.wn = w / self.c / self.r[:, None]  # [out, in]
        self.full = opts.hessian == "full"
        h = hessian.float()
        self.h = h if self.full else h.diagonal().clone()
        self.bso = self.bsi = pick_block(self.out_f, self.in_f, opts.block_size)
        self.norm0 = float(self._raw_loss(w))
        self.a = torch.eye(self.bso).repeat(self.out_f // self.bso, 1, 1)  # [nbo, bso, bso]
        self.b = torch.eye(self.bsi).repeat(self.in_f // self.bsi, 1, 1)  # [nbi, bsi, bsi]

    def _raw_loss(self, e: torch.Tensor) -> torch.Tensor:
        if self.full:
            return ((e @ self.h) * e).sum()
        return (e * e * self.h[None, :]).sum()

    def weight_hat(self, a: torch.Tensor, s: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Ŵ in original space: diag(r) A S B diag(c)."""
        wn_hat = block_diag_apply_right(block_diag_apply_left(a, s), b)
        return wn_hat * self.r[:, None] * self.c[None, :]

    def loss(self, a: torch.Tensor, s: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Normalized proxy loss tr(E H Eᵀ) / tr(W H Wᵀ)."""
        w = self.wn * self.r[:, None] * self.c[None, :]
        return self._raw_loss(self.weight_hat(a, s, b) - w) / max(self.norm0, 1e-30)

    def eh(self, e: torch.Tensor) -> torch.Tensor:
        return e @ self.h if self.full else e * self.h[None, :]


def _adam_phase(
    prob: _Problem, s: torch.Tensor, mask: torch.Tensor, state: dict, steps: int, loss: float
) -> tuple[torch.Tensor, float]:
    """Adam steps on A, B and the kept values; a step that raised the loss is undone.

    The forward of step t+1 checks step t (one loss evaluation per step): if the loss rose, the
    parameters go back to the last accepted point and the learning rates are halved.
    """
    import torch

    opt = state["opt"]
    params = state["params"]  # [a, b, s]
    backup = [p.detach().clone() for p in params]
    for t in range(steps + 1):
        cur = prob.loss(params[0], params[2] * mask, params[1])
        if float(cur.detach()) > loss:
            with torch.no_grad():
                for p, old in zip(params, backup, strict=True):
                    p.copy_(old)
            for g in opt.param_groups:
                g["lr"] *= 0.5
            if t == steps:
                break
            cur = prob.loss(params[0], params[2] * mask, params[1])
        else:
            loss = float(cur.detach())
            backup = [p.detach().clone() for p in params]
        if t == steps:
            break
        opt.zero_grad()
        cur.backward()
        opt.step()
    with torch.no_grad():
        prob.a = params[0].detach().clone()
        prob.b = params[1].detach().clone()
        s = params[2].detach() * mask
    return s, loss


def _group_solutions(
    prob: _Problem,
    kc: slice,
    brows: torch.Tensor,
    a2: torch.Tensor,
    z: torch.Tensor,
    v_cur: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss terms of one 4-group per output block: now, and with each of the 6 masks at its
    least-squares values.

    Returns:
        (current value [nbo], best value per mask [nbo, 6], its values [nbo, 6, 2]).
    """
    import torch

    combos = torch.tensor(MASKS_2_OF_4)  # [6, 2]
    if prob.full:
        m = brows @ prob.h[kc, kc] @ brows.transpose(1, 2)  # [nbo, 4, 4]
    else:
        m = (brows * prob.h[kc][None, None, :]) @ brows.transpose(1, 2)
    f = (brows @ z[:, :, None]).squeeze(-1) - a2[:, None] * (m @ v_cur[:, :, None]).squeeze(-1)
    cur_val = 2 * (v_cur * f).sum(1) + a2 * (v_cur * (m @ v_cur[:, :, None]).squeeze(-1)).sum(1)
    mm = m[:, combos[:, :, None], combos[:, None, :]]  # [nbo, 6, 2, 2]
    mm = mm + 1e-10 * mm.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None].clamp_min(
        1e-30
    ) * torch.eye(2)
    fm = f[:, combos]  # [nbo, 6, 2]
    sol = torch.linalg.solve(mm, fm[..., None]).squeeze(-1)  # [nbo, 6, 2]
    vals = -(fm * sol).sum(-1) / a2[:, None]  # [nbo, 6]
    return cur_val, vals, sol


def _sparse_core_step(prob: _Problem, s: torch.Tensor, mask: torch.Tensor) -> None:
    """Greedy exact re-solve of one 4-group per block pair (in place on s and mask)."""
    import torch

    nbo, bso, nbi, bsi = prob.out_f // prob.bso, prob.bso, prob.in_f // prob.bsi, prob.bsi
    w = prob.wn * prob.r[:, None] * prob.c[None, :]
    e = prob.weight_hat(prob.a, s, prob.b) - w  # [out, in]
    eh = prob.eh(e)  # [out, in]
    # gradient wrt S (normalized space): A^T diag(r) (E H) diag(c) B^T, for the greedy choice
    pn = eh * prob.r[:, None] * prob.c[None, :]
    grad = block_diag_apply_right(
        block_diag_apply_left(prob.a.transpose(1, 2), pn), prob.b.transpose(1, 2)
    )
    # score of each 4-group, per block pair: [nbo, bso, nbi, bsi/4]
    gscore = grad.abs().reshape(nbo, bso, nbi, bsi // 4, 4).sum(-1)
    combos = torch.tensor(MASKS_2_OF_4)  # [6, 2]
    rows_j = torch.arange(nbo)
    for k in range(nbi):
        kc = slice(k * bsi, (k + 1) * bsi)
        flat = gscore[:, :, k, :].reshape(nbo, -1).argmax(dim=1)  # [nbo]
        p, g = flat // (bsi // 4), flat % (bsi // 4)
        i0 = rows_j * bso + p  # global rows [nbo]
        cols = k * bsi + g[:, None] * 4 + torch.arange(4)[None, :]  # [nbo, 4]
        a = prob.a[rows_j, :, p] * prob.r.reshape(nbo, bso)  # [nbo, bso] (original space)
        brows = prob.b[k][g[:, None] * 4 + torch.arange(4)[None, :]]  # [nbo, 4, bsi]
        brows = brows * prob.c[kc][None, None, :]
        v_cur = s[i0[:, None], cols]  # [nbo, 4]
        a2 = (a * a).sum(1).clamp_min(1e-30)  # [nbo]
        z = torch.einsum("jo,joi->ji", a, eh[:, kc].reshape(nbo, bso, bsi))  # [nbo, bsi]
        cur_val, vals, sol = _group_solutions(prob, kc, brows, a2, z, v_cur)
        best = vals.argmin(dim=1)
        better = vals[rows_j, best] < cur_val - 1e-12 * prob.norm0
        if not bool(better.any()):
            continue
        v_new = torch.zeros_like(v_cur)
        v_new.scatter_(1, combos[best], -sol[rows_j, best] / a2[:, None])
        v_new = torch.where(better[:, None], v_new, v_cur)
        m_new = torch.zeros_like(v_cur, dtype=torch.bool)
        m_new.scatter_(1, combos[best], True)
        m_new = torch.where(better[:, None], m_new, mask[i0[:, None], cols])
        dv = v_new - v_cur  # [nbo, 4]
        s[i0[:, None], cols] = v_new
        mask[i0[:, None], cols] = m_new
        # incremental E H update: ΔE = a (dvᵀ brows) in block (j, k)
        de = a[:, :, None] * (dv[:, None, :] @ brows)  # [nbo, bso, bsi]
        de = de.reshape(nbo * bso, bsi)
        if prob.full:
            eh += de @ prob.h[kc, :]
        else:
            eh[:, kc] += de * prob.h[kc][None, :]


def _initial_core(weight: torch.Tensor, hessian: torch.Tensor, init: str) -> torch.Tensor:
    from compress import sparsegpt24, wanda24

    if init == "sparsegpt":
        return sparsegpt24.compress_linear(weight, hessian).tensors["weight"]
    if init == "wanda":
        return wanda24.compress_linear(weight, hessian).tensors["weight"]
    raise ValueError(f"unknown ARMOR init {init!r}")


def compress_linear(
    weight: torch.Tensor, hessian: torch.Tensor, *, options: ArmorOptions | None = None
) -> CompressedLinear:
    """Compress `weight` [out, in] to ARMOR form by block coordinate descent.

    Args:
        weight: [out, in] dense weight.
        hessian: [in, in] calibration second moment.
        options: hyper-parameters (defaults: `ArmorOptions()`).

    Returns:
        An armor CompressedLinear; meta["loss_history"] holds the proxy loss after init and after
        every iteration (non-increasing).
    """
    import torch

    opts = options or ArmorOptions()
    prob = _Problem(weight, hessian, opts)
    init = _initial_core(weight.float(), hessian.float(), opts.init)
    mask = init != 0
    if not is_24(mask):  # a kept value that is exactly zero
        mask = mask24_from_scores(init.abs() + 1e-30 * weight.abs())
    s = init / prob.c / prob.r[:, None] * mask
    params = [
        prob.a.clone().requires_grad_(True),
        prob.b.clone().requires_grad_(True),
        s.clone().requires_grad_(True),
    ]
    opt = torch.optim.Adam(
        [{"params": params[:2], "lr": opts.lr}, {"params": params[2:], "lr": opts.lr_values}]
    )
    state = {"opt": opt, "params": params}
    with torch.no_grad():
        loss = float(prob.loss(prob.a, s, prob.b))
    history = [loss]
    for _ in range(opts.iters):
        if opts.adam_steps:
            s, loss = _adam_phase(prob, s, mask, state, opts.adam_steps, loss)
        with torch.no_grad():
            _sparse_core_step(prob, s, mask)
            loss = float(prob.loss(prob.a, s, prob.b))
            history.append(loss)
            params[2].copy_(s)
    a_out = prob.a * prob.r.reshape(-1, prob.bso)[:, :, None]
    b_out = prob.b * prob.c.reshape(-1, prob.bsi)[:, None, :]
    return CompressedLinear(
        "armor",
        (prob.out_f, prob.in_f),
        {"a": a_out.contiguous(), "core": (s * mask).contiguous(), "mask": mask, "b": b_out},
        {"loss_history": history, "block_size": prob.bso},
    )
