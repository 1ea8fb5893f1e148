"""Streaming: turn token-by-token text into OpenAI-style deltas, for every format alike.

Prose before the first call streams as it comes (holding back what might be the start of a call
marker, and trailing whitespace). A call is sent once its JSON has closed: first its index, id and
name, then its arguments. When generation ends, the one-shot parse of the whole text decides the
rest, so an assembled stream always equals `parser.parse(text)`.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from tooltune.templates.parsers.base import ParsedCall, ToolParser, new_call_id


class StreamingParser:
    def __init__(self, parser: ToolParser, id_factory: Callable[[], str] = new_call_id):
        self.parser, self.id_factory = parser, id_factory
        self.text = ""
        self.content_sent = ""
        self.calls_sent: list[ParsedCall] = []
        self.call_ids: list[str] = []
        self.in_calls = False

    def feed(self, piece: str) -> list[dict]:
        """Deltas made available by `piece`: dicts with "content" or "tool_calls"."""
        self.text += piece
        out: list[dict] = []
        if not self.in_calls:
            out += self._content_deltas()
        if self.in_calls or self.parser.may_start_with_call(self.text):
            found = self.parser.find_calls(self.text)
            self.in_calls = self.in_calls or bool(found)
            out += self._call_deltas([c for _, _, c in found])
        return out

    def finish(self) -> list[dict]:
        """The remaining deltas once generation has ended."""
        result = self.parser.parse(self.text)
        out: list[dict] = []
        content = result.content or ""
        if content.startswith(self.content_sent) and len(content) > len(self.content_sent):
            out.append({"content": content[len(self.content_sent):]})
            self.content_sent = content
        out += self._call_deltas(result.calls)
        return out

    def _content_deltas(self) -> list[dict]:
        text, markers = self.text, self.parser.start_markers
        if self.parser.may_start_with_call(text):
            return []  # the reply may be a bare call (Llama 3 JSON, GLM-4): wait and see
        hits = [i for i in (text.find(m) for m in markers) if i >= 0]
        if hits:
            self.in_calls, safe = True, min(hits)
        else:
            # Hold back a tail that could be the beginning of a marker.
            hold = max((k for m in markers for k in range(1, len(m)) if text.endswith(m[:k])), default=0)
            safe = len(text) - hold
        safe_text = text[:safe].rstrip()
        if len(safe_text) > len(self.content_sent):
            delta = safe_text[len(self.content_sent):]
            self.content_sent = safe_text
            return [{"content": delta}]
        return []

    def _call_deltas(self, calls: list[ParsedCall]) -> list[dict]:
        out = []
        for call in calls[len(self.calls_sent):]:
            index, call_id = len(self.calls_sent), self.id_factory()
            out.append({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                        "function": {"name": call.name, "arguments": ""}}]})
            out.append({"tool_calls": [{"index": index, "function": {
                "arguments": json.dumps(call.arguments, ensure_ascii=False)}}]})
            self.calls_sent.append(call)
            self.call_ids.append(call_id)
        return out


def merge_call_delta(calls: dict[int, dict], tc: dict) -> dict:
    """Fold one tool-call delta into `calls` (by index), as an OpenAI client does; returns its slot."""
    slot = calls.setdefault(tc["index"], {"id": None, "name": "", "arguments": ""})
    slot["id"] = tc.get("id") or slot["id"]
    fn = tc.get("function") or {}
    slot["name"] += fn.get("name") or ""
    slot["arguments"] += fn.get("arguments") or ""
    return slot


def assemble(deltas: list[dict]) -> tuple[str | None, list[dict]]:
    """Put streamed deltas back together the way an OpenAI client does."""
    content, calls = "", {}
    for d in deltas:
        content += d.get("content") or ""
        for tc in d.get("tool_calls") or []:
            merge_call_delta(calls, tc)
    return content or None, [calls[i] for i in sorted(calls)]
