"""Row converters: LLaMA-Factory alpaca / sharegpt rows and OpenAI message rows -> Conversation.

Every converter checks turn order itself so that its errors name the *source* field
(``conversations[3]``), then runs ``validate_conversation`` on the result. Turn order: an
optional system turn first; then a user turn; user and assistant alternate; a function call is
followed by its result(s), then the assistant speaks again; the row must end with an assistant
turn (a trailing user turn has nothing to train on, so the row is rejected, not trimmed).
Call ids are generated deterministically (``call_<row>_<k>``): the same file gives the same data.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tooltune.conversation import (
    Conversation, DataError, Message, Tool, check_text, join_text_parts, new_call_id, normalize_tool,
    parse_arguments, tool_call, validate_conversation,
)

# LLaMA-Factory's column defaults, plus `system`/`tools`/`history`, which are read only when
# the row has them (LF ignores them unless mapped; using them loses nothing).
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output",
                  "history": "history", "system": "system", "tools": "tools",
                  "chosen": "chosen", "rejected": "rejected"}
SHAREGPT_COLUMNS = {"messages": "conversations", "system": "system", "tools": "tools",
                    "chosen": "chosen", "rejected": "rejected"}
OPENAI_COLUMNS = {**SHAREGPT_COLUMNS, "messages": "messages"}
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt", "observation_tag": "observation",
                 "function_tag": "function_call", "system_tag": "system"}
OPENAI_TAGS = {**SHAREGPT_TAGS, "role_tag": "role", "content_tag": "content", "user_tag": "user",
               "assistant_tag": "assistant", "observation_tag": "tool"}
FORMATTINGS = ("alpaca", "sharegpt", "openai")
Call = tuple[str, dict, str | None]  # (function name, arguments, id or None to generate one)


def _text(value: Any, where: str, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # OpenAI content parts: only text is supported
        parts = []
        for p in value:
            if not (isinstance(p, dict) and p.get("type") == "text"
                    and isinstance(p.get("text"), str)):
                kind = p.get("type") if isinstance(p, dict) else type(p).__name__
                raise DataError(f"only text content is supported, got a {kind!r} part", field=where)
            parts.append(p["text"])
        value = join_text_parts(parts)
    if not isinstance(value, str):
        raise DataError(f"{what} must be a string, got {type(value).__name__}", field=where)
    check_text(value, where)
    return value


def _json_text(value: Any) -> str:
    """Tool results are strings; structured ones are serialised as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_tools(value: Any, where: str = "tools") -> list[Tool]:
    """A tools cell: a JSON string or a list of bare function schemas / OpenAI tools."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f"tools is not valid JSON ({e.msg} at char {e.pos})",
                            field=where) from None
    if not isinstance(value, list):
        raise DataError(f"tools must be a list of function schemas, got {type(value).__name__}",
                        field=where)
    return [normalize_tool(t, f"{where}[{k}]") for k, t in enumerate(value)]


def _system(row: Mapping, columns: Mapping) -> str:
    col = columns.get("system")
    if not col or row.get(col) is None:
        return ""
    return _text(row[col], col, "system").strip()


def _tools(row: Mapping, columns: Mapping) -> list[Tool]:
    col = columns.get("tools")
    return parse_tools(row.get(col), col) if col else []


def _role_at(turns: list, i: int, roles: Mapping[str, str], rt: str) -> str | None:
    """The canonical role of turns[i], None past the end or for odd turns (for look-ahead)."""
    t = turns[i] if i < len(turns) else None
    role = t.get(rt) if isinstance(t, dict) else None
    return roles.get(role) if isinstance(role, str) else None


def _turns(row: Mapping, col: str) -> list:
    if col not in row:
        raise DataError(f"missing column {col!r} (row keys: {sorted(row)})", field=col)
    turns = row[col]
    if isinstance(turns, str):  # csv cells hold nested data as JSON text
        try:
            turns = json.loads(turns)
        except json.JSONDecodeError:
            raise DataError(f"{col} is a string that is not JSON", field=col) from None
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{col} must be a non-empty list of turns", field=col)
    return turns


class _Builder:
    """Appends messages while enforcing turn order; `label` maps roles to source tag names."""

    def __init__(self, row_index: int, label: Mapping[str, str]):
        self.msgs: list[Message] = []
        self.pending: list[dict] = []  # calls of the last assistant turn not yet answered
        self.answered = 0
        self.row, self.label, self.ncalls = row_index, label, 0

    @property
    def prev(self) -> str | None:
        return self.msgs[-1]["role"] if self.msgs else None

    def system(self, text: str, where: str) -> None:
        if self.msgs:
            raise DataError(f"a {self.label['system']!r} turn may only come first", field=where)
        if text.strip():
            self.msgs.append({"role": "system", "content": text})

    def user(self, text: str, where: str) -> None:
        lab = self.label
        if not text.strip():
            raise DataError(f"empty {lab['user']!r} turn", field=where)
        if self.prev == "user":
            raise DataError(f"two {lab['user']!r} turns in a row", field=where)
        if self.pending and self.answered == 0:
            raise DataError(f"{lab['call']!r} is not followed by {lab['tool']!r}", field=where)
        if self.prev == "tool":
            raise DataError(f"{lab['user']!r} right after {lab['tool']!r}: the assistant must "
                            f"answer the tool result first", field=where)
        self.msgs.append({"role": "user", "content": text})

    def assistant(self, text: str, calls: list[Call], where: str) -> None:
        lab = self.label
        if self.prev in (None, "system"):
            raise DataError(f"the conversation starts with an assistant turn; the first turn "
                            f"must be {lab['user']!r}", field=where)
        if self.prev == "assistant":
            if self.pending:
                raise DataError(f"{lab['call']!r} is not followed by {lab['tool']!r}", field=where)
            raise DataError(f"two {lab['assistant']!r} turns in a row", field=where)
        if not text.strip() and not calls:
            raise DataError(f"empty {lab['assistant']!r} turn", field=where)
        msg: Message = {"role": "assistant", "content": text}
        if calls:
            msg["tool_calls"] = []
            for name, args, cid in calls:
                cid = cid or new_call_id(f"row {self.row}:{self.ncalls}")
                msg["tool_calls"].append(tool_call(name, args, cid))
                self.ncalls += 1
        self.pending, self.answered = list(msg.get("tool_calls", [])), 0
        self.msgs.append(msg)

    def tool(self, content: str, where: str, call_id: str | None = None,
             name: str | None = None) -> None:
        lab = self.label
        if not self.pending:
            why = (f"more {lab['tool']!r} results than calls in the preceding {lab['call']!r}"
                   if self.prev == "tool"
                   else f"{lab['tool']!r} without a preceding {lab['call']!r}")
            raise DataError(why, field=where)
        if not content.strip():
            raise DataError(f"empty {lab['tool']!r} turn", field=where)
        if call_id is not None:
            match = [c for c in self.pending if c.get("id") == call_id]
            if not match:
                raise DataError(f"tool_call_id {call_id!r} answers no pending call", field=where)
        else:  # legacy results name the function; fall back to call order
            match = [c for c in self.pending if c["function"]["name"] == name] or self.pending
        call = match[0]
        self.pending.remove(call)
        self.answered += 1
        self.msgs.append({"role": "tool", "tool_call_id": call["id"],
                          "name": call["function"]["name"], "content": content})

    def finish(self, tools: list[Tool], last: str) -> Conversation:
        if self.prev != "assistant":
            what = {"user": f"{self.label['user']!r} (nothing to train on)",
                    "tool": f"{self.label['tool']!r} (the assistant never answers it)",
                    }.get(self.prev or "", "no assistant turn")
            raise DataError(f"the conversation ends with {what}", field=last)
        conv = Conversation(messages=self.msgs, tools=tools)
        validate_conversation(conv)
        return conv


def _parse_calls(value: Any, where: str, tag: str) -> list[Call]:
    """A function_call value: {"name", "arguments"} JSON, or a JSON list of them (parallel)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(f"{tag!r} value is not JSON ({e.msg} at char {e.pos})",
                            field=where) from None
    items = value if isinstance(value, list) else [value]
    if not items:
        raise DataError(f"{tag!r} value is an empty list", field=where)
    calls: list[Call] = []
    for item in items:
        if not isinstance(item, dict):
            raise DataError(f"{tag!r} value must be an object with a name", field=where)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{tag!r} names no function", field=where)
        args = item["arguments"] if "arguments" in item else item.get("parameters")
        try:
            calls.append((name, parse_arguments(args, where), None))
        except DataError as e:
            raise DataError(f"{tag!r} {name!r}: {e.reason}", field=where) from None
    return calls


