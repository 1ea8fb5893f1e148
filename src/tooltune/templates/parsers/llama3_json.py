"""Llama 3.x JSON format: the reply is one or more {"name": ..., "parameters": {...}} objects,
optionally after <|python_tag|>, separated by newlines or semicolons."""
from __future__ import annotations

from tooltune.templates.parsers.base import Site, ToolParser

TAG = "<|python_tag|>"


class Llama3JsonParser(ToolParser):
    name = "llama3_json"
    start_markers = (TAG, '{"name"', "{'name'")
    args_keys = ("parameters", "arguments")

    def may_start_with_call(self, text: str) -> bool:
        s = text.lstrip()
        return not s or s.startswith("{") or TAG.startswith(s) or s.startswith(TAG)

    def next_site(self, text: str, pos: int) -> Site | None:
        starts = [s for s in (text.find(TAG, pos), text.find('{"name"', pos)) if s >= 0]
        if not starts:
            return None
        start = min(starts)
        return Site(start, start + len(TAG) if text.startswith(TAG, start) else start)

    def site_end(self, text: str, end: int) -> int:
        while end < len(text) and text[end] in " \t;":
            end += 1
        return end
