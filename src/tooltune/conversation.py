"""The internal conversation type: OpenAI-shaped messages.

An assistant turn may carry text *and* several tool calls; several tool results may follow in a
row, each naming its call by ``tool_call_id``. Everything (importers, templates, the trainer,
the evaluator, the server) speaks this shape, so nothing is lost translating between them.
Messages are plain dicts (what ``apply_chat_template`` and the OpenAI client take); these helpers
build and check them.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tooltune.errors import UserError

Message = dict[str, Any]
Tool = dict[str, Any]  # {"type": "function", "function": {"name", "description", "parameters"}}

ROLES = ("system", "user", "assistant", "tool")


class DataError(UserError, ValueError):
    """A row or file that cannot be used, with where and why."""

    def __init__(self, reason: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None):
        self.reason, self.file, self.row, self.field = reason, file, row, field
        where = ", ".join(p for p in (
            f"file {file}" if file else "",
            f"row {row}" if row is not None else "",
            f"field {field!r}" if field else "") if p)
        super().__init__(f"{where}: {reason}" if where else reason)


@dataclass
class Conversation:
    messages: list[Message]
    tools: list[Tool] = field(default_factory=list)
    # Side information (e.g. the synthetic row's kind and language); never rendered or exported.
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"messages": self.messages}
        if self.tools:
            out["tools"] = self.tools
        return out


def join_text_parts(texts: list[str]) -> str:
    """A message's text content parts as one string, the same on every path (a dataset row's
    list content and an API request's must render to the same tokens). Joined with a newline,
    as vLLM and the transformers chat templates that take parts do."""
    return "\n".join(texts)


def check_text(text: str, where: str) -> None:
    """Text a tokenizer can encode: a lone UTF-16 surrogate (from JSON like "\\ud800") would
    fail deep inside it with an error naming no field."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise DataError(f"text has a lone UTF-16 surrogate at character {e.start} "
                        f"({text[e.start]!r}); it is not valid Unicode", field=where) from None


def tool_call(name: str, arguments: dict | None = None, call_id: str | None = None) -> dict:
    """One OpenAI-style tool call; arguments kept as a dict internally (templates render them)."""
    call = {"type": "function", "function": {"name": name, "arguments": arguments or {}}}
    if call_id:
        call["id"] = call_id
    return call


# ---- call ids: the one scheme. `call_` and 24 hex digits, everywhere an id is made. Templates
# never render ids (the model never sees them), so they only need to be unique within a
# conversation, and reproducible where the rest is: by seed for data, by request for the API.

def new_call_id(key: str | None = None) -> str:
    """A fresh random id, or with `key` the id derived from it (the same key, the same id)."""
    digits = uuid.uuid4().hex if key is None else hashlib.sha256(key.encode()).hexdigest()
    return "call_" + digits[:24]


def call_id_factory(key: str) -> Callable[[], str]:
    """Ids for one reply's (or one row's) calls in order: derived from `key` and the call's index."""
    counter = itertools.count()
    return lambda: new_call_id(f"{key}:{next(counter)}")


def seeded_call_id(rng) -> str:
    """An id drawn from `rng` (a ``random.Random``), so synthesized rows are the same by seed."""
    return new_call_id("".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)))


def normalize_tool(tool: Any, where: str = "tools") -> Tool:
    """Accept a bare function schema or an OpenAI tool; return the OpenAI tool shape."""
    if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        fn = tool["function"]
    elif isinstance(tool, dict):
        fn = tool
    else:
        raise DataError(f"a tool must be an object, got {type(tool).__name__}", field=where)
    name = fn.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DataError("a tool has no function name", field=where)
    params = fn.get("parameters", {"type": "object", "properties": {}})
    if params is None:
        params = {"type": "object", "properties": {}}
    if not isinstance(params, dict) or ("type" in params and not isinstance(params["type"], (str, list))):
        raise DataError(f"tool {name!r}: parameters is not a JSON Schema object", field=where)
    out = {"name": name, "parameters": params}
    if fn.get("description") is not None:
        out = {"name": name, "description": fn["description"], "parameters": params}
    return {"type": "function", "function": out}


def parse_arguments(args: Any, where: str = "arguments") -> dict:
    """Tool-call arguments as a dict, from a dict or a JSON string."""
    if isinstance(args, dict):
        return args
    if args is None or (isinstance(args, str) and not args.strip()):
        return {}
    if isinstance(args, str):
        try:
            value = json.loads(args)
        except json.JSONDecodeError as e:
            raise DataError(f"tool-call arguments are not JSON ({e.msg})", field=where) from None
        if isinstance(value, dict):
            return value
    raise DataError("tool-call arguments must be a JSON object", field=where)


def validate_conversation(conv: Conversation) -> None:
    """Raise DataError for a conversation no template can render sensibly.

    Rules: roles known; at most one leading system message; the conversation ends with an
    assistant turn; every assistant turn has text or tool calls; every tool result answers a call
    made by the assistant turn before it; tool calls name a function (one of the row's tools when
    it offers any) and carry object arguments; text is valid Unicode. The conversation is not
    changed.
    """
    msgs = conv.messages
    if not msgs:
        raise DataError("conversation is empty")
    offered = {t["function"]["name"] for t in conv.tools}
    pending: list[str] = []  # call ids of the last assistant turn not yet answered
    prev = None
    for i, m in enumerate(msgs):
        role = m.get("role")
        where = f"messages[{i}]"
        if role not in ROLES:
            raise DataError(f"unknown role {role!r}", field=where)
        if role == "system" and i != 0:
            raise DataError("a system message may only come first", field=where)
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            raise DataError("content must be a string", field=where)
        check_text(content or "", where)
        calls = m.get("tool_calls") or []
        if role == "assistant":
            if not (content or "").strip() and not calls:
                raise DataError("assistant turn is empty", field=where)
            pending = []
            for j, c in enumerate(calls):
                fn = c.get("function") if isinstance(c, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                    raise DataError("tool call names no function", field=f"{where}.tool_calls[{j}]")
                if offered and fn["name"] not in offered:
                    raise DataError(f"the call names {fn['name']!r}, which is not among the row's tools "
                                    f"({', '.join(sorted(offered))})", field=f"{where}.tool_calls[{j}]")
                if not isinstance(fn.get("arguments"), dict):
                    raise DataError("tool-call arguments must be an object (parse them first)",
                                    field=f"{where}.tool_calls[{j}]")
                pending.append(c.get("id") or fn["name"])
        elif role == "tool":
            if prev not in ("assistant", "tool") or not pending:
                raise DataError("tool result without a preceding tool call", field=where)
            if not (content or "").strip():
                raise DataError("tool result is empty", field=where)
            pending.pop(0)
        else:  # user or system
            if role == "user" and not (content or "").strip():
                raise DataError("user turn is empty", field=where)
            if role == "user" and prev == "user":
                raise DataError("two user turns in a row", field=where)
            if role == "user" and prev == "assistant" and pending:
                raise DataError("tool calls were made but no tool result follows", field=where)
        prev = role
    if prev != "assistant":
        raise DataError(f"conversation must end with an assistant turn, ends with {prev!r}")
