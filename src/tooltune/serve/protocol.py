"""POST /v1/chat/completions, the request side: pydantic models (they also make /openapi.json),
then the checks and the conversion into what the server works with.

Messages come out in our internal OpenAI shape (tooltune.conversation): one leading system message
(later system/developer messages are merged into it: every template takes one leading system),
assistant turns with text and/or tool calls whose arguments are dicts, tool results naming their
call. The legacy `function` role is read the way LLaMA-Factory's client means it (an assistant
call, `{"name": ..., "argument(s)": ...}`), and otherwise as OpenAI's old function *result*.
Every problem is a `RequestError` naming the field, e.g. `messages[2].tool_call_id`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tooltune.conversation import (DataError, check_text, join_text_parts, new_call_id, normalize_tool,
                                   parse_arguments)
from tooltune.engine.types import SamplingParams

MAX_N = 8
MAX_STOP = 4
MAX_STOP_CHARS = 256
DEFAULT_MAX_TOKENS = 4096  # the cap on max_tokens when a request gives none


class RequestError(ValueError):
    """A bad request: the API answers 400 with an OpenAI error object naming `param`."""

    def __init__(self, message: str, param: str | None = None, code: str | None = "invalid_value"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


# ---------------------------------------------------------------- models

class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")  # unknown fields (user, logprobs, ...) are ignored


class ContentPart(_Model):
    type: str
    text: str | None = None


class FunctionCall(_Model):
    name: str
    arguments: str | dict[str, Any] | None = None


class ToolCall(_Model):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Model):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: FunctionCall | None = None  # an assistant's legacy call


class FunctionDef(_Model):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Model):
    type: Literal["function"] = "function"
    function: FunctionDef


class NamedFunction(_Model):
    name: str


class NamedToolChoice(_Model):
    type: Literal["function"] = "function"
    function: NamedFunction


class JsonSchemaSpec(_Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Model):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(_Model):
    include_usage: bool | None = None


class ChatCompletionRequest(_Model):
    model: str | None = None
    messages: list[ChatMessage]
    tools: list[ToolDef] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDef] | None = None                       # legacy tools
    function_call: Literal["none", "auto"] | NamedFunction | None = None  # legacy tool_choice
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=MAX_N)
    seed: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None


# ------------------------------------------------------------ prepared

@dataclass(frozen=True)
class SamplingDefaults:
    """What a request that sets no temperature or top_p gets. LLaMA-Factory's API serves 0.95 and
    0.7, and the reference article's client sets neither; OpenAI's 1.0 and 1.0 would sample a
    small tuned agent's long tail, its call-or-not choice included (P(call) 0.9 missed 1 in 10)."""
    temperature: float = 0.95
    top_p: float = 0.7

    def __post_init__(self):
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature {self.temperature}: use 0 (greedy) to 2")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p}: use a value in (0, 1]")


