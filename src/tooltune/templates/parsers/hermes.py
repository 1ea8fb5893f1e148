"""Hermes format: <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one block per call."""
from __future__ import annotations

from tooltune.templates.parsers.base import ParsedCall, ToolParser, call_from_obj, decode_json_at

OPEN, CLOSE = "<tool_call>", "</tool_call>"


class HermesParser(ToolParser):
    name = "hermes"
    start_markers = (OPEN,)

    def find_calls(self, text: str) -> list[tuple[int, int, ParsedCall]]:
        found, pos = [], 0
        while (start := text.find(OPEN, pos)) >= 0:
            decoded = decode_json_at(text, start + len(OPEN))
            pos = start + len(OPEN)
            if decoded is None:
                continue
            obj, end = decoded
            calls = obj if isinstance(obj, list) else [obj]  # some models put a list in one block
            parsed = [call_from_obj(c) for c in calls]
            if not parsed or any(p is None for p in parsed):
                continue
            # A missing close tag is tolerated (generation stopped at it, or max tokens).
            rest = text[end:]
            stripped = rest.lstrip()
            if stripped.startswith(CLOSE):
                end += len(rest) - len(stripped) + len(CLOSE)
            found.append((start, end, parsed[0]))
            found.extend((end, end, p) for p in parsed[1:])  # a list in one block: one span
            pos = end
        return found
