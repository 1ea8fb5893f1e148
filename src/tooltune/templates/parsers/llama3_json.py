"""Llama 3.x JSON format: the reply is one or more {"name": ..., "parameters": {...}} objects,
optionally after <|python_tag|>, separated by newlines or semicolons."""
from __future__ import annotations

from tooltune.templates.parsers.base import ParsedCall, ToolParser, call_from_obj, decode_json_at

TAG = "<|python_tag|>"


class Llama3JsonParser(ToolParser):
    name = "llama3_json"
    start_markers = (TAG, '{"name"', "{'name'")

    def may_start_with_call(self, text: str) -> bool:
        s = text.lstrip()
        return not s or s.startswith("{") or TAG.startswith(s) or s.startswith(TAG)

    def find_calls(self, text: str) -> list[tuple[int, int, ParsedCall]]:
        found, pos = [], 0
        while True:
            tag = text.find(TAG, pos)
            brace = text.find('{"name"', pos)
            starts = [s for s in (tag, brace) if s >= 0]
            if not starts:
                return found
            start = min(starts)
            body = start + len(TAG) if start == tag else start
            decoded = decode_json_at(text, body)
            if decoded is None:
                pos = body + 1
                continue
            obj, end = decoded
            call = call_from_obj(obj, ("parameters", "arguments"))
            if call is None:
                pos = body + 1
                continue
            while end < len(text) and text[end] in " \t;":
                end += 1
            found.append((start, end, call))
            pos = end
