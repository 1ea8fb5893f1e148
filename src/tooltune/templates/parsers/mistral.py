"""Mistral format: [TOOL_CALLS] [{"name": ..., "arguments": {...}}, ...]."""
from __future__ import annotations

from tooltune.templates.parsers.base import ParsedCall, ToolParser, call_from_obj, decode_json_at

TAG = "[TOOL_CALLS]"


class MistralParser(ToolParser):
    name = "mistral"
    start_markers = (TAG,)

    def find_calls(self, text: str) -> list[tuple[int, int, ParsedCall]]:
        found, pos = [], 0
        while (start := text.find(TAG, pos)) >= 0:
            pos = start + len(TAG)
            decoded = decode_json_at(text, pos)
            if decoded is None:
                continue
            obj, end = decoded
            items = obj if isinstance(obj, list) else [obj]
            calls = [call_from_obj(c) for c in items]
            if not calls or any(c is None for c in calls):
                continue
            found.append((start, end, calls[0]))
            found.extend((end, end, c) for c in calls[1:])
            pos = end
        return found
