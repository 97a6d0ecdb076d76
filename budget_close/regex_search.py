"""The shortest text that ends a string under a JSON Schema `pattern`, searched lazily.

The pattern is parsed by interegular (which vLLM's dependencies bring) but never turned into its
DFA: that construction is exponential for ordinary schema patterns (`^[a-z][a-z0-9-]{3,30}$` took
over a second, a URI pattern of the dev split 212 s). Instead the syntax tree becomes a Thompson
NFA (counted repetitions unrolled, at most MAX_NFA_STATES states), and a breadth-first search over
sets of NFA states (subset construction on demand, at most MAX_SEARCH_SETS sets and
MAX_SEARCH_WORK states visited: the dev split's slowest schema now takes 0.2 s) finds the fewest
characters that reach acceptance. JSON Schema reads a pattern as a search (a match anywhere,
unless `^`/`$` anchor it), as llguidance does: an unanchored start re-enters the NFA at every
position, an unanchored end accepts everything after a match.

Lookarounds, backreferences and flags give None (no closing for that string), as do searches
over the budgets.
"""

from __future__ import annotations

import functools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import interegular
from interegular import patterns as ast

MAX_NFA_STATES = 20_000
MAX_SEARCH_SETS = 1_000
MAX_SEARCH_WORK = 200_000  # NFA states visited over a whole search (~0.1 s in CPython)
MAX_MOVES = 100_000  # remembered transitions of one pattern
RECENT = 64  # texts whose state set is remembered
RESUME = 64  # characters a text may have grown since one of those
ANY = -1  # an edge matching every character (the unanchored end)


class _TooBig(ValueError):
    """The NFA would exceed MAX_NFA_STATES."""


@dataclass
class _Nfa:
    """States 0..n-1; `eps[s]` epsilon targets, `edges[s]` (matcher, target) pairs."""

    eps: list[list[int]] = field(default_factory=list)
    edges: list[list[tuple[Any, int]]] = field(default_factory=list)

    def state(self) -> int:
        if len(self.eps) >= MAX_NFA_STATES:
            raise _TooBig
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1


