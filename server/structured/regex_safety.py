"""Spot regexes that make backtracking matchers explode: an unbounded repeat of something that
can itself be a single unbounded repeat, e.g. `(a+)+`, `(\\w*\\s?)*`, `(x|y+)*`.

The decoding backend matches with automata and does not care, but the gateway's own validator
(Python `re`, as jsonschema uses it) would hang on such a pattern, so those are refused.
"""

from __future__ import annotations

import re
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


def is_valid(pattern: str) -> bool:
    """Whether Python's `re` parses the pattern."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True