def from_sharegpt(row: Mapping, columns: Mapping[str, str] | None = None,
                  tags: Mapping[str, str] | None = None, *, row_index: int = 0) -> Conversation:
    """A LLaMA-Factory sharegpt row; a text turn right before a function_call is merged into it."""
    columns = {**SHAREGPT_COLUMNS, **(columns or {})}
    tags = {**SHAREGPT_TAGS, **(tags or {})}
    col = columns["messages"]
    turns = _turns(row, col)
    rt, ct = tags["role_tag"], tags["content_tag"]
    roles = {tags["user_tag"]: "user", tags["assistant_tag"]: "assistant",
             tags["observation_tag"]: "observation", tags["function_tag"]: "function",
             tags["system_tag"]: "system"}
    # OpenAI-shaped turns (tool_calls / tool role) under sharegpt tags: LF would drop the calls.
    if any(isinstance(t, dict) and ("tool_calls" in t or (t.get(rt) in ("tool", "function")
           and t.get(rt) not in roles)) for t in turns):
        return from_openai(row, columns, tags, row_index=row_index)
    b = _Builder(row_index, {"user": tags["user_tag"], "assistant": tags["assistant_tag"],
                             "tool": tags["observation_tag"], "call": tags["function_tag"],
                             "system": tags["system_tag"]})
    system = _system(row, columns)
    i = 0
    while i < len(turns):
        turn, where = turns[i], f"{col}[{i}]"
        if not isinstance(turn, dict) or rt not in turn or ct not in turn:
            raise DataError(f"a turn must be an object with {rt!r} and {ct!r}", field=where)
        role = roles.get(turn[rt])
        if role is None:
            raise DataError(f"unknown role {turn[rt]!r} (expected one of {sorted(roles)})",
                            field=where)
        value = turn[ct]
        if role == "system":
            if i:
                raise DataError(f"a {tags['system_tag']!r} turn may only come first", field=where)
            system = _text(value, where, "content")  # like LF: the turn overrides the column
        elif role == "user":
            if not b.msgs:
                b.system(system, col)
            b.user(_text(value, where, "content"), where)
        elif role == "assistant":
            text = _text(value, where, "content")
            if _role_at(turns, i + 1, roles, rt) == "function":
                i += 1  # merge: assistant text + the call(s) in one turn
                calls = _parse_calls(turns[i].get(ct), f"{col}[{i}]", tags["function_tag"])
                b.assistant(text, calls, where)
            else:
                b.assistant(text, [], where)
        elif role == "function":
            b.assistant("", _parse_calls(value, where, tags["function_tag"]), where)
        else:  # observation
            n = len(b.pending)
            more = _role_at(turns, i + 1, roles, rt) == "observation"
            if n > 1 and b.prev == "assistant" and not more:
                try:  # one observation holding a list of n results answers the n parallel calls
                    parsed = json.loads(value) if isinstance(value, str) else value
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, list) and len(parsed) == n:
                    for part in parsed:
                        b.tool(_json_text(part), where)
                    i += 1
                    continue
            b.tool(_json_text(value) if value is not None else "", where)
        i += 1
    if not b.msgs:
        raise DataError("the conversation has no user turn", field=col)
    return b.finish(_tools(row, columns), f"{col}[{len(turns) - 1}]")


