"""Pure-torch reference of every structserve format (docs/formats.md): correctness, not speed.

Every fast path in kernels/ is tested against these functions.
"""

from __future__ import annotations

import torch

# Nibble p0 | (p1 << 2) -> (p0, p1); codes with p0 >= p1 are not 2:4 and map to (-1, -1).
_VALID_PAIRS = [(a, b) for a in range(4) for b in range(4) if a < b]


def nibble_table() -> torch.Tensor:
    """[16, 2] int64 table: position code -> (p0, p1), (-1, -1) for invalid codes."""
    table = torch.full((16, 2), -1, dtype=torch.int64)
    for a, b in _VALID_PAIRS:
        table[a | (b << 2)] = torch.tensor([a, b])
    return table


def unpack_positions(meta: torch.Tensor) -> torch.Tensor:
    """Positions of the kept values inside their group of 4.

    Args:
        meta: [R, C/8] uint8, two groups per byte (low nibble first).

    Returns:
        [R, C/2] int64, entries in 0..3, or -1 where a code is not 2:4.
    """
    m = meta.to(torch.int64)  # [R, C/8]
    nibbles = torch.stack((m & 0xF, m >> 4), dim=-1).flatten(-2)  # [R, C/4]
    pairs = nibble_table().to(meta.device)[nibbles]  # [R, C/4, 2]
    return pairs.flatten(-2)  # [R, C/2]