@dataclass(frozen=True)
class Search:
    """A compiled pattern: NFA, start state, accepting state, anchors."""

    nfa: _Nfa
    start: int
    accept: int
    anchored_start: bool
    anchored_end: bool
    # the lazy DFA: state set and character to the next set (cleared past MAX_MOVES), and the
    # sets after recent texts (a closing is asked for after texts that grow a token at a time)
    _moves: dict[tuple[frozenset[int], str], frozenset[int]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _after: OrderedDict[str, frozenset[int]] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )

    def closure(self, states: set[int]) -> frozenset[int]:
        """`states` and all they reach by epsilon edges."""
        todo, seen = list(states), set(states)
        while todo:
            for nxt in self.nfa.eps[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def begin(self) -> frozenset[int]:
        """The state set before any character."""
        return self.closure({self.start})

    def step(self, states: frozenset[int], char: str) -> frozenset[int]:
        """The state set after `char` (empty: no match can go on), remembered."""
        key = (states, char)
        found = self._moves.get(key)
        if found is None:
            if len(self._moves) >= MAX_MOVES:
                self._moves.clear()
            found = self._moves[key] = self._step(states, char)
        return found

    def after(self, written: str) -> frozenset[int]:
        """The state set after `written`, resumed from the longest of the last RECENT texts
        that is `written` less at most RESUME characters."""
        states, done = self.begin(), 0
        for cut in range(min(len(written), RESUME) + 1):
            known = self._after.get(written[: len(written) - cut])
            if known is not None:
                states, done = known, len(written) - cut
                break
        for char in written[done:]:
            states = self.step(states, char)
            if not states:
                break
        self._after[written] = states
        self._after.move_to_end(written)
        while len(self._after) > RECENT:
            self._after.popitem(last=False)
        return states

    def _step(self, states: frozenset[int], char: str) -> frozenset[int]:
        nxt: set[int] = set()
        for state in states:
            for matcher, target in self.nfa.edges[state]:
                if matcher is ANY or _matches(matcher, char):
                    nxt.add(target)
        if not self.anchored_start:
            nxt.add(self.start)
        if not self.anchored_end and self.accept in states:
            nxt.add(self.accept)
        return self.closure(nxt) if nxt else frozenset()

    def accepting(self, states: frozenset[int]) -> bool:
        """Whether the text so far matches."""
        return self.accept in states


def _matches(matcher: Any, char: str) -> bool:
    if isinstance(matcher, ast._CharGroup):
        return (char in matcher.chars) != matcher.negated
    return char != "\n"  # the dot


@functools.lru_cache(maxsize=256)
def compile_search(pattern: str, *, whole: bool = False) -> Search | None:
    """The lazy search of `pattern` (as JSON Schema reads it, or a match of the `whole` text as
    a regex constraint is), or None when it uses what this module does not follow."""
    body, anchored_start, anchored_end = pattern, whole, whole
    if body.startswith("^"):  # under `whole` an anchor changes nothing
        body, anchored_start = body[1:], True
    if body.endswith("$") and not body.endswith("\\$"):
        body, anchored_end = body[:-1], True
    try:
        tree = interegular.parse_pattern(body)
        nfa = _Nfa()
        start, accept = _build(nfa, tree)
    except Exception:  # interegular raises many types for syntax it does not support
        return None
    return Search(nfa, start, accept, anchored_start, anchored_end)


def _build(nfa: _Nfa, node: Any) -> tuple[int, int]:
    """A fragment for `node`: (entry, exit) states."""
    if isinstance(node, ast.Pattern):
        if node.added_flags or node.removed_flags:
            raise ValueError("flags")
        return _alternation(nfa, node.options)
    if isinstance(node, ast._Concatenation):
        return _concatenation(nfa, node.parts)
    if isinstance(node, ast._Repeated):
        return _repeated(nfa, node.base, node.min, node.max)
    entry, exit_ = nfa.state(), nfa.state()
    if isinstance(node, ast._CharGroup) or type(node).__name__.endswith("DotCls"):
        nfa.edges[entry].append((node, exit_))
    elif type(node).__name__.endswith("EmptyCls"):
        nfa.eps[entry].append(exit_)
    else:
        raise ValueError(f"unsupported {type(node).__name__}")  # lookarounds
    return entry, exit_


def _alternation(nfa: _Nfa, options: Any) -> tuple[int, int]:
    entry, exit_ = nfa.state(), nfa.state()
    for option in options:
        first, last = _build(nfa, option)
        nfa.eps[entry].append(first)
        nfa.eps[last].append(exit_)
    return entry, exit_


def _concatenation(nfa: _Nfa, parts: Any) -> tuple[int, int]:
    entry = current = nfa.state()
    for part in parts:
        first, last = _build(nfa, part)
        nfa.eps[current].append(first)
        current = last
    return entry, current


def _repeated(nfa: _Nfa, base: Any, low: int, high: int | None) -> tuple[int, int]:
    entry = current = nfa.state()
    for _ in range(low):
        first, last = _build(nfa, base)
        nfa.eps[current].append(first)
        current = last
    exit_ = nfa.state()
    nfa.eps[current].append(exit_)
    if high is None:  # a loop back through one more copy
        first, last = _build(nfa, base)
        nfa.eps[current].append(first)
        nfa.eps[last].append(current)
        return entry, exit_
    for _ in range(high - low):
        first, last = _build(nfa, base)
        nfa.eps[current].append(first)
        nfa.eps[last].append(exit_)
        current = last
    return entry, exit_


def shortest_end(
    search: Search, written: str, low: int, high: int | None, alphabet: str
) -> str | None:
    """The fewest characters of `alphabet` that, after `written`, make a match whose length is
    within [low, high]; None when there is none within the search budget."""
    states = search.after(written)
    if not states:
        return None
    return shortest_from(search, states, len(written), low, high, alphabet)


def shortest_from(
    search: Search, states: frozenset[int], size: int, low: int, high: int | None, alphabet: str
) -> str | None:
    """`shortest_end` from the state set after `size` characters."""
    seen = {(states, min(size, low))}
    queue: deque[tuple[frozenset[int], int, str]] = deque([(states, size, "")])
    work = 0
    while queue and len(seen) < MAX_SEARCH_SETS and work < MAX_SEARCH_WORK:
        states, size, added = queue.popleft()
        work += len(states) * len(alphabet)
        if search.accepting(states) and size >= low:
            return added
        if high is not None and size >= high:
            continue
        for char in alphabet:
            nxt = search.step(states, char)
            key = (nxt, min(size + 1, low))
            if nxt and key not in seen:
                seen.add(key)
                queue.append((nxt, size + 1, added + char))
    return None
