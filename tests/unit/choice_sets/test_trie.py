"""The flattened trie against a pure-Python pointer trie, on random sets with shared prefixes."""

from __future__ import annotations

import random

import pytest
import torch

from choice_sets.trie import ChoiceTrie, EmptyChoiceSetError, TokenOutOfRangeError, pointer_trie

END = 0
VOCAB = 50


def _random_items(rng: random.Random, count: int) -> list[list[int]]:
    """Items over a small alphabet (many shared prefixes), some duplicates, some prefixes of
    others, one empty."""
    items = [[rng.randrange(1, 6) for _ in range(rng.randrange(1, 7))] for _ in range(count)]
    items += [items[0], items[1][:1], []]
    return items


BACKENDS = ["torch", "native"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each decoding-step kernel: the torch path (the reference) and the native one."""
    if request.param == "native":
        from tests.prereq import require_native_kernels

        require_native_kernels()
    return str(request.param)


@pytest.mark.parametrize("seed", range(6))
def test_masks_and_moves_match_a_pointer_trie(seed: int, backend: str) -> None:
    rng = random.Random(seed)
    items = _random_items(rng, 200)
    trie = ChoiceTrie.build(items, VOCAB, END, backend=backend)
    reference = pointer_trie(items, END)
    assert trie.items == len({tuple(i) for i in items})
    # walk every item, checking the mask at each step against the reference's children
    for item in items:
        node, ref = torch.tensor([0]), reference
        for t in [*item, END]:
            allowed = trie.allowed(node)[0].nonzero().flatten().tolist()
            assert allowed == sorted(ref), (item, t)
            node, ref = trie.advance(node, torch.tensor([t])), ref[t]
            assert int(node) > 0
        assert ref == {}
        assert trie.allowed(node)[0].nonzero().flatten().tolist() == [END]  # ended: EOS again


@pytest.mark.parametrize("seed", range(4))
def test_batched_random_walks_always_end_on_an_item(seed: int, backend: str) -> None:
    """Sampling any allowed token at every step, a batch of 64 walks ends on members only."""
    rng = random.Random(100 + seed)
    items = _random_items(rng, 300)
    members = {tuple(i) for i in items}
    trie = ChoiceTrie.build(items, VOCAB, END, backend=backend)
    gen = torch.Generator().manual_seed(seed)
    nodes = torch.zeros(64, dtype=torch.long)
    out: list[list[int]] = [[] for _ in range(64)]
    done = torch.zeros(64, dtype=torch.bool)
    while not bool(done.all()):
        mask = trie.allowed(nodes)  # [B, V]
        tokens = torch.multinomial(mask.float(), 1, generator=gen).squeeze(1)  # [B]
        for b in range(64):
            if not done[b]:
                out[b].append(int(tokens[b]))
        done |= tokens == END
        nodes = trie.advance(nodes, tokens)
    assert all(tuple(o[:-1]) in members and o[-1] == END for o in out)


def test_native_step_equals_the_torch_step_on_every_node() -> None:
    """The fast kernel against its reference, every node of a random trie in one batch, with
    random tokens (edges and non-edges)."""
    from tests.prereq import require_native_kernels

    require_native_kernels()
    items = _random_items(random.Random(7), 400)
    fast = ChoiceTrie.build(items, VOCAB, END, backend="native")
    ref = ChoiceTrie.build(items, VOCAB, END, backend="torch")
    nodes = torch.arange(fast.nodes)
    tokens = torch.randint(0, VOCAB, (fast.nodes,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(fast.allowed(nodes), ref.allowed(nodes))
    assert torch.equal(fast.next_tokens(nodes), ref.next_tokens(nodes))
    assert torch.equal(fast.advance(nodes, tokens), ref.advance(nodes, tokens))


def test_next_tokens_are_the_mask_as_ids(backend: str) -> None:
    """`next_tokens` lists exactly the tokens `allowed` allows, for every node (root and leaves
    included), each row padded with its own last token; one batch of every node and single
    nodes give the same rows."""
    items = _random_items(random.Random(11), 300)
    trie = ChoiceTrie.build(items, VOCAB, END, backend=backend)
    nodes = torch.arange(trie.nodes)
    ids, mask = trie.next_tokens(nodes), trie.allowed(nodes)  # [N, K], [N, V]
    for node in range(trie.nodes):
        assert sorted(set(ids[node].tolist())) == mask[node].nonzero().flatten().tolist()
        alone = trie.next_tokens(torch.tensor([node]))[0]
        assert torch.equal(ids[node, : alone.numel()], alone)
        assert bool((ids[node, alone.numel() :] == alone[-1]).all())


def test_a_token_off_the_tree_is_refused_and_bad_sets_raise(backend: str) -> None:
    trie = ChoiceTrie.build([[3, 4], [3, 5]], VOCAB, END, backend=backend)
    assert trie.advance(torch.tensor([0]), torch.tensor([4])).tolist() == [-1]
    with pytest.raises(EmptyChoiceSetError):
        ChoiceTrie.build([], VOCAB, END)
    with pytest.raises(TokenOutOfRangeError):
        ChoiceTrie.build([[VOCAB]], VOCAB, END)
    for bad in ([[-3]], [[-1]], [[2, VOCAB + 7]]):
        with pytest.raises(TokenOutOfRangeError):
            ChoiceTrie.build(bad, VOCAB, END)


def test_shared_prefixes_are_stored_once() -> None:
    trie = ChoiceTrie.build([[1, 2, 3], [1, 2, 4], [1, 9]], VOCAB, END)
    # root -1-> a -2-> b -3-> c -END-> ., b -4-> d -END-> ., a -9-> e -END-> .
    assert trie.nodes == 1 + 8
    assert trie.edge_key.numel() == 8
