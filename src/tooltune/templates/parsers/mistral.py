"""Mistral format: [TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]."""
from __future__ import annotations

from tooltune.templates.parsers.base import Site, ToolParser

TAG = "[TOOL_CALLS]"


class MistralParser(ToolParser):
    name = "mistral"
    start_markers = (TAG,)

    def next_site(self, text: str, pos: int) -> Site | None:
        start = text.find(TAG, pos)
        return Site(start, start + len(TAG)) if start >= 0 else None
