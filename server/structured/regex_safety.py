"""Spot regexes that make backtracking matchers explode: an unbounded repeat of something that
can itself be a single unbounded repeat, e.g. `(a+)+`, `(\\w*\\s?)*`, `(x|y+)*`.

The decoding backend matches with automata and does not care, but the gateway's own validator
(Python `re`, as jsonschema uses it) would hang on such a pattern, so those are refused.
"""

from __future__ import annotations

from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", C.MAX_REPEAT)}


def nested_quantifier(pattern: str) -> str | None:
    """Return a description of the first nested unbounded quantifier, or None.

    Args:
        pattern: a regular expression (Python syntax, which JSON Schema's ECMA subset parses as).

    Returns:
        The offending sub-expression's description, or None when the pattern is safe.

    Raises:
        re.error: when the pattern does not parse.
    """
    return _scan(list(P.parse(pattern)))


def _scan(items: list[tuple[Any, Any]]) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            low, high, sub = av
            if high == C.MAXREPEAT and _is_unbounded_core(list(sub)):
                return f"unbounded repeat {{{low},}} of an unbounded repeat"
            if high == C.MAXREPEAT and _ambiguous_branch(list(sub), _first(list(sub))):
                return f"unbounded repeat {{{low},}} of overlapping alternatives"
            found = _scan(list(sub))
        elif op == C.SUBPATTERN:
            found = _scan(list(av[-1]))
        elif op == C.BRANCH:
            found = next((hit for branch in av[1] if (hit := _scan(list(branch)))), None)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            found = _scan(list(av[1]))
        else:
            found = None
        if found:
            return found
    return None


def _is_unbounded_core(items: list[tuple[Any, Any]]) -> bool:
    """True when the sequence can reduce to one unbounded repeat (everything else optional)."""
    for index, (op, av) in enumerate(items):
        others = items[:index] + items[index + 1 :]
        if any(_min_width(other) > 0 for other in others):
            continue
        if op in _REPEATS and av[1] == C.MAXREPEAT:
            return True
        if op == C.SUBPATTERN and _is_unbounded_core(list(av[-1])):
            return True
        if op == C.BRANCH and any(_is_unbounded_core(list(b)) for b in av[1]):
            return True
    return False


_ANY: list[tuple[int, int]] = [(0, 0x10FFFF)]


def _first(items: list[tuple[Any, Any]]) -> list[tuple[int, int]]:
    """Code-point ranges a sequence can start with (over-approximated; [] when it can only be
    empty). Anything but literals and plain sets counts as any character."""
    for op, av in items:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        if op == C.LITERAL:
            return [(av, av)]
        if op == C.ANY:
            return [(0, 9), (11, 0x10FFFF)]  # any character but a newline
        if op == C.IN and all(o in (C.LITERAL, C.RANGE) for o, _ in av):
            return [(v, v) if o == C.LITERAL else (v[0], v[1]) for o, v in av]
        if op == C.SUBPATTERN:
            inner = _first(list(av[-1]))
            return inner if inner and _min_width((op, av)) > 0 else _ANY
        return _ANY
    return []


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


def _literal(items: list[tuple[Any, Any]]) -> str | None:
    if all(op == C.LITERAL for op, _ in items):
        return "".join(chr(av) for _, av in items)
    return None


Alternative = tuple[list[tuple[Any, Any]], list[tuple[int, int]]]  # (items, first characters)


def _alike(x: Alternative, y: Alternative) -> bool:
    """Two alternatives may match the same text: literals when one is a prefix of the other,
    anything else when their first characters overlap."""
    a, b = _literal(x[0]), _literal(y[0])
    if a is not None and b is not None:
        return a.startswith(b) or b.startswith(a)
    return _overlap(x[1], y[1])


def _ambiguous_branch(items: list[tuple[Any, Any]], body_first: list[tuple[int, int]]) -> bool:
    """True when a repeated body holds an alternation a string can take two ways: alternatives
    starting alike (`(ab|ac)*`), two empty ones (`(a|a)*`), or an empty one next to one that
    starts like the body itself (`(a|aa)*`, which parses as `a(?:|a)`)."""
    for op, av in items:
        if op == C.SUBPATTERN and _ambiguous_branch(list(av[-1]), body_first):
            return True
        if op != C.BRANCH:
            continue
        branches = [list(branch) for branch in av[1]]
        firsts = [_first(branch) for branch in branches]
        empty = sum(1 for f in firsts if not f)
        filled = [(b, f) for b, f in zip(branches, firsts, strict=True) if f]
        pairs = [(x, y) for i, x in enumerate(filled) for y in filled[i + 1 :]]
        if empty > 1 or any(_alike(x, y) for x, y in pairs):
            return True
        if empty and any(_overlap(f, body_first) for _, f in filled):
            return True
    return False


def _min_width(item: tuple[Any, Any]) -> int:
    op, av = item
    if op in _REPEATS:
        return int(av[0]) * sum(_min_width(sub) for sub in av[2])
    if op == C.SUBPATTERN:
        return sum(_min_width(sub) for sub in av[-1])
    if op == C.BRANCH:
        return min(sum(_min_width(sub) for sub in branch) for branch in av[1])
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT, C.GROUPREF):
        return 0
    return 1


def expanded_size(pattern: str, *, cap: int = 10**9) -> int:
    """Size of the regex with every counted repeat written out (`(a{1000}){1000}` is 10^6).

    An automaton-based backend builds states in proportion to this; beyond its own limits it
    fails lazily, mid-generation. Unbounded repeats count as their minimum plus one copy.

    Args:
        pattern: a regular expression (Python syntax).
        cap: stop counting beyond this (the result is then at least `cap`).

    Raises:
        re.error: when the pattern does not parse.
    """
    return min(_size(list(P.parse(pattern)), cap), cap)


def _size(items: list[tuple[Any, Any]], cap: int) -> int:
    total = 0
    for op, av in items:
        if op in _REPEATS:
            low, high, sub = av
            copies = low + 1 if high == C.MAXREPEAT else high
            total += max(copies, 1) * _size(list(sub), cap)
        elif op == C.SUBPATTERN:
            total += _size(list(av[-1]), cap)
        elif op == C.BRANCH:
            total += sum(_size(list(branch), cap) for branch in av[1])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            total += _size(list(av[1]), cap)
        else:
            total += 1
        if total >= cap:
            return cap
    return total