@dataclass
class Prepared:
    """A checked request in the server's terms; `sampling()` completes it once tokenized."""
    model: str | None
    messages: list[dict]
    tools: list[dict]                  # normalized OpenAI tools ([] when none)
    tool_choice: str | dict            # "none" | "auto" | "required" | {"type": "function", ...}
    parallel_tool_calls: bool
    response_format: dict | None       # {"type": "json_object"} | {"type": "json_schema", "schema": ...}
    n: int
    stream: bool
    include_usage: bool
    temperature: float
    top_p: float
    max_tokens: int | None             # as asked (None: what is left of the context)
    max_tokens_param: str
    stop: tuple[str, ...]
    seed: int | None
    strict_tools: bool = False         # a tool is marked `strict: true`

    @property
    def constrains_calls(self) -> bool:
        return self.tool_choice == "required" or isinstance(self.tool_choice, dict)

    def strict_calls(self, server_default: bool = False) -> bool:
        """`auto` where any call made must be a valid call of an offered tool: a tool marked
        `strict: true` (OpenAI's flag), or the server's `--strict-tools`."""
        return (self.tool_choice == "auto" and bool(self.tools) and self.response_format is None
                and (server_default or self.strict_tools))

    def sampling(self, prompt_tokens: int, max_model_len: int, choice: int = 0) -> SamplingParams:
        """Sampling parameters for choice `choice`; checks the prompt and max_tokens fit the context."""
        room = max_model_len - prompt_tokens
        if room < 1:
            raise RequestError(f"the prompt is {prompt_tokens} tokens, which leaves no room in the "
                               f"model's {max_model_len}-token context", "messages", "context_length_exceeded")
        if self.max_tokens is not None and self.max_tokens > room:
            raise RequestError(f"{self.max_tokens_param} is {self.max_tokens} but the prompt is {prompt_tokens} "
                               f"tokens and the context {max_model_len}: at most {room} can be generated",
                               self.max_tokens_param, "context_length_exceeded")
        max_tokens = self.max_tokens if self.max_tokens is not None else min(room, DEFAULT_MAX_TOKENS)
        seed = None if self.seed is None else (self.seed + choice) % 2**63
        # A temperature or top_p this small is greedy anyway, and would overflow (or round to 0) in float32.
        temperature = self.temperature if self.temperature >= 1e-4 and self.top_p >= 1e-6 else 0.0
        return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=self.top_p,
                              seed=seed, stop=self.stop)


def prepare(req: ChatCompletionRequest, max_messages: int = 1024,
            defaults: SamplingDefaults = SamplingDefaults()) -> Prepared:
    """Check `req` and convert it; raises RequestError naming the field at fault. A temperature
    or top_p the request leaves out is the server's (`defaults`)."""
    if not req.messages:
        raise RequestError("messages must hold at least one message", "messages", "empty_array")
    if len(req.messages) > max_messages:
        raise RequestError(f"too many messages: {len(req.messages)}, the limit is {max_messages}",
                           "messages", "too_many_messages")
    tools = _tools(req)
    choice = _tool_choice(req, tools)
    messages = convert_messages(req.messages)
    stop: tuple[str, ...] = ()
    if isinstance(req.stop, str):
        stop = (req.stop,) if req.stop else ()
    elif req.stop is not None:
        if len(req.stop) > MAX_STOP:
            raise RequestError(f"stop holds {len(req.stop)} strings; at most {MAX_STOP} are allowed", "stop")
        stop = tuple(s for s in req.stop if s)
    if any(len(s) > MAX_STOP_CHARS for s in stop):
        raise RequestError(f"stop strings may be at most {MAX_STOP_CHARS} characters long", "stop")
    if req.max_tokens is not None:
        max_tokens, param = req.max_tokens, "max_tokens"
    else:
        max_tokens, param = req.max_completion_tokens, "max_completion_tokens"
    return Prepared(
        model=req.model, messages=messages, tools=tools, tool_choice=choice,
        parallel_tool_calls=req.parallel_tool_calls is not False,
        response_format=_response_format(req.response_format), n=req.n or 1, stream=bool(req.stream),
        include_usage=bool(req.stream and req.stream_options and req.stream_options.include_usage),
        temperature=defaults.temperature if req.temperature is None else req.temperature,
        top_p=defaults.top_p if req.top_p is None else req.top_p,
        max_tokens=max_tokens, max_tokens_param=param, stop=stop, seed=req.seed,
        strict_tools=any(t.function.strict for t in req.tools or []))


# ---------------------------------------------------------------- tools

def _tools(req: ChatCompletionRequest) -> list[dict]:
    if req.tools is not None:
        defs, where = [t.function for t in req.tools], "tools[{}].function"
    elif req.functions is not None:
        defs, where = req.functions, "functions[{}]"
    else:
        return []
    out = []
    for k, fn in enumerate(defs):
        at = where.format(k)
        if not fn.name.strip():
            raise RequestError("a tool needs a non-empty function name", f"{at}.name")
        if fn.parameters is not None:
            check_schema(fn.parameters, f"{at}.parameters", top=True)
        out.append(normalize_tool({"type": "function", "function": fn.model_dump(exclude_none=True)}, at))
    return out


