"""The tool-call parser interface, and the reading of calls that every format shares.

A format knows the markers that open calls (`start_markers`) and where, in generated text, calls
open (`next_site`): there, one call object or a list of them follows. `scan` reads those calls,
complete or still being generated, the same way for whole and streamed replies. Parsing is
tolerant (whitespace, prose around calls, several calls, empty arguments) and never loses text:
when nothing parses, the text comes back untouched.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from tooltune.conversation import new_call_id
from tooltune.templates.parsers.partial_json import InvalidJson, Rewriter, Rewritten, rewrite


@dataclass
class ParsedCall:
    name: str
    arguments: dict = field(default_factory=dict)

    def to_openai(self, call_id: str | None = None) -> dict:
        return {"id": call_id or new_call_id(), "type": "function",
                "function": {"name": self.name,
                             "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


@dataclass
class ParseResult:
    content: str | None
    calls: list[ParsedCall]


@dataclass
class Site:
    """A place where generated text opens calls."""
    start: int                # the marker's first character (or the bare JSON's)
    body: int                 # where the JSON begins
    name: str | None = None   # GLM-4: the name comes first, and the JSON is the arguments


@dataclass
class CallProgress:
    """One call as the text so far shows it."""
    key: tuple[int, int]                 # (its site's start, its place in the site): stays as text grows
    name: str | None = None              # once its name is complete
    args_at: int | None = None           # where its arguments object starts, once it has started
    call: ParsedCall | None = None       # once the whole site is complete and reads as calls
    span: tuple[int, int] | None = None  # the text its site covers (on a site's first call)


class ToolParser:
    """One tool-call format. Subclasses set `name` and `start_markers` and implement `next_site`."""

    name = "base"
    start_markers: tuple[str, ...] = ()
    args_keys: tuple[str, ...] = ("arguments", "parameters")

    def next_site(self, text: str, pos: int) -> Site | None:
        """The first place at or after `pos` where calls open."""
        raise NotImplementedError

    def site_end(self, text: str, end: int) -> int:
        """Where a site that closed at `end` ends, with what trails a call in this format."""
        return end

    def may_start_with_call(self, text: str) -> bool:
        """Whether `text` (the reply so far) could still turn out to open with a bare call."""
        return False

    def scan(self, text: str, final: bool = True, memo: dict | None = None) -> list[CallProgress]:
        """Every call in `text`, in order. `final`: complete calls only; otherwise the last site
        may still be open, and its calls come last, as far as they have been generated. `memo`
        (kept by a caller whose text only grows) lets each JSON value be read once."""
        found: list[CallProgress] = []
        pos = 0
        while (site := self.next_site(text, pos)) is not None:
            calls, end = self._read_site(text, site, memo)
            if calls is None or (end is None and final):
                pos = site.start + 1  # not calls after all: look further on
                continue
            if end is None:
                return found + calls
            end = self.site_end(text, end)
            calls[0].span = (site.start, end)
            found += calls
            pos = end
        return found

    def parse(self, text: str) -> ParseResult:
        calls = self.scan(text)
        return ParseResult(prose_outside(text, [c.span for c in calls if c.span]),
                           [c.call for c in calls if c.call])

    def _read_site(self, text: str, site: Site, memo: dict | None) -> tuple[list[CallProgress] | None, int | None]:
        """The calls at a site (None if they are not calls) and where its JSON ends (None: open)."""
        try:
            value = read_json(text, site.body, memo)
        except InvalidJson:
            return None, None
        at = _skip_ws(text, site.body)
        if value.end is not None:
            obj = json.loads(text[at:value.end])
            if site.name is not None:
                if not isinstance(obj, dict):
                    return None, None
                return [CallProgress((site.start, 0), site.name, at, ParsedCall(site.name, obj))], value.end
            items = obj if isinstance(obj, list) else [obj]
            calls = [call_from_obj(c, self.args_keys) for c in items]
            if not calls or any(c is None for c in calls):
                return None, None
            starts = _item_starts(text, at, memo) if isinstance(obj, list) else [at]
            return [CallProgress((site.start, k), *_head(text, p, self.args_keys, memo), call=c)
                    for k, (p, c) in enumerate(zip(starts, calls))], value.end
        if site.name is not None:
            args_at = at if text[at:at + 1] == "{" else None
            return [CallProgress((site.start, 0), site.name, args_at)], None
        starts = _item_starts(text, at, memo) if text[at:at + 1] == "[" else [at]
        return [CallProgress((site.start, k), *_head(text, p, self.args_keys, memo))
                for k, p in enumerate(starts)], None


def prose_outside(text: str, spans: list[tuple[int, int]]) -> str | None:
    """The prose around calls; whitespace next to a call is layout, not prose."""
    if not spans:
        return text or None
    pieces, pos = [], 0
    for start, end in spans:
        pieces.append(text[pos:start])
        pos = end
    pieces.append(text[pos:])
    prose = [pieces[0].rstrip()] + [p.strip() for p in pieces[1:]]
    return "\n".join(p for p in prose if p) or None


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def read_json(text: str, pos: int, memo: dict | None) -> Rewritten:
    """`rewrite(text, pos)`, resumed from `memo` when there is one."""
    if memo is None:
        return rewrite(text, pos)
    reader = memo.get(pos) or memo.setdefault(pos, Rewriter(pos))
    return reader.read(text)


def _item_starts(text: str, at: int, memo: dict | None) -> list[int]:
    """Where the items of the (possibly open) JSON array at `at` start, as far as they have."""
    starts, pos = [], _skip_ws(text, at + 1)
    while pos < len(text) and text[pos] != "]":
        starts.append(pos)
        end = read_json(text, pos, memo).end
        if end is None:
            break
        pos = _skip_ws(text, end)
        if text[pos:pos + 1] != ",":
            break
        pos = _skip_ws(text, pos + 1)
    return starts


def _head(text: str, at: int, args_keys: tuple[str, ...], memo: dict | None) -> tuple[str | None, int | None]:
    """A call object's name and where its arguments object starts, read as far as `text` goes.
    Only a name written before an arguments object counts, so that the name can be sent first."""
    if text[at:at + 1] != "{":
        return None, None
    name, pos = None, at + 1
    while True:
        pos = _skip_ws(text, pos)
        if text[pos:pos + 1] == ",":
            pos = _skip_ws(text, pos + 1)
        if text[pos:pos + 1] != '"':
            return name, None
        key_end = read_json(text, pos, memo).end
        if key_end is None:
            return name, None
        key = json.loads(text[pos:key_end])
        pos = _skip_ws(text, key_end)
        if text[pos:pos + 1] != ":":
            return name, None
        pos = _skip_ws(text, pos + 1)
        if pos == len(text) or key == "function":  # the nested form waits for the whole call
            return None, None
        if key in args_keys:
            return (name, pos) if name and text[pos] == "{" else (None, None)
        end = read_json(text, pos, memo).end
        if end is None:
            return name, None
        if key == "name":
            value = json.loads(text[pos:end])
            name = value.strip() if isinstance(value, str) and value.strip() else None
        pos = end


def call_from_obj(obj: object, args_keys: tuple[str, ...] = ("arguments", "parameters")) -> ParsedCall | None:
    """A call from {"name": ..., "arguments": {...} or a JSON string}; None if it isn't one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"].strip():
        return None
    if isinstance(obj.get("function"), dict):  # OpenAI-shaped call echoed back
        return call_from_obj(obj["function"], args_keys)
    args = next((obj[k] for k in args_keys if k in obj), {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return ParsedCall(obj["name"].strip(), args)

