"""`tooltune api` end to end: the real `openai` client (and raw HTTP for bad input) against real
server processes on 127.0.0.1 serving SmolLM2-135M.

SmolLM2-135M does not call tools on its own reliably, so calls are asked for with tool_choice
required/named (guaranteed by the grammar); `auto` is checked for consistency, not for calling.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

API_KEY = "test-key-0123456789"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "description": "The current time"}}  # no parameters
TOOLS = [WEATHER, TIME]
ASK = [{"role": "user", "content": "What is the weather in Paris and in London?"}]
# A reply that cannot end early: the grammar wants 400+ numbers (800+ tokens) before it may stop.
LONG = {"messages": [{"role": "user", "content": "Count."}], "max_tokens": 2000, "response_format": {
    "type": "json_schema", "json_schema": {"name": "numbers", "schema": {
        "type": "array", "items": {"type": "integer"}, "minItems": 400}}}}
CALL_TOKENS = 40    # one call in the Hermes layout is ~30 tokens for SmolLM2
TWO_CALLS = 64


@pytest.fixture(scope="module")
def server(smollm2_path, tmp_path_factory, launch_api):
    yield from launch_api(smollm2_path, tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def small_server(smollm2_path, tmp_path_factory, launch_api):
    """One running request and one waiting at most, behind an API key (given by environment)."""
    yield from launch_api(smollm2_path, tmp_path_factory.mktemp("api_small"), "--max-batch", "1",
                       "--max-waiting", "1", api_key=API_KEY)


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def _post(server, body, **kw) -> httpx2.Response:
    if isinstance(body, (dict, list)):
        kw["json"] = body
    else:
        kw["content"] = body
        kw.setdefault("headers", {"content-type": "application/json"})
    return httpx2.post(f"{server.url}/v1/chat/completions", timeout=120, **kw)


def _assembled_stream(client: openai.OpenAI, **kwargs) -> tuple[dict, list]:
    """Stream a request and put each choice back together the way an OpenAI client does."""
    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    out: dict[int, dict] = {}
    for chunk in chunks:
        for ch in chunk.choices:
            slot = out.setdefault(ch.index, {"content": None, "calls": {}, "finish": None, "role": None})
            d = ch.delta
            slot["role"] = slot["role"] or d.role
            if d.content:
                slot["content"] = (slot["content"] or "") + d.content
            for tc in d.tool_calls or []:
                call = slot["calls"].setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                call["name"] += (tc.function.name or "") if tc.function else ""
                call["arguments"] += (tc.function.arguments or "") if tc.function else ""
            slot["finish"] = ch.finish_reason or slot["finish"]
    for slot in out.values():
        slot["calls"] = [slot["calls"][i] for i in sorted(slot["calls"])]
    return out, chunks


def _whole(choice) -> dict:
    msg = choice.message
    calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in msg.tool_calls or []]
    return {"content": msg.content, "calls": calls, "finish": choice.finish_reason, "role": msg.role}


# ------------------------------------------------------------------ basics

def test_health_models_and_openapi(server):
    health = server.health()
    assert health["status"] == "ok" and health["running"] == 0 and health["waiting"] == 0
    models = server.client().models.list()
    names = [m.id for m in models.data]
    assert names == ["smollm2-135m-instruct"] and models.data[0].object == "model"
    assert server.client().models.retrieve(names[0]).id == names[0]
    with pytest.raises(openai.NotFoundError):
        server.client().models.retrieve("no-such-model")
    r = httpx2.get(f"{server.url}/v1/nowhere", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    spec = httpx2.get(f"{server.url}/openapi.json", timeout=10).json()
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert "400" in chat["responses"] and "422" not in chat["responses"]  # invalid requests get 400


def test_plain_chat(client):
    r = client.chat.completions.create(model="smollm2-135m-instruct", max_tokens=12, seed=1,
                                       messages=[{"role": "system", "content": "You are terse."},
                                                 {"role": "user", "content": "Say hello."}])
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion" and r.system_fingerprint
    assert r.model == "smollm2-135m-instruct" and isinstance(r.created, int)
    (choice,) = r.choices
    assert choice.index == 0 and choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert not choice.message.tool_calls and choice.finish_reason in ("stop", "length")
    assert 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # Unknown model names get the base model; unknown parameters are ignored; content parts work.
    r2 = client.chat.completions.create(
        model="gpt-4o", max_tokens=12, seed=1, user="someone", frequency_penalty=0.0, logprobs=False,
        messages=[{"role": "developer", "content": [{"type": "text", "text": "You are terse."}]},
                  {"role": "user", "content": [{"type": "text", "text": "Say hello."}]}])
    assert r2.choices[0].message.content == choice.message.content
    assert r2.usage.prompt_tokens == r.usage.prompt_tokens


def test_extreme_sampling_values_do_not_break_the_engine(client):
    """A denormal temperature or top_p would overflow (or round to 0) in float32 sampling: greedy."""
    kw = dict(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    greedy = client.chat.completions.create(temperature=0, **kw).choices[0].message.content
    for extreme in ({"temperature": 1e-300}, {"top_p": 5e-324}, {"temperature": 2, "top_p": 1e-300}):
        r = client.chat.completions.create(**extreme, **kw)
        assert r.choices[0].message.content == greedy, extreme


def test_later_system_messages_are_merged(client):
    base = dict(max_tokens=4, temperature=0)
    merged = client.chat.completions.create(messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Bye"}], model="m", **base)
    leading = client.chat.completions.create(messages=[
        {"role": "system", "content": "Be brief.\n\nAnswer in French."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}], model="m", **base)
    assert merged.usage.prompt_tokens == leading.usage.prompt_tokens
    assert merged.choices[0].message.content == leading.choices[0].message.content


# -------------------------------------------------------------- tool calls

def test_named_tool_call(client):
    r = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, max_tokens=CALL_TOKENS, seed=2,
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] in ("Paris", "London", "Tokyo")


def test_named_call_of_a_tool_without_parameters(client):
    r = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, max_tokens=CALL_TOKENS, seed=2,
                                       tool_choice={"type": "function", "function": {"name": "get_time"}})
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_time" and call.function.arguments == "{}"
    assert r.choices[0].finish_reason == "tool_calls"


def test_required_parallel_calls(client):
    for seed in range(5):  # the grammar allows one call or more; the model usually makes two
        r = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, tool_choice="required",
                                           max_tokens=TWO_CALLS, seed=seed)
        calls = r.choices[0].message.tool_calls
        assert r.choices[0].finish_reason == "tool_calls" and calls
        if len(calls) >= 2:
            break
    assert len(calls) >= 2
    assert len({c.id for c in calls}) == len(calls)
    for c in calls:
        assert c.function.name in ("get_weather", "get_time")
        assert isinstance(json.loads(c.function.arguments), dict)
    single = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, tool_choice="required",
                                            parallel_tool_calls=False, max_tokens=CALL_TOKENS, seed=0)
    assert len(single.choices[0].message.tool_calls) == 1
    assert single.choices[0].finish_reason == "tool_calls" and single.choices[0].message.content is None


def test_tool_choice_none_renders_without_tools(client):
    kw = dict(model="m", messages=ASK, max_tokens=8, temperature=0)
    with_none = client.chat.completions.create(tools=TOOLS, tool_choice="none", **kw)
    bare = client.chat.completions.create(**kw)
    assert with_none.usage.prompt_tokens == bare.usage.prompt_tokens
    assert not with_none.choices[0].message.tool_calls
    assert with_none.choices[0].message.content == bare.choices[0].message.content
    auto = client.chat.completions.create(tools=TOOLS, **kw)  # auto is the default with tools
    assert auto.usage.prompt_tokens > bare.usage.prompt_tokens


def test_tool_choice_auto_is_consistent(client):
    kw = dict(model="m", messages=ASK, tools=TOOLS, tool_choice="auto", max_tokens=24, seed=5)
    whole = _whole(client.chat.completions.create(**kw).choices[0])
    streamed, _ = _assembled_stream(client, **kw)
    assert streamed[0] == whole
    assert (whole["finish"] == "tool_calls") == bool(whole["calls"])
    for call in whole["calls"]:
        assert call["name"] in ("get_weather", "get_time") and isinstance(json.loads(call["arguments"]), dict)


def test_two_turn_agent_flow_with_tool_role(client):
    first = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, max_tokens=CALL_TOKENS, seed=3,
                                           tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assistant = first.choices[0].message
    (call,) = assistant.tool_calls
    messages = [*ASK, assistant.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})}]
    final = client.chat.completions.create(model="m", messages=messages, tools=TOOLS, max_tokens=16, temperature=0)
    assert final.choices[0].message.content or final.choices[0].message.tool_calls
    assert final.usage.prompt_tokens > first.usage.prompt_tokens + first.usage.completion_tokens
    plain = client.chat.completions.create(model="m", messages=messages, tools=TOOLS, tool_choice="none",
                                           max_tokens=16, temperature=0)
    assert plain.choices[0].message.content and not plain.choices[0].message.tool_calls
    # Several results in a row, one without an id (it answers the next open call).
    calls = [{"id": f"call_{c}", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
             for c, city in (("a", "Paris"), ("b", "London"))]
    two = client.chat.completions.create(model="m", max_tokens=8, temperature=0, tools=TOOLS, messages=[
        *ASK, {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": "21 C"}, {"role": "tool", "content": "15 C"}])
    assert two.choices[0].message.content is not None or two.choices[0].message.tool_calls


def test_two_turn_agent_flow_with_legacy_function_role(client):
    """LLaMA-Factory's client sends the assistant's call as a `function` message; the old OpenAI
    meaning (a function result, with `name`) works too. Both render like the modern shape."""
    args = {"city": "Paris"}
    modern = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21 C and sunny"}]
    llamafactory = [*ASK, {"role": "function", "content": json.dumps({"name": "get_weather", "argument": args})},
                    {"role": "tool", "content": "21 C and sunny"}]
    llamafactory_list = [*ASK, {"role": "function", "content": json.dumps(
        [{"name": "get_weather", "arguments": json.dumps(args)}])}, {"role": "tool", "content": "21 C and sunny"}]
    old_openai = [*ASK, {"role": "assistant", "content": None,
                         "function_call": {"name": "get_weather", "arguments": json.dumps(args)}},
                  {"role": "function", "name": "get_weather", "content": "21 C and sunny"}]
    answers = []
    for messages in (modern, llamafactory, llamafactory_list, old_openai):
        r = client.chat.completions.create(model="m", messages=messages, tools=TOOLS, max_tokens=12, temperature=0)
        answers.append((r.usage.prompt_tokens, r.choices[0].message.content))
    assert all(a == answers[0] for a in answers), answers


def test_streaming_tool_calls_equal_the_whole_answer(client):
    kw = dict(model="m", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=TWO_CALLS, seed=0,
              n=2, stream_options={"include_usage": True})
    streamed, chunks = _assembled_stream(client, **kw)
    whole = client.chat.completions.create(**{k: v for k, v in kw.items() if k != "stream_options"})
    assert [streamed[c.index] for c in whole.choices] == [_whole(c) for c in whole.choices]
    assert all(s["calls"] for s in streamed.values())
    # OpenAI's order: role first; each call's id, type and name before its arguments; usage last.
    assert chunks[0].choices[0].delta.role == "assistant"
    first_call_deltas = [tc for ch in chunks for c in ch.choices for tc in (c.delta.tool_calls or []) if tc.id]
    assert all(tc.type == "function" and tc.function.name and tc.function.arguments == ""
               for tc in first_call_deltas)
    # Then the arguments, in pieces as they are generated ("{", then "\"city\": \"Par", ...).
    pieces: dict[tuple[int, int], list[str]] = {}
    for ch in chunks:
        for c in ch.choices:
            for tc in c.delta.tool_calls or []:
                if tc.function and tc.function.arguments:
                    pieces.setdefault((c.index, tc.index), []).append(tc.function.arguments)
    assert all(len(p) >= 2 for p in pieces.values()) and max(len(p) for p in pieces.values()) > 3, pieces
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(ch.usage is None for ch in chunks[:-1])


def test_streaming_text_equals_the_whole_answer(client):
    kw = dict(model="m", messages=[{"role": "user", "content": "Tell me about owls."}], max_tokens=20, seed=11)
    streamed, chunks = _assembled_stream(client, **kw)
    whole = client.chat.completions.create(**kw)
    assert streamed[0] == _whole(whole.choices[0])
    assert sum(1 for ch in chunks for c in ch.choices if c.delta.content) > 1  # it really streamed


def test_raw_sse_ends_with_done(server):
    with httpx2.stream("POST", f"{server.url}/v1/chat/completions", timeout=120, json={
            "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    last = json.loads(lines[-2][6:])
    assert last["object"] == "chat.completion.chunk" and last["choices"][0]["finish_reason"] in ("stop", "length")


def test_n_choices(client):
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Name a colour."}],
                                       n=2, max_tokens=8, seed=7)
    assert [c.index for c in r.choices] == [0, 1]
    assert all(isinstance(c.message.content, str) for c in r.choices)
    assert r.usage.completion_tokens <= 16
    again = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Name a colour."}],
                                           n=2, max_tokens=8, seed=7)
    assert [c.message.content for c in again.choices] == [c.message.content for c in r.choices]


def test_stop_strings(client):
    kw = dict(model="m", messages=[{"role": "user", "content": "Write a sentence about the sea."}],
              max_tokens=20, temperature=0)
    full = client.chat.completions.create(**kw).choices[0].message.content
    words = full.split()
    assert len(words) >= 3, full
    stop_word = words[2]
    r = client.chat.completions.create(stop=[stop_word, "zzzz"], **kw)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == full[:full.index(stop_word)]
    single = client.chat.completions.create(stop=stop_word, **kw)
    assert single.choices[0].message.content == r.choices[0].message.content


def test_json_response_formats(client):
    schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
              "required": ["answer"], "additionalProperties": False}
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Is the sky blue?"}],
                                       max_tokens=20, seed=1, response_format={
                                           "type": "json_schema", "json_schema": {"name": "yn", "schema": schema}})
    assert r.choices[0].finish_reason == "stop"
    assert json.loads(r.choices[0].message.content)["answer"] in ("yes", "no")
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Reply in JSON."}],
                                       max_tokens=12, seed=1, response_format={"type": "json_object"})
    assert r.choices[0].message.content.lstrip().startswith("{")


def test_sixteen_concurrent_clients(server):
    def ask(i: int):
        return server.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"Count to {i}."}], max_tokens=8, seed=i)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ask, range(16)))
    assert len(results) == 16
    assert all(r.choices[0].message.content is not None and r.usage.completion_tokens > 0 for r in results)


# -------------------------------------------------------------- bad input

def _msgs(*extra):
    return [{"role": "user", "content": "Hi"}, *extra]


BAD = {
    "empty messages": ({"messages": []}, "messages"),
    "messages not a list": ({"messages": "hi"}, "messages"),
    "no messages": ({"model": "m"}, "messages"),
    "unknown role": ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    "user without content": ({"messages": [{"role": "user"}]}, "messages[0].content"),
    "image part": ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
                   "messages[0].content[0].type"),
    "tool result for no call": ({"messages": _msgs({"role": "tool", "tool_call_id": "nope", "content": "1"})},
                                "messages[1].tool_call_id"),
    "tool result without id, no call": ({"messages": _msgs({"role": "tool", "content": "1"})},
                                        "messages[1].tool_call_id"),
    "function result for no call": ({"messages": _msgs({"role": "function", "name": "f", "content": "1"})},
                                    "messages[1].name"),
    "call arguments not JSON": ({"messages": _msgs({"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]})},
        "messages[1].tool_calls[0].function.arguments"),
    "tool without a name": ({"messages": _msgs(), "tools": [{"type": "function", "function": {"parameters": {}}}]},
                            "tools[0].function.name"),
    "tool with an empty name": ({"messages": _msgs(), "tools": [{"type": "function", "function": {"name": " "}}]},
                                "tools[0].function.name"),
    "parameters not an object": ({"messages": _msgs(), "tools": [
        {"type": "function", "function": {"name": "f", "parameters": "string"}}]}, "tools[0].function.parameters"),
    "parameters of a bad type": ({"messages": _msgs(), "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "banana"}}}]},
        "tools[0].function.parameters.type"),
    "parameters not of an object": ({"messages": _msgs(), "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
        "tools[0].function.parameters.type"),
    "a property not a schema": ({"messages": _msgs(), "tools": [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": 5}}}}]},
        "tools[0].function.parameters.properties.x"),
    "tool_choice names an unknown function": ({"messages": _msgs(), "tools": [WEATHER], "tool_choice": {
        "type": "function", "function": {"name": "nope"}}}, "tool_choice.function.name"),
    "tool_choice required without tools": ({"messages": _msgs(), "tool_choice": "required"}, "tool_choice"),
    "tool_choice unknown word": ({"messages": _msgs(), "tools": [WEATHER], "tool_choice": "always"}, "tool_choice"),
    "n 0": ({"messages": _msgs(), "n": 0}, "n"),
    "n 9": ({"messages": _msgs(), "n": 9}, "n"),
    "temperature high": ({"messages": _msgs(), "temperature": 2.5}, "temperature"),
    "temperature negative": ({"messages": _msgs(), "temperature": -0.1}, "temperature"),
    "top_p 0": ({"messages": _msgs(), "top_p": 0}, "top_p"),
    "top_p over 1": ({"messages": _msgs(), "top_p": 1.5}, "top_p"),
    "max_tokens 0": ({"messages": _msgs(), "max_tokens": 0}, "max_tokens"),
    "max_tokens past the context": ({"messages": _msgs(), "max_tokens": 10**6}, "max_tokens"),
    "max_completion_tokens past the context": ({"messages": _msgs(), "max_completion_tokens": 10**6},
                                               "max_completion_tokens"),
    "prompt past the context": ({"messages": [{"role": "user", "content": "hello " * 9000}]}, "messages"),
    "five stop strings": ({"messages": _msgs(), "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    "json_schema without a schema object": ({"messages": _msgs(), "response_format": {"type": "json_schema"}},
                                            "response_format.json_schema"),
    "too many messages": ({"messages": [{"role": "user", "content": "x"}] * 1025}, "messages"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_400_naming_the_field(server, case):
    body, param = BAD[case]
    r = _post(server, body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param, error


@pytest.mark.parametrize("raw", [b'{"messages": [', b"[]", b"", b"not json", b'"text"', b'{"messages": NaN}'])
def test_malformed_bodies_are_400(server, raw):
    r = _post(server, raw)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_bad_input_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=[], max_tokens=4)
    assert info.value.body["param"] == "messages"


def test_body_limit_is_a_413(server):
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]}).encode()
    r = _post(server, big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: the limit holds on the body actually read
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    r = httpx2.post(f"{server.url}/v1/chat/completions", content=chunks(), timeout=60,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert server.health()["status"] == "ok"


def test_api_key(small_server):
    url = small_server.url
    assert httpx2.get(f"{url}/health", timeout=10).status_code == 200  # health stays open
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
        r = httpx2.get(f"{url}/v1/models", headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        small_server.client("wrong").chat.completions.create(model="m", messages=_msgs(), max_tokens=2)
    r = small_server.client(API_KEY).chat.completions.create(model="m", messages=_msgs(), max_tokens=2)
    assert r.choices[0].message.content is not None


def _wait_for(server, pred, timeout: float = 10.0) -> dict:
    deadline = time.time() + timeout
    while True:
        health = server.health()
        if pred(health) or time.time() > deadline:
            return health
        time.sleep(0.05)


def test_full_queue_is_a_429_with_retry_after(small_server):
    url, headers = small_server.url, {"Authorization": f"Bearer {API_KEY}"}
    body = {**LONG, "stream": True}
    with httpx2.Client(timeout=60, headers=headers) as running_client, \
            httpx2.Client(timeout=60, headers=headers) as waiting_client:
        with running_client.stream("POST", f"{url}/v1/chat/completions", json=body) as running:
            assert running.status_code == 200
            assert _wait_for(small_server, lambda h: h["running"] == 1)["running"] == 1
            with waiting_client.stream("POST", f"{url}/v1/chat/completions", json=body) as waiting:
                assert waiting.status_code == 200
                assert small_server.health()["waiting"] == 1
                r = httpx2.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60)
                assert r.status_code == 429, r.text
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["error"]["code"] == "rate_limit_exceeded"
    health = _wait_for(small_server, lambda h: h["running"] == 0 and h["waiting"] == 0)
    assert (health["running"], health["waiting"]) == (0, 0)


def test_disconnect_mid_stream_frees_the_slot(server):
    body = {**LONG, "stream": True}
    with httpx2.Client(timeout=60) as c:
        with c.stream("POST", f"{server.url}/v1/chat/completions", json=body) as r:
            # Hold on to the iterator: an abandoned httpx line iterator closes the connection
            # when it is collected, i.e. it hangs up before the check below.
            lines = r.iter_lines()
            seen = 0
            while seen < 4:
                seen += bool(next(lines))
            time.sleep(0.5)   # while the client stays connected, its request keeps its slot
            assert server.health()["running"] == 1
    t0 = time.time()
    health = _wait_for(server, lambda h: h["running"] == 0 and h["waiting"] == 0, timeout=5)
    assert (health["running"], health["waiting"]) == (0, 0), health
    assert time.time() - t0 < 3


def test_disconnect_while_waiting_for_a_whole_answer_frees_the_slot(server):
    def hang_up():
        try:
            httpx2.post(f"{server.url}/v1/chat/completions", json=LONG, timeout=1.5)
        except httpx2.TimeoutException:
            pass

    thread = threading.Thread(target=hang_up)
    thread.start()
    assert _wait_for(server, lambda h: h["running"] == 1)["running"] == 1
    thread.join()
    health = _wait_for(server, lambda h: h["running"] == 0 and h["waiting"] == 0, timeout=5)
    assert (health["running"], health["waiting"]) == (0, 0), health


# ------------------------------------------------------------- fuzzing

def test_openapi_fuzzing_never_gives_a_5xx(server):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategy = st.one_of(*(schema.as_strategy(generation_mode=m) for m in modes))
    failures = []

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case):
        if isinstance(case.body, dict):  # keep generation short: this is about the server's answers
            case.body["max_tokens"] = 4
            case.body.pop("max_completion_tokens", None)
        response = case.call(base_url=server.url, timeout=120)
        if response.status_code >= 500:
            failures.append((case.method, case.path, case.body, response.status_code, response.text[:500]))

    check()
    assert not failures, failures[:3]
    assert server.health()["status"] == "ok"


def test_strict_tools_in_auto_mode(client):
    """A tool marked `strict: true` (OpenAI's flag) holds any call in `auto` to the offered tools
    and their schemas; the reply may still be text. Streamed and not, the same answer."""
    strict = [{"type": "function", "function": {**WEATHER["function"], "strict": True}}, TIME]
    kw = dict(model="m", messages=ASK, tools=strict, tool_choice="auto", max_tokens=TWO_CALLS, temperature=0)
    r = client.chat.completions.create(**kw)
    choice = r.choices[0]
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    for c in choice.message.tool_calls or []:
        assert c.function.name in ("get_weather", "get_time")
        args = json.loads(c.function.arguments)
        assert args == {} if c.function.name == "get_time" else args["city"] in ("Paris", "London", "Tokyo")
    assert choice.message.tool_calls or choice.message.content
    text, names = "", []
    for chunk in client.chat.completions.create(stream=True, **kw):
        delta = chunk.choices[0].delta if chunk.choices else None
        text += (delta.content or "") if delta else ""
        names += [t.function.name for t in (delta.tool_calls or []) if t.function and t.function.name] if delta else []
    assert text == (choice.message.content or "")
    assert names == [c.function.name for c in choice.message.tool_calls or []]


def test_strict_tools_are_the_servers_default(server, smollm2_path, tmp_path, launch_api):
    """Without --strict-tools the server holds `auto` calls to the schemas where the template
    can (chatml: `<tool_call>` opens every call); --strict-tools false turns that off."""
    assert ", strict tools;" in server.log.read_text()
    # and how it holds the weights: the path dtype auto took on this CPU, and the figures why
    assert "tooltune api: decode: " in server.log.read_text()
    for _ in launch_api(smollm2_path, tmp_path, "--strict-tools", "false", "--max-batch", "1", "--do_sample", "false"):
        log = (tmp_path / "server.log").read_text()
        assert "strict tools" not in log and "unset sampling: greedy" in log


def test_a_request_without_sampling_gets_the_servers():
    from tooltune.serve.protocol import ChatCompletionRequest, SamplingDefaults, prepare
    unset, chosen = ChatCompletionRequest(model="m", messages=ASK), ChatCompletionRequest(
        model="m", messages=ASK, temperature=1.0, top_p=1.0)
    assert (prepare(unset).temperature, prepare(unset).top_p) == (0.95, 0.7)  # LLaMA-Factory's API
    greedy = SamplingDefaults(temperature=0.0, top_p=1.0)
    assert prepare(unset, defaults=greedy).sampling(10, 100).temperature == 0.0
    assert (prepare(chosen, defaults=greedy).temperature, prepare(chosen, defaults=greedy).top_p) == (1.0, 1.0)


def test_strict_flag_reaches_the_request():
    from tooltune.serve.protocol import ChatCompletionRequest, prepare
    strict = [{"type": "function", "function": {**WEATHER["function"], "strict": True}}, TIME]
    assert prepare(ChatCompletionRequest(model="m", messages=ASK, tools=strict)).strict_calls()
    plain = prepare(ChatCompletionRequest(model="m", messages=ASK, tools=TOOLS))
    assert not plain.strict_calls() and plain.strict_calls(server_default=True)
    required = prepare(ChatCompletionRequest(model="m", messages=ASK, tools=strict, tool_choice="required"))
    assert not required.strict_calls() and required.constrains_calls
