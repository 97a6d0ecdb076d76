"""Where a JSON document stands after a prefix of it: the open containers and the open value.

Schema-agnostic and incremental: `JsonPrefix.feed` takes the text an engine emitted since the
last call (any split, even inside an escape or a number), so a request's state costs O(new text)
per step. What it keeps is what a completion needs: for every open object, the keys written so
far and what it expects next; for every open array, how many items it holds; and the scalar
being written (a string with its raw text, a number, a literal). The schema walk that pairs each
open level with its subschema is `budget_close.closer`'s.

Whitespace between tokens is skipped (the engine's grammar writes compact JSON, but a looser one
still parses). Text that cannot continue a JSON document raises `PrefixError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum


class PrefixError(ValueError):
    """The text is not a prefix of any JSON document."""


class Expect(Enum):
    """What a container expects next."""

    KEY_OR_END = "key_or_end"  # after "{"
    KEY = "key"  # after "," in an object
    COLON = "colon"  # after a key
    VALUE = "value"  # after ":" or "," in an array
    VALUE_OR_END = "value_or_end"  # after "["
    COMMA_OR_END = "comma_or_end"  # after a complete member or item


@dataclass
class Container:
    """One open object or array."""

    is_object: bool
    expect: Expect
    keys: list[str] = field(default_factory=list)  # object: keys written, in order
    items: int = 0  # array: complete items (the one being written not counted)


@dataclass
class Scalar:
    """The scalar being written: its raw JSON text so far (strings without the opening quote)."""

    kind: str  # "string", "number" or "literal"
    raw: str = ""
    is_key: bool = False
    escape: str = ""  # inside a string: "" or the pending escape ("\\", "\\u", "\\u00", ...)


LITERALS = ("true", "false", "null")
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_WHITESPACE = frozenset(" \t\n\r")


@dataclass
class JsonPrefix:
    """The state of a JSON document after the text fed so far."""

    stack: list[Container] = field(default_factory=list)
    scalar: Scalar | None = None
    started: bool = False  # the root value has begun
    done: bool = False  # the root value is complete (only whitespace may follow)

    def feed(self, text: str) -> None:
        """Consume more of the document.

        Raises:
            PrefixError: the text cannot continue a JSON document from here.
        """
        for char in text:
            self._char(char)

    def copy(self) -> JsonPrefix:
        """An independent copy (what a look-ahead feeds without changing this state)."""
        stack = [Container(c.is_object, c.expect, list(c.keys), c.items) for c in self.stack]
        scalar = self.scalar
        if scalar is not None:
            scalar = Scalar(scalar.kind, scalar.raw, scalar.is_key, scalar.escape)
        return JsonPrefix(stack, scalar, self.started, self.done)

    def shape(self) -> object:
        """The structure a closing depends on besides the open scalar's text: depth, what the
        innermost container expects and holds, the open scalar's kind (changes when a key, a
        container or a value begins or ends)."""
        top = self.stack[-1] if self.stack else None
        scalar = self.scalar
        where = (top.expect, len(top.keys), top.items) if top is not None else None
        kind = (scalar.kind, scalar.is_key) if scalar is not None else None
        return (len(self.stack), where, kind)

    def value_complete(self) -> bool:
        """Whether the document so far is a whole JSON value (a number may still grow)."""
        scalar = self.scalar
        return self.done or (
            not self.stack
            and scalar is not None
            and scalar.kind == "number"
            and _is_number(scalar.raw)
        )

    # -- the state machine ------------------------------------------------------------------
    def _char(self, char: str) -> None:
        scalar = self.scalar
        if scalar is not None:
            if scalar.kind == "string":
                self._string_char(scalar, char)
                return
            if scalar.kind == "number" and char in _NUMBER_CHARS:
                scalar.raw += char
                return
            if scalar.kind == "literal":
                self._literal_char(scalar, char)
                return
            self._end_scalar()  # a number ends at the first character that is not part of it
        if char in _WHITESPACE:
            return
        if self.done:
            raise PrefixError(f"text after the document: {char!r}")
        top = self.stack[-1] if self.stack else None
        if top is None or top.expect in (Expect.VALUE, Expect.VALUE_OR_END):
            if top is not None and top.expect is Expect.VALUE_OR_END and char == "]":
                self._close(top, "]")
                return
            self._begin_value(char)
        else:
            self._punctuation(top, char)

    def _punctuation(self, top: Container, char: str) -> None:
        expect = top.expect
        if expect in (Expect.KEY, Expect.KEY_OR_END) and char == '"':
            self.scalar = Scalar("string", is_key=True)
        elif expect is Expect.KEY_OR_END and char == "}":
            self._close(top, "}")
        elif expect is Expect.COLON and char == ":":
            top.expect = Expect.VALUE
        elif expect is Expect.COMMA_OR_END and char == ",":
            top.expect = Expect.KEY if top.is_object else Expect.VALUE
        elif expect is Expect.COMMA_OR_END and char == ("}" if top.is_object else "]"):
            self._close(top, char)
        else:
            raise PrefixError(f"unexpected {char!r} where the document expects {expect.value}")

    def _begin_value(self, char: str) -> None:
        self.started = True
        if char == "{":
            self.stack.append(Container(True, Expect.KEY_OR_END))
        elif char == "[":
            self.stack.append(Container(False, Expect.VALUE_OR_END))
        elif char == '"':
            self.scalar = Scalar("string")
        elif char in "-0123456789":
            self.scalar = Scalar("number", char)
        elif char in "tfn":
            self.scalar = Scalar("literal", char)
        else:
            raise PrefixError(f"no JSON value starts with {char!r}")

    def _string_char(self, scalar: Scalar, char: str) -> None:
        if scalar.escape:
            scalar.escape += char
            if not _escape_prefix_ok(scalar.escape):
                raise PrefixError(f"bad escape {scalar.escape!r}")
            if scalar.escape == "\\u" or (len(scalar.escape) < 6 and scalar.escape[1] == "u"):
                return
            scalar.raw += scalar.escape
            scalar.escape = ""
        elif char == "\\":
            scalar.escape = "\\"
        elif char == '"':
            self._end_scalar()
        elif ord(char) < 0x20:
            raise PrefixError("a control character inside a string")
        else:
            scalar.raw += char

    def _literal_char(self, scalar: Scalar, char: str) -> None:
        text = scalar.raw + char
        if not any(lit.startswith(text) for lit in LITERALS):
            raise PrefixError(f"not a literal: {text!r}")
        scalar.raw = text
        if text in LITERALS:
            self._end_scalar()

    def _end_scalar(self) -> None:
        scalar = self.scalar
        assert scalar is not None
        if scalar.kind == "number" and not _is_number(scalar.raw):
            raise PrefixError(f"not a number: {scalar.raw!r}")
        self.scalar = None
        top = self.stack[-1] if self.stack else None
        if scalar.is_key:
            assert top is not None
            top.keys.append(json.loads(f'"{scalar.raw}"'))
            top.expect = Expect.COLON
        else:
            self._value_done()

    def _value_done(self) -> None:
        if not self.stack:
            self.done = True
            return
        top = self.stack[-1]
        if not top.is_object:
            top.items += 1
        top.expect = Expect.COMMA_OR_END

    def _close(self, top: Container, char: str) -> None:
        if top.is_object != (char == "}"):
            raise PrefixError(f"{char!r} closes the wrong container")
        self.stack.pop()
        self._value_done()


def _escape_prefix_ok(escape: str) -> bool:
    """Whether `escape` ("\\" plus what followed) can still be a JSON string escape."""
    if len(escape) == 2:
        return escape[1] in '"\\/bfnrtu'
    return (
        escape[1] == "u"
        and len(escape) <= 6
        and all(c in "0123456789abcdefABCDEF" for c in escape[2:])
    )


def _is_number(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return not text.startswith(("+", ".")) and text.lstrip("-")[:1].isdigit()