def _tool_choice(req: ChatCompletionRequest, tools: list[dict]) -> str | dict:
    choice: Any = req.tool_choice
    param = "tool_choice"
    if choice is None and req.function_call is not None:
        choice, param = req.function_call, "function_call"
        if isinstance(choice, NamedFunction):
            choice = NamedToolChoice(function=choice)
    if choice is None:
        return "auto" if tools else "none"
    if isinstance(choice, str):
        if choice == "required" and not tools:
            raise RequestError('tool_choice "required" needs at least one tool in `tools`', param)
        return choice
    names = [t["function"]["name"] for t in tools]
    name = choice.function.name
    if name not in names:
        offered = f" (offered: {', '.join(names)})" if names else " (no tools were given)"
        raise RequestError(f"tool_choice names function {name!r}, which is not in `tools`{offered}",
                           f"{param}.function.name" if param == "tool_choice" else f"{param}.name")
    return {"type": "function", "function": {"name": name}}


_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


def check_schema(schema: Any, where: str, top: bool = False) -> None:
    """Raise RequestError unless `schema` is a JSON Schema (by its `$schema`, else draft 2020-12:
    jsonschema checks it against the meta-schema), and the schema of an object if `top` (a tool's
    parameters). The error names the place inside the schema, e.g. `...parameters.properties.x`."""
    import jsonschema
    from jsonschema.exceptions import best_match

    if not isinstance(schema, dict) and not (isinstance(schema, bool) and not top):
        raise RequestError("not a JSON Schema: a schema must be a JSON object", where)
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        error = best_match(validator(validator.META_SCHEMA).iter_errors(schema))
    except RecursionError:
        raise RequestError("the JSON Schema is nested too deeply", where) from None
    if error is not None:
        path = list(error.absolute_path)
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        reason = (f"type must be one of {', '.join(_TYPES)}" if path[-1:] == ["type"] or path[-2:-1] == ["type"]
                  else error.message)
        raise RequestError(f"not a JSON Schema: {reason}", where + at)
    kind = schema.get("type") if isinstance(schema, dict) else None
    if top and kind is not None and "object" not in (kind if isinstance(kind, list) else [kind]):
        raise RequestError("a tool's parameters must be the JSON Schema of an object (type \"object\")",
                           f"{where}.type")


def _response_format(rf: ResponseFormat | None) -> dict | None:
    if rf is None or rf.type == "text":
        return None
    if rf.type == "json_object":
        return {"type": "json_object", "schema": None}
    if rf.json_schema is None:
        raise RequestError('response_format of type "json_schema" needs a json_schema object',
                           "response_format.json_schema", "missing_required_parameter")
    schema = rf.json_schema.schema_
    if schema is not None:
        check_schema(schema, "response_format.json_schema.schema")
    return {"type": "json_schema", "schema": schema}


# ------------------------------------------------------------- messages

def _text(content: str | list[ContentPart] | None, where: str) -> str | None:
    if content is None:
        return None
    if isinstance(content, str):
        text = content
    else:
        texts = []
        for j, part in enumerate(content):
            if part.type != "text":
                raise RequestError(f"content parts of type {part.type!r} are not supported: only text",
                                   f"{where}.content[{j}].type")
            if part.text is None:
                raise RequestError("a text content part needs `text`", f"{where}.content[{j}].text")
            texts.append(part.text)
        text = join_text_parts(texts)
    try:
        check_text(text, f"{where}.content")
    except DataError as e:
        raise RequestError(e.reason, e.field) from None
    return text


def _arguments(args: Any, where: str) -> dict:
    try:
        return parse_arguments(args, where)
    except DataError as e:
        raise RequestError(f"{e.reason}: send them as a JSON object, in a string", e.field) from None


