"""Hermes format: <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one block per call
(some models put a list of calls in one block)."""
from __future__ import annotations

from tooltune.templates.parsers.base import Site, ToolParser

OPEN, CLOSE = "<tool_call>", "</tool_call>"


class HermesParser(ToolParser):
    name = "hermes"
    start_markers = (OPEN,)

    def next_site(self, text: str, pos: int) -> Site | None:
        start = text.find(OPEN, pos)
        return Site(start, start + len(OPEN)) if start >= 0 else None

    def site_end(self, text: str, end: int) -> int:
        # A missing close tag is tolerated (generation stopped at it, or max tokens).
        rest = text[end:]
        stripped = rest.lstrip()
        return end + len(rest) - len(stripped) + len(CLOSE) if stripped.startswith(CLOSE) else end