def unpack24(values: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
    """Dense matrix of a packed 2:4 tensor.

    Args:
        values: [R, C/2] kept values.
        meta: [R, C/8] uint8 position codes.

    Returns:
        [R, C] dense, same dtype as `values`.
    """
    rows, half = values.shape
    pos = unpack_positions(meta)  # [R, C/2]
    groups = torch.arange(half // 2, device=values.device).repeat_interleave(2)  # [C/2]
    cols = groups * 4 + pos  # [R, C/2]
    dense = torch.zeros(rows, half * 2, dtype=values.dtype, device=values.device)
    return dense.scatter_(1, cols, values)


def blockdiag_apply(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """y = blockdiag(blocks) · x over the last dim.

    Args:
        x: [..., n·bs].
        blocks: [n, bs, bs].

    Returns:
        [..., n·bs].
    """
    n, bs, _ = blocks.shape
    xb = x.reshape(*x.shape[:-1], n, bs)  # [..., n, bs]
    yb = torch.einsum("nij,...nj->...ni", blocks, xb)  # [..., n, bs]
    return yb.reshape(x.shape)


def blockdiag_dense(blocks: torch.Tensor) -> torch.Tensor:
    """[n·bs, n·bs] dense matrix of a block-diagonal [n, bs, bs]."""
    return torch.block_diag(*blocks.unbind(0))


def _bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return y if bias is None else y + bias


def dense_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """y = x·Wᵀ + b. x: [..., I], weight: [O, I] -> [..., O]."""
    return _bias(x @ weight.t(), bias)


def lowrank_linear(
    x: torch.Tensor, u: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """y = (x·Vᵀ)·Uᵀ + b. x: [..., I], u: [O, r], v: [r, I] -> [..., O]."""
    return _bias((x @ v.t()) @ u.t(), bias)


def sparse24_linear(
    x: torch.Tensor, values: torch.Tensor, meta: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """y = x·unpack24(values, meta)ᵀ + b. x: [..., I] -> [..., O]."""
    return _bias(x @ unpack24(values, meta).t(), bias)


def spense_dense(
    dense_rows: torch.Tensor, dense_weight: torch.Tensor, values: torch.Tensor, meta: torch.Tensor
) -> torch.Tensor:
    """[O, I] effective weight of a spense layer (rows `dense_rows` dense, the rest 2:4)."""
    n, cols = dense_weight.shape
    out = n + values.shape[0]
    w = torch.empty(out, cols, dtype=dense_weight.dtype, device=dense_weight.device)
    is_dense = torch.zeros(out, dtype=torch.bool, device=w.device)
    is_dense[dense_rows.long()] = True
    w[is_dense] = dense_weight
    w[~is_dense] = unpack24(values, meta)
    return w


def armor_dense(
    a: torch.Tensor, values: torch.Tensor, meta: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """[O, I] effective weight blockdiag(A)·S·blockdiag(B)."""
    return blockdiag_dense(a) @ unpack24(values, meta) @ blockdiag_dense(b)


def armor_linear(
    x: torch.Tensor,
    a: torch.Tensor,
    values: torch.Tensor,
    meta: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """y = A(S(B x)) + b. x: [..., I], a: [O/bs, bs, bs], b: [I/bs, bs, bs] -> [..., O]."""
    z = blockdiag_apply(x, b)  # [..., I]
    u = z @ unpack24(values, meta).t()  # [..., O]
    return _bias(blockdiag_apply(u, a), bias)


def dictsparse_coefficients(
    c_values: torch.Tensor, c_index: torch.Tensor, atoms: int
) -> torch.Tensor:
    """[k, I] dense C from its column-sparse storage (values/index: [s, I])."""
    _s, cols = c_values.shape
    c = torch.zeros(atoms, cols, dtype=c_values.dtype, device=c_values.device)
    return c.scatter_add_(0, c_index.long(), c_values)


def dictsparse_linear(
    x: torch.Tensor,
    d: torch.Tensor,
    c_values: torch.Tensor,
    c_index: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """y = (x·Cᵀ)·Dᵀ + b. x: [..., I], d: [O, k], c_values/c_index: [s, I] -> [..., O]."""
    c = dictsparse_coefficients(c_values, c_index, d.shape[1])  # [k, I]
    return _bias((x @ c.t()) @ d.t(), bias)


def trie_mask(
    nodes: torch.Tensor,
    row_start: torch.Tensor,
    edge_key: torch.Tensor,
    root_mask: torch.Tensor,
    end_token: int,
) -> torch.Tensor:
    """Next-token mask [B, V] of trie `nodes` [B] (choice_sets/trie.py): the root's row is
    `root_mask` [V], a node without edges allows `end_token`, any other node its edges' tokens
    (`edge_key` [E] = parent·V + token, node n's edges at `row_start[n] : row_start[n + 1]`)."""
    vocab = int(root_mask.numel())
    nodes = nodes.long()
    at_root = nodes == 0  # [B]
    starts = row_start[nodes]  # [B]
    counts = torch.where(at_root, 0, row_start[nodes + 1] - starts)  # [B]
    offsets = torch.arange(int(counts.max()))  # [K]
    edges = (starts[:, None] + offsets).clamp_(max=max(edge_key.numel() - 1, 0))  # [B, K]
    tokens = edge_key[edges] % vocab  # [B, K]
    tokens = torch.where(offsets < counts[:, None], tokens, vocab)  # padding: column V
    mask = torch.zeros(nodes.numel(), vocab + 1, dtype=torch.bool)
    mask.scatter_(1, tokens, True)
    mask = mask[:, :vocab]
    mask[at_root] = root_mask
    mask[(counts == 0) & ~at_root, end_token] = True
    return mask


def trie_next(
    nodes: torch.Tensor,
    row_start: torch.Tensor,
    edge_key: torch.Tensor,
    end_token: int,
    vocab: int,
) -> torch.Tensor:
    """Next tokens [B, K] of trie `nodes` [B] (choice_sets/trie.py), K the widest row of the
    batch: each node's edge tokens (the root's too: its CSR row holds them), the row's last token
    repeated to fill K; a node without edges allows `end_token`."""
    nodes = nodes.long()
    starts = row_start[nodes]  # [B]
    counts = row_start[nodes + 1] - starts  # [B]
    offsets = torch.arange(max(int(counts.max()), 1))  # [K]
    last = (counts - 1).clamp(min=0)  # [B]
    edges = starts[:, None] + torch.minimum(offsets, last[:, None])  # [B, K]
    tokens = edge_key[edges.clamp_(max=max(edge_key.numel() - 1, 0))] % vocab  # [B, K]
    return torch.where(counts[:, None] == 0, end_token, tokens)


def trie_advance(
    nodes: torch.Tensor,
    tokens: torch.Tensor,
    row_start: torch.Tensor,
    edge_key: torch.Tensor,
    edge_child: torch.Tensor,
    vocab: int,
) -> torch.Tensor:
    """The trie nodes [B] reached from `nodes` [B] along `tokens` [B]; -1 where a token is not
    an edge; a node without edges stays."""
    nodes, tokens = nodes.long(), tokens.long()
    key = nodes * vocab + tokens  # [B]
    pos = torch.searchsorted(edge_key, key).clamp(max=max(edge_key.numel() - 1, 0))  # [B]
    nxt = torch.where(edge_key[pos] == key, edge_child[pos].long(), torch.full_like(nodes, -1))
    return torch.where(row_start[nodes + 1] == row_start[nodes], nodes, nxt)
