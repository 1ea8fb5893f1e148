"""Read a JSON value that is still being generated, and rewrite it as json.dumps would.

`rewrite(text, pos)` (or a `Rewriter` kept while the text grows) returns how much of
`json.dumps(json.loads(value), ensure_ascii=False)` the text so far settles, and where the value
ends once it has. The settled part only ever grows as text is appended, so a stream can send it
piece by piece: strings as their characters arrive, numbers and literals once something follows
them (`12` may become `123`). Text that cannot become JSON raises `InvalidJson`, by the same rules
as `json.loads` (control characters in strings, NaN and Infinity allowed).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

_WS = " \t\n\r"
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_GROWING_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d*)?(?:[eE][-+]?\d*)?")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPE_END = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?")
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")


class InvalidJson(ValueError):
    pass


@dataclass
class Rewritten:
    text: str           # the settled part of the normalized value
    end: int | None     # where the value ends in the input, once it has


def rewrite(text: str, pos: int) -> Rewritten:
    """The normalized value starting at `pos` (after whitespace), as far as `text` settles it."""
    return Rewriter(pos).read(text)


class Rewriter:
    """`rewrite` for text that only grows: each `read` goes on from the last settled token, so
    following a value as it is generated costs its length once, not once per token."""

    def __init__(self, pos: int):
        self.i = pos
        self.out: list[str] = []
        self.stack: list[str] = []   # open containers, "{" or "["
        self.expect = "value"        # value | key | colon | comma (comma also takes the closer)
        self.first = False           # just after an opener: a closer may come instead
        self.end: int | None = None

    def read(self, text: str) -> Rewritten:
        n = len(text)
        while self.end is None:
            i = self.i
            while i < n and text[i] in _WS:
                i += 1
            self.i = i
            if i == n:
                break
            ch, stack = text[i], self.stack
            if self.expect == "comma" or (self.first and ch in "}]"):
                closer = "}" if stack[-1] == "{" else "]"
                if ch == closer:
                    stack.pop()
                    self._settle(ch, i + 1, "comma")
                elif ch == "," and self.expect == "comma":
                    self._settle(", ", i + 1, "key" if stack[-1] == "{" else "value")
                else:
                    raise InvalidJson(f"unexpected {ch!r} at {i}")
                continue
            if self.expect == "colon":
                if ch != ":":
                    raise InvalidJson(f"expected ':' at {i}")
                self._settle(": ", i + 1, "value")
                continue
            if self.expect == "key" and ch != '"':
                raise InvalidJson(f"expected a key at {i}")
            if ch in "{[":
                stack.append(ch)
                self._settle(ch, i + 1, "key" if ch == "{" else "value")
                self.first = True
                continue
            piece, end = _string(text, i) if ch == '"' else _scalar(text, i)
            if end is None:  # a token still being written: sent as far as it goes, read again next time
                return Rewritten("".join(self.out) + piece, None)
            self._settle(piece, end, "colon" if self.expect == "key" else "comma")
        return Rewritten("".join(self.out), self.end)

    def _settle(self, piece: str, i: int, expect: str) -> None:
        self.out.append(piece)
        self.i, self.expect, self.first = i, expect, False
        if not self.stack:
            self.end = i


def _string(text: str, start: int) -> tuple[str, int | None]:
    """A string at `start`: (its normalized form so far, its end or None while it is open)."""
    i, n = start + 1, len(text)
    high_surrogate_at = -1  # an escape that the next escape may pair with
    while i < n:
        plain = _PLAIN.match(text, i).end()
        if plain > i:
            i, high_surrogate_at = plain, -1
            continue
        ch = text[i]
        if ch == '"':
            return json.dumps(_decode(text[start:i + 1], start), ensure_ascii=False), i + 1
        if ch != "\\":
            raise InvalidJson(f"control character in a string at {i}")
        m = _ESCAPE_END.match(text, i)
        if m is None:
            if _PARTIAL_ESCAPE.fullmatch(text, i):
                break  # an escape still being written
            raise InvalidJson(f"bad escape at {i}")
        high_surrogate_at = i if _HIGH_SURROGATE.fullmatch(m.group()) else -1
        i = m.end()
    # Open: what is settled ends before a partial escape, or a high surrogate still unpaired.
    settled = text[start:high_surrogate_at if 0 <= high_surrogate_at == i - 6 else i]
    return json.dumps(_decode(settled + '"', start), ensure_ascii=False)[:-1], None


def _decode(literal: str, at: int) -> str:
    try:
        return json.loads(literal)
    except json.JSONDecodeError as e:
        raise InvalidJson(f"bad string at {at}: {e.msg}") from None


def _scalar(text: str, i: int) -> tuple[str, int | None]:
    """A number or literal at `i`: (normalized, end), or ("", None) until something follows it."""
    for lit in _LITERALS:
        if text.startswith(lit, i):
            return json.dumps(json.loads(lit)), i + len(lit)
    tail = text[i:] if len(text) - i < 10 else None
    if (tail and any(lit.startswith(tail) for lit in _LITERALS)) or _GROWING_NUMBER.fullmatch(text, i):
        return "", None  # may still grow: 12 -> 123, 1. -> 1.5, tr -> true
    m = _NUMBER.match(text, i)
    if m is None:
        raise InvalidJson(f"unexpected {text[i]!r} at {i}")
    return json.dumps(json.loads(m.group())), m.end()
