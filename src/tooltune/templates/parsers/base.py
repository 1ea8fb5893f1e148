"""The tool-call parser interface, and one streaming driver shared by every format.

A format knows where calls start in generated text (`start_markers`) and how to read calls out
of finished text (`parse`). Parsing is tolerant (whitespace, prose around calls, several calls,
empty arguments) and never loses text: when nothing parses, the text comes back untouched.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field


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


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class ToolParser:
    """One tool-call format. Subclasses set `name`, `start_markers` and implement `find_calls`."""

    name = "base"
    start_markers: tuple[str, ...] = ()

    def find_calls(self, text: str) -> list[tuple[int, int, ParsedCall]]:
        """Every well-formed call in `text` as (start, end, call), in order."""
        raise NotImplementedError

    def may_start_with_call(self, text: str) -> bool:
        """Whether `text` (the reply so far) could still turn out to open with a bare call."""
        return False

    def parse(self, text: str) -> ParseResult:
        calls = self.find_calls(text)
        if not calls:
            return ParseResult(text or None, [])
        # Content: the prose outside the calls; whitespace around the calls is layout, not prose.
        pieces, pos = [], 0
        for start, end, _ in calls:
            pieces.append(text[pos:start])
            pos = end
        pieces.append(text[pos:])
        prose = [pieces[0].rstrip()] + [p.strip() for p in pieces[1:]]
        content = "\n".join(p for p in prose if p)
        return ParseResult(content or None, [c for _, _, c in calls])


def decode_json_at(text: str, pos: int) -> tuple[object, int] | None:
    """The JSON value starting at `pos` (after whitespace) and where it ends, or None."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    try:
        return json.JSONDecoder().raw_decode(text, pos)
    except json.JSONDecodeError:
        return None


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

