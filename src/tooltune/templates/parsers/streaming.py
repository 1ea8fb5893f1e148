"""Streaming: turn token-by-token text into OpenAI-style deltas, for every format alike.

Prose before the first call streams as it comes (holding back what might be the start of a call
marker, and trailing whitespace). A call is sent as OpenAI sends one: its index, id and name once
the name is complete and its arguments object has begun, then the arguments in pieces as they are
generated, rewritten as `json.dumps` writes them. So an assembled stream of well-formed calls
equals `parser.parse(text)`. A call whose arguments are a JSON string, or whose name comes after
them, is sent whole once it is complete.

The stream is the truth for whole answers too (the server assembles them from these deltas). A
call sent in part whose text then stops or goes wrong (max tokens, a broken object) stays in the
answer with the arguments generated so far, and `broken` is set.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from tooltune.conversation import new_call_id
from tooltune.templates.parsers.base import CallProgress, ToolParser, prose_outside, read_json
from tooltune.templates.parsers.partial_json import InvalidJson


@dataclass
class _SentCall:
    key: tuple[int, int]
    name: str
    arguments: str = ""
    closed: bool = False  # its arguments object has closed
    done: bool = False    # and its site has, and reads as calls


class StreamingParser:
    def __init__(self, parser: ToolParser, id_factory: Callable[[], str] = new_call_id):
        self.parser, self.id_factory = parser, id_factory
        self.text = ""
        self.content_sent = ""
        self.sent: list[_SentCall] = []
        self.in_calls = False
        self.broken = False
        self.memo: dict = {}  # JSON readers by position: the text only grows

    def feed(self, piece: str) -> list[dict]:
        """Deltas made available by `piece`: dicts with "content" or "tool_calls"."""
        self.text += piece
        out: list[dict] = []
        if not self.in_calls:
            out += self._content_deltas()
        if self.in_calls or self.parser.may_start_with_call(self.text):
            progress = self.parser.scan(self.text, final=False, memo=self.memo)
            out += self._call_deltas(progress)
            self.in_calls = self.in_calls or bool(self.sent)
        return out

    def finish(self) -> list[dict]:
        """The remaining deltas once generation has ended."""
        progress = self.parser.scan(self.text, memo=self.memo)
        calls = self._call_deltas(progress)
        unfinished = [c for c in self.sent if not c.done]
        self.broken = bool(unfinished)
        # The prose: outside the calls sent, and before one left unfinished.
        cut = unfinished[0].key[0] if unfinished else len(self.text)
        done = {c.key for c in self.sent if c.done}
        spans = [p.span for p in progress if p.span and p.key in done and p.span[1] <= cut]
        if unfinished:
            spans.append((cut, len(self.text)))
        content = prose_outside(self.text, spans) or ""
        out: list[dict] = []
        if content.startswith(self.content_sent) and len(content) > len(self.content_sent):
            out.append({"content": content[len(self.content_sent):]})
            self.content_sent = content
        return out + calls

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

    def _call_deltas(self, progress: list[CallProgress]) -> list[dict]:
        out: list[dict] = []
        for i, p in enumerate(progress):
            name = p.call.name if p.call else p.name
            if i < len(self.sent):
                sent = self.sent[i]
                if sent.key != p.key or sent.name != name:
                    break  # the text reads differently now: what was sent stands
            elif p.call or (name and p.args_at is not None):
                sent = _SentCall(p.key, name)
                self.sent.append(sent)
                out.append({"tool_calls": [{"index": i, "id": self.id_factory(), "type": "function",
                                            "function": {"name": name, "arguments": ""}}]})
            else:
                break
            if not sent.done:
                more = self._more_arguments(sent, p)
                if more:
                    sent.arguments += more
                    out.append({"tool_calls": [{"index": i, "function": {"arguments": more}}]})
            if not (sent.done or sent.closed):
                break  # the call being generated is the last one there is
        return out

    def _more_arguments(self, sent: _SentCall, p: CallProgress) -> str:
        """The arguments' text beyond what was sent, as far as the text settles it."""
        if p.call is not None:
            sent.done = True
            whole = json.dumps(p.call.arguments, ensure_ascii=False)
            if whole.startswith(sent.arguments):
                return whole[len(sent.arguments):]
            # Sent in pieces that json.loads then read differently (a repeated key): finish the
            # pieces, which are valid JSON too.
        if p.args_at is None:
            return ""
        try:
            settled = read_json(self.text, p.args_at, self.memo)
        except InvalidJson:
            return ""
        sent.closed = settled.end is not None
        return settled.text[len(sent.arguments):] if settled.text.startswith(sent.arguments) else ""


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