def _openai_calls(msg: Mapping, where: str) -> list[Call]:
    raw = msg.get("tool_calls") or []
    if msg.get("function_call"):  # pre-tools OpenAI API: one call per message
        raw = [*raw, {"function": msg["function_call"]}]
    if not isinstance(raw, list):
        raise DataError("tool_calls must be a list", field=where)
    calls: list[Call] = []
    for k, c in enumerate(raw):
        w = f"{where}.tool_calls[{k}]"
        fn = c.get("function", c) if isinstance(c, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(fn, dict) or not isinstance(name, str) or not name.strip():
            raise DataError("tool call names no function", field=w)
        cid = c.get("id") if isinstance(c.get("id"), str) and c.get("id") else None
        calls.append((fn["name"], parse_arguments(fn.get("arguments"), w), cid))
    return calls


def from_openai(row: Mapping, columns: Mapping[str, str] | None = None,
                tags: Mapping[str, str] | None = None, *, row_index: int = 0) -> Conversation:
    """OpenAI chat rows (`messages` + `tools`); roles may be renamed through LF-style tags."""
    columns = {**OPENAI_COLUMNS, **(columns or {})}
    tags = {**OPENAI_TAGS, **(tags or {})}
    col, rt, ct = columns["messages"], tags["role_tag"], tags["content_tag"]
    turns = _turns(row, col)
    roles = {"user": "user", "assistant": "assistant", "system": "system", "tool": "tool",
             "function": "function", tags["user_tag"]: "user", tags["assistant_tag"]: "assistant",
             tags["system_tag"]: "system", tags["observation_tag"]: "tool"}
    b = _Builder(row_index, {"user": tags["user_tag"], "assistant": tags["assistant_tag"],
                             "tool": "tool", "call": "tool_calls", "system": tags["system_tag"]})
    system = _system(row, columns)
    i = 0
    while i < len(turns):
        m, where = turns[i], f"{col}[{i}]"
        if not isinstance(m, dict) or rt not in m:
            raise DataError(f"a message must be an object with {rt!r}", field=where)
        role = roles.get(m[rt])
        if role is None:
            raise DataError(f"unknown role {m[rt]!r}", field=where)
        if role == "system":
            if i:
                raise DataError("a system message may only come first", field=where)
            system = _text(m.get(ct), where, "content")
        elif role == "user":
            if not b.msgs:
                b.system(system, col)
            b.user(_text(m.get(ct), where, "content"), where)
        elif role == "assistant":
            text, calls = _text(m.get(ct), where, "content"), _openai_calls(m, where)
            nxt = turns[i + 1] if _role_at(turns, i + 1, roles, rt) == "assistant" else {}
            if (not calls and (nxt.get("tool_calls") or nxt.get("function_call"))
                    and not _text(nxt.get(ct), f"{col}[{i + 1}]", "content").strip()):
                i += 1  # text message then a bare tool-call message: one assistant turn
                calls = _openai_calls(nxt, f"{col}[{i}]")
            b.assistant(text, calls, where)
        else:  # tool, or legacy `function` result naming the function instead of a call id
            cid = m.get("tool_call_id") if role == "tool" else None
            content = m.get(ct)
            if isinstance(content, dict):
                content = _json_text(content)
            b.tool(_text(content, where, "content"), where, call_id=cid or None, name=m.get("name"))
        i += 1
    if not b.msgs:
        raise DataError("the conversation has no user message", field=col)
    return b.finish(_tools(row, columns), f"{col}[{len(turns) - 1}]")


def from_alpaca(row: Mapping, columns: Mapping[str, str] | None = None, *,
                row_index: int = 0) -> Conversation:
    """instruction + "\\n" + input as the user turn, output as the answer, history pairs before."""
    columns = {**ALPACA_COLUMNS, **(columns or {})}
    b = _Builder(row_index, {"user": "instruction", "assistant": "output", "tool": "tool",
                             "call": "tool call", "system": "system"})
    b.system(_system(row, columns), columns["system"])
    hcol = columns.get("history")
    history = row.get(hcol) if hcol else None
    if isinstance(history, str) and history.strip():  # csv: nested data as JSON text
        try:
            history = json.loads(history)
        except json.JSONDecodeError:
            raise DataError("history is a string that is not JSON", field=hcol) from None
    if history and not isinstance(history, list):
        raise DataError("history must be a list of [question, answer] pairs", field=hcol)
    for k, pair in enumerate(history or []):
        w = f"{hcol}[{k}]"
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise DataError("a history entry must be a [question, answer] pair", field=w)
        b.user(_text(pair[0], w, "question"), w)
        b.assistant(_text(pair[1], w, "answer"), [], w)
    pcol, qcol, rcol = columns["prompt"], columns.get("query"), columns["response"]
    if pcol not in row:
        raise DataError(f"missing column {pcol!r} (row keys: {sorted(row)})", field=pcol)
    parts = [_text(row.get(pcol), pcol, pcol), _text(row.get(qcol), qcol, qcol) if qcol else ""]
    prompt = "\n".join(p for p in parts if p.strip())
    if not prompt.strip():
        raise DataError(f"empty {pcol!r} and {qcol!r}", field=pcol)
    b.user(prompt, pcol)
    if rcol not in row:
        raise DataError(f"missing column {rcol!r}", field=rcol)
    b.assistant(_text(row[rcol], rcol, rcol), [], rcol)
    return b.finish(_tools(row, columns), rcol)


def detect_format(row: Any) -> tuple[str, dict[str, str], dict[str, str]]:
    """(formatting, columns, tags) guessed from a row's keys, for files not in dataset_info.json."""
    if not isinstance(row, Mapping):
        raise DataError(f"rows must be JSON objects, the first one is a {type(row).__name__}")
    for key in ("conversations", "messages"):
        if key in row:
            turns = row[key]
            if isinstance(turns, str):  # csv: nested data as JSON text
                try:
                    turns = json.loads(turns)
                except json.JSONDecodeError:
                    pass
            first = turns[0] if isinstance(turns, list) and turns else {}
            if isinstance(first, Mapping) and "from" in first:
                return "sharegpt", {"messages": key}, dict(SHAREGPT_TAGS)
            return "openai", {"messages": key}, dict(OPENAI_TAGS)
    if "instruction" in row:
        return "alpaca", {}, {}
    raise DataError(f"cannot tell the format from the first row's keys {sorted(row)}: expected "
                    f"'conversations' (sharegpt), 'messages' (openai) or 'instruction' (alpaca); "
                    f"register the dataset in dataset_info.json with its columns")


def convert_row(row: Any, formatting: str, columns: Mapping[str, str] | None = None,
                tags: Mapping[str, str] | None = None, *, ranking: bool = False,
                row_index: int = 0) -> Conversation:
    """Dispatch one row; for ranking (DPO) rows the `chosen` answer becomes the assistant turn."""
    if not isinstance(row, Mapping):
        raise DataError(f"a row must be a JSON object, got {type(row).__name__}")
    if formatting not in FORMATTINGS:
        raise DataError(f"unknown formatting {formatting!r} (expected one of {FORMATTINGS})")
    cols = columns or {}
    kto = cols.get("kto_tag")
    if kto and kto in row and not row[kto]:  # KTO's "undesirable" answers must not be imitated
        raise DataError("kto_tag is false (an undesirable example); not used for SFT", field=kto)
    for media in ("images", "videos", "audios"):
        if cols.get(media) and row.get(cols[media]):
            raise DataError(f"the row has {media}; tooltune trains text-only models",
                            field=cols[media])
    if ranking:
        row = _with_chosen(row, formatting, cols, tags or {})
    if formatting == "alpaca":
        return from_alpaca(row, columns, row_index=row_index)
    if formatting == "sharegpt":
        return from_sharegpt(row, columns, tags, row_index=row_index)
    return from_openai(row, columns, tags, row_index=row_index)


def _with_chosen(row: Mapping, formatting: str, columns: Mapping, tags: Mapping) -> dict:
    """SFT on a preference row: train on the chosen answer (the rejected one is not used here)."""
    if formatting == "alpaca":
        cols = {**ALPACA_COLUMNS, **columns}
        return {**row, cols["response"]: row.get(cols["chosen"])}
    cols = {**(SHAREGPT_COLUMNS if formatting == "sharegpt" else OPENAI_COLUMNS), **columns}
    t = {**(SHAREGPT_TAGS if formatting == "sharegpt" else OPENAI_TAGS), **tags}
    chosen = row.get(cols["chosen"])
    if isinstance(chosen, str):
        chosen = {t["role_tag"]: t["assistant_tag"], t["content_tag"]: chosen}
    if not isinstance(chosen, Mapping):
        raise DataError("a ranking row needs a chosen answer", field=cols["chosen"])
    return {**row, cols["messages"]: [*_turns(row, cols["messages"]), chosen]}
