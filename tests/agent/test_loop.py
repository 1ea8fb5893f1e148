"""The agent loop: mechanics with a scripted client (the untuned model's choices can't be steered),
an OpenAI SDK client against a local fake server, and a smoke run on the real SmolLM2."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from tooltune.agent import AgentStepLimit, LocalModel, run
from tooltune.functions import function_to_tool
from tooltune.errors import UserError

CALLED: list[tuple[str, dict]] = []


def get_weather(city: str, unit: str = "c") -> dict:
    """Current weather for a city.

    Args:
        city: The city name.
        unit: c or f.
    """
    CALLED.append(("get_weather", {"city": city, "unit": unit}))
    return {"city": city, "temp": 21, "unit": unit}


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


def call(name: str, args, call_id: str | None = None) -> dict:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}


class Scripted:
    """A ChatClient that replays replies and records what it was shown."""

    def __init__(self, *replies: dict):
        self.replies, self.seen = list(replies), []

    def chat(self, messages, tools=None, **kwargs):
        self.seen.append({"messages": json.loads(json.dumps(messages)), "tools": tools, "kwargs": kwargs})
        return self.replies.pop(0)


def calls(*c: dict) -> dict:
    return {"content": None, "tool_calls": list(c)}


def answer(text: str) -> dict:
    return {"content": text, "tool_calls": []}


@pytest.fixture(autouse=True)
def _reset():
    CALLED.clear()


def test_runs_a_call_and_feeds_the_result_back():
    client = Scripted(calls(call("get_weather", {"city": "Paris"}, "c1")), answer("21 degrees in Paris."))
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    result = run(msgs, tools=[get_weather], client=client, max_new_tokens=32)
    assert result.final == "21 degrees in Paris." and result.steps == 2
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assistant, tool = result.messages[1], result.messages[2]
    assert assistant["tool_calls"][0]["id"] == tool["tool_call_id"] == "c1"
    assert json.loads(tool["content"]) == {"city": "Paris", "temp": 21, "unit": "c"}
    assert client.seen[0]["tools"] == [function_to_tool(get_weather)]
    assert client.seen[0]["kwargs"] == {"max_new_tokens": 32}
    assert client.seen[1]["messages"][-1] == tool  # the model sees the result on its next call
    assert msgs == [{"role": "user", "content": "Weather in Paris?"}]  # the caller's list is untouched


def test_parallel_calls_get_their_own_results_in_order():
    client = Scripted(calls(call("get_weather", {"city": "Paris"}, "a"), call("get_weather", {"city": "Oslo"}, "b")),
                      answer("done"))
    result = run("Paris and Oslo?", tools=[get_weather], client=client)
    tools = [m for m in result.messages if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tools] == ["a", "b"]
    assert [json.loads(t["content"])["city"] for t in tools] == ["Paris", "Oslo"]


def test_calls_without_ids_get_distinct_ids():
    client = Scripted(calls(call("get_weather", {"city": "A"}), call("get_weather", {"city": "B"})), answer("ok"))
    result = run("x", tools=[get_weather], client=client)
    ids = [c["id"] for c in result.messages[1]["tool_calls"]]
    assert len(set(ids)) == 2 and [m["tool_call_id"] for m in result.messages[2:4]] == ids


@pytest.mark.parametrize("args, problem", [
    ({"city": 3}, "city must be string"),
    ({}, "missing required argument 'city'"),
    ({"city": "Paris", "zip": "75001"}, "unexpected argument 'zip'"),
    ("{not json", "not JSON"),
])
def test_bad_arguments_go_back_to_the_model_without_calling(args, problem):
    client = Scripted(calls(call("get_weather", args, "c1")), answer("sorry"))
    result = run("Weather?", tools=[get_weather], client=client)
    text = result.messages[2]["content"]
    assert text.startswith("Error:") and problem in text and CALLED == []
    assert result.final == "sorry"


def test_unknown_tool_names_the_available_ones():
    client = Scripted(calls(call("get_wether", {"city": "Paris"}, "c1")), answer("ok"))
    text = run("Weather?", tools=[get_weather, divide], client=client).messages[2]["content"]
    assert "unknown tool 'get_wether'" in text and "get_weather" in text and "divide" in text


def test_a_raising_tool_becomes_an_error_result_and_the_loop_goes_on():
    client = Scripted(calls(call("divide", {"a": 1, "b": 0}, "c1")), calls(call("divide", {"a": 1, "b": 4}, "c2")),
                      answer("0.25"))
    result = run("1/0 then 1/4", tools=[divide], client=client)
    assert "ZeroDivisionError" in result.messages[2]["content"]
    assert result.messages[4]["content"] == "0.25" and result.final == "0.25" and result.steps == 3


def test_step_limit_is_a_clear_error_with_the_transcript():
    client = Scripted(*[calls(call("get_weather", {"city": "Paris"}, f"c{i}")) for i in range(5)])
    with pytest.raises(AgentStepLimit, match="after 3 model calls.*get_weather") as info:
        run("loop forever", tools=[get_weather], client=client, max_steps=3)
    assert isinstance(info.value, UserError) and len(client.seen) == 3
    assert [m["role"] for m in info.value.messages].count("tool") == 3
    with pytest.raises(UserError, match="max_steps"):
        run("x", tools=[get_weather], client=Scripted(), max_steps=0)


def test_on_message_sees_every_appended_message():
    seen = []
    client = Scripted(calls(call("get_weather", {"city": "Rome"}, "c1")), answer("warm"))
    result = run("Rome?", tools=[get_weather], client=client, on_message=seen.append)
    assert seen == result.messages[1:]


def test_client_must_be_usable():
    with pytest.raises(UserError, match="neither"):
        run("x", client=object())
    with pytest.raises(UserError, match="client="):
        run("x")


# ---------------------------------------------------------------- an OpenAI SDK client


class _FakeServer(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []
    replies: ClassVar[list[dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        msg = type(self).replies.pop(0)
        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **msg}}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_client_against_a_local_server():
    openai = pytest.importorskip("openai")
    _FakeServer.requests, _FakeServer.replies = [], [
        {"content": None, "tool_calls": [call("get_weather", {"city": "Lima"}, "call_9")]},
        {"content": "Lima: 21."}]
    server = HTTPServer(("127.0.0.1", 0), _FakeServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="test", max_retries=0)
        result = run("Weather in Lima?", tools=[get_weather], client=client, model="my-agent", max_new_tokens=20)
    finally:
        server.shutdown()
    assert result.final == "Lima: 21." and result.messages[2]["tool_call_id"] == "call_9"
    first, second = _FakeServer.requests
    assert first["model"] == "my-agent" and first["max_tokens"] == 20
    assert first["tools"] == [function_to_tool(get_weather)]
    sent_call = second["messages"][1]["tool_calls"][0]
    assert isinstance(sent_call["function"]["arguments"], str)  # the API wants JSON strings
    assert second["messages"][2] == {"role": "tool", "tool_call_id": "call_9",
                                     "content": json.dumps({"city": "Lima", "temp": 21, "unit": "c"})}


# ---------------------------------------------------------------- LocalModel


class _NoModel:
    device = "cpu"

    def eval(self):
        return self


def test_local_stream_turns_markup_into_calls(smol_tokenizer, monkeypatch):
    lm = LocalModel(_NoModel(), tokenizer=smol_tokenizer, template="chatml")
    pieces = ["Let me check.", "\n<tool", '_call>\n{"name": "get_weather", ', '"arguments": {"city": "Paris"}}',
              "\n</tool_call>"]
    monkeypatch.setattr(lm, "generate_text", lambda *a, **k: iter(pieces))
    deltas = list(lm.stream([{"role": "user", "content": "x"}]))
    assert not any("<tool" in (d.get("content") or "") for d in deltas)
    reply = lm.chat([{"role": "user", "content": "x"}])
    assert reply["content"] == "Let me check."
    fn = reply["tool_calls"][0]["function"]
    assert fn["name"] == "get_weather" and json.loads(fn["arguments"]) == {"city": "Paris"}
    assert reply["tool_calls"][0]["id"].startswith("call_")


@pytest.mark.slow
def test_real_model_runs_end_to_end(smollm2_path):
    lm = LocalModel("smollm2-135m-instruct", dtype="fp32")
    assert lm.template.name == "chatml" and lm.tokenizer.convert_tokens_to_ids("<|im_end|>") in lm.stop_ids()
    pieces = list(lm.generate_text([{"role": "user", "content": "Say hello."}], max_new_tokens=12))
    assert pieces and "<|im_end|>" not in "".join(pieces)
    # chat generates with the serving engine: the reply `tooltune eval` scores, token for token
    from tooltune.evaluate.toolcall import Case, generate_replies
    from tooltune.functions import tools_from_functions
    from tooltune.model.loader import load_model

    schemas, _ = tools_from_functions([get_weather])
    case = Case([{"role": "user", "content": "What is the weather in Paris?"}], schemas, [])
    chatted = "".join(lm.generate_text(case.messages, case.tools, max_new_tokens=40))
    scored = generate_replies(load_model(str(smollm2_path), dtype="fp32"), lm.tokenizer, lm.template, [case],
                              max_new_tokens=40, strict_tools=True)
    assert chatted == scored[0] and chatted
    result = run([{"role": "system", "content": "You are helpful."},
                  {"role": "user", "content": "What is the weather in Paris?"}],
                 tools=[get_weather], client=lm, max_new_tokens=24, max_steps=3)
    assert isinstance(result.final, str) and result.final.strip()
    assert result.messages[-1]["role"] == "assistant" and 1 <= result.steps <= 3
    # without a client, model= is loaded in-process
    again = run("Say hi.", model=str(smollm2_path), max_new_tokens=8)
    assert again.final.strip() and again.steps == 1