def _legacy_calls(text: str | None) -> list[dict] | None:
    """LLaMA-Factory's function-role content: one call or a list, {"name", "argument(s)"}; else None."""
    if not text or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip()
                and ("argument" in item or "arguments" in item)):
            return None
        args = item.get("arguments", item.get("argument"))
        try:
            args = _arguments(args, "")
        except RequestError:
            return None
        calls.append({"name": item["name"].strip(), "arguments": args})
    return calls or None


def convert_messages(messages: list[ChatMessage]) -> list[dict]:
    """Our internal message list; raises RequestError naming the message and field at fault."""
    system: list[str] = []
    out: list[dict] = []
    call_names: dict[str, str] = {}   # every call id made so far -> its function name
    unanswered: list[str] = []        # calls of the latest assistant turn with no result yet

    def add_calls(i: int, calls: list[dict], content: str | None) -> None:
        nonlocal unanswered
        prev = out[-1] if out else None
        if prev is not None and prev["role"] == "assistant" and content is None:
            target = prev  # a function-role call right after the assistant's text: the same turn
        else:
            target = {"role": "assistant", "content": content or ""}
            out.append(target)
            unanswered = []
        if calls:
            target.setdefault("tool_calls", [])
        for j, call in enumerate(calls):
            call_id = call.get("id") or new_call_id(f"messages[{i}]:{j}")
            target["tool_calls"].append({"id": call_id, "type": "function", "function": {
                "name": call["name"], "arguments": call["arguments"]}})
            call_names[call_id] = call["name"]
            unanswered.append(call_id)

    def add_result(i: int, call_id: str, content: str | None) -> None:
        if call_id in unanswered:
            unanswered.remove(call_id)
        out.append({"role": "tool", "tool_call_id": call_id, "name": call_names[call_id],
                    "content": content or ""})

    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        text = _text(m.content, where)
        if m.role in ("system", "developer"):
            if text:
                system.append(text)
        elif m.role == "user":
            if text is None:
                raise RequestError("a user message needs content", f"{where}.content", "missing_required_parameter")
            out.append({"role": "user", "content": text})
        elif m.role == "assistant":
            calls = []
            for j, c in enumerate(m.tool_calls or []):
                if not c.function.name.strip():
                    raise RequestError("a tool call needs a function name", f"{where}.tool_calls[{j}].function.name")
                calls.append({"id": c.id, "name": c.function.name,
                              "arguments": _arguments(c.function.arguments,
                                                      f"{where}.tool_calls[{j}].function.arguments")})
            if m.function_call is not None and not m.tool_calls:
                calls.append({"id": None, "name": m.function_call.name,
                              "arguments": _arguments(m.function_call.arguments,
                                                      f"{where}.function_call.arguments")})
            add_calls(i, calls, text or "")
        elif m.role == "function" and (legacy := _legacy_calls(text)) is not None:
            add_calls(i, legacy, None)
        else:  # tool, or function as OpenAI's old function result
            after_call = bool(out) and out[-1]["role"] in ("assistant", "tool") and bool(unanswered)
            if m.role == "tool" and m.tool_call_id:
                if m.tool_call_id not in call_names:
                    raise RequestError(f"tool_call_id {m.tool_call_id!r} matches no tool call of an earlier "
                                       "assistant message", f"{where}.tool_call_id")
                call_id = m.tool_call_id
            elif m.role == "function":
                named = [c for c in unanswered if call_names[c] == m.name]
                earlier = [c for c, n in call_names.items() if n == m.name]
                call_id = (named or (unanswered if after_call else []) or earlier[-1:] or [None])[0]
                if call_id is None:
                    raise RequestError("a function result with no earlier call of that function",
                                       f"{where}.name" if m.name else where)
            elif after_call:
                call_id = unanswered[0]
            else:
                raise RequestError("a tool message needs tool_call_id naming an earlier assistant tool call",
                                   f"{where}.tool_call_id", "missing_required_parameter")
            add_result(i, call_id, text)
    if system:
        out.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return out
