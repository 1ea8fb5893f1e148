"""The conversation's one rulebook: a dataset row and an API request that say the same thing render
to the same tokens, and what no path may keep (a call to a tool the row does not offer, text that
is not valid Unicode) is refused with the field named."""
from __future__ import annotations

import copy

import pytest

from tooltune.conversation import Conversation, DataError, validate_conversation
from tooltune.data.formats import from_openai, from_sharegpt
from tooltune.serve.protocol import ChatCompletionRequest, RequestError, prepare
from tooltune.templates import get_template
from tooltune.templates.render import render_prompt

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
PARTS = [{"type": "text", "text": "Weather in Paris?"}, {"type": "text", "text": "In Celsius, please."}]
CALL = {"id": "call_0_0", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TURNS = [  # a user turn in parts, a call, its result, and the answer to train on
    {"role": "user", "content": PARTS},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_0_0", "content": '{"temp_c": 18}'},
    {"role": "assistant", "content": "It is 18 °C in Paris."},
]


def _ids(tokenizer, template_name: str, messages: list[dict], tools: list[dict]) -> list[int]:
    text = render_prompt(tokenizer, get_template(template_name), messages, tools)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("content", ["parts", "string"])
@pytest.mark.parametrize("template", ["chatml", "gemma", "llama3", "mistral", "glm4", "default"])
def test_a_row_and_a_request_saying_the_same_render_to_the_same_ids(smol_tokenizer, template, content):
    turns = copy.deepcopy(TURNS)
    if content == "string":  # what the parts amount to: one text, newline-joined, on both paths
        turns[0]["content"] = "Weather in Paris?\nIn Celsius, please."
    trained = from_openai({"messages": turns, "tools": TOOLS})
    sharegpt = from_sharegpt({"conversations": [
        {"from": "human", "value": turns[0]["content"]},
        {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": '{"temp_c": 18}'},
        {"from": "gpt", "value": "It is 18 °C in Paris."}], "tools": TOOLS})
    served = prepare(ChatCompletionRequest(model="m", messages=turns[:-1], tools=TOOLS))

    want = _ids(smol_tokenizer, template, trained.messages[:-1], trained.tools)
    assert _ids(smol_tokenizer, template, served.messages, served.tools) == want
    assert _ids(smol_tokenizer, template, sharegpt.messages[:-1], sharegpt.tools) == want
    assert "Weather in Paris?\nIn Celsius, please." in smol_tokenizer.decode(want)


def test_a_call_to_a_tool_the_row_does_not_offer_names_the_call_and_the_tools():
    row = {"conversations": [{"from": "human", "value": "Weather?"},
                             {"from": "function_call", "value": '{"name": "nope", "arguments": {}}'},
                             {"from": "observation", "value": "{}"},
                             {"from": "gpt", "value": "Done."}], "tools": TOOLS}
    with pytest.raises(DataError, match=r"'nope', which is not among the row's tools \(get_weather\)") as e:
        from_sharegpt(row, row_index=7)
    assert e.value.field == "messages[1].tool_calls[0]"


def test_a_lone_surrogate_is_refused_with_its_field_on_both_paths():
    bad = "Weather in \ud800Paris?"
    with pytest.raises(DataError, match="lone UTF-16 surrogate at character 11") as e:
        from_sharegpt({"conversations": [{"from": "human", "value": bad}, {"from": "gpt", "value": "Hm."}]})
    assert e.value.field == "conversations[0]"
    with pytest.raises(RequestError, match="lone UTF-16 surrogate") as r:
        prepare(ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "Hi"},
                                                           {"role": "assistant", "content": "Hello"},
                                                           {"role": "user", "content": [{"type": "text", "text": bad}]}]))
    assert r.value.param == "messages[2].content"


def test_validation_checks_and_changes_nothing():
    msgs = [{"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "", "tool_calls": [copy.deepcopy(CALL)]},
            {"role": "tool", "tool_call_id": "call_0_0", "content": "{}"},
            {"role": "assistant", "content": "Done."}]
    before = copy.deepcopy(msgs)
    with pytest.raises(DataError, match="arguments must be an object"):  # a JSON string: parse first
        validate_conversation(Conversation(msgs, TOOLS))
    assert msgs == before


CALL_ID = r"call_[0-9a-f]{24}"


def test_every_path_makes_call_ids_one_way():
    import random
    import re

    from tooltune.conversation import call_id_factory, new_call_id, seeded_call_id
    from tooltune.templates.parsers import StreamingParser, assemble, get_parser

    assert re.fullmatch(CALL_ID, new_call_id()) and new_call_id() != new_call_id()
    assert new_call_id("row 3:0") == new_call_id("row 3:0") != new_call_id("row 3:1")
    ids = call_id_factory("req:0")
    assert [ids(), ids()] == [new_call_id("req:0:0"), new_call_id("req:0:1")]
    assert seeded_call_id(random.Random(5)) == seeded_call_id(random.Random(5))
    # a dataset row without ids: each call gets one, by row and call, and its result points at it
    row = {"conversations": [{"from": "human", "value": "Weather in Paris and Rome?"},
                             {"from": "function_call", "value": '[{"name": "get_weather", "arguments": {"city": "Paris"}},'
                                                                ' {"name": "get_weather", "arguments": {"city": "Rome"}}]'},
                             {"from": "observation", "value": "18"}, {"from": "observation", "value": "21"},
                             {"from": "gpt", "value": "18 and 21."}], "tools": TOOLS}
    msgs = from_sharegpt(row, row_index=4).messages
    made = [c["id"] for c in msgs[1]["tool_calls"]]
    assert made == [new_call_id("row 4:0"), new_call_id("row 4:1")]
    assert [m["tool_call_id"] for m in msgs[2:4]] == made
    assert from_sharegpt(row, row_index=4).messages == msgs
    # a request's assistant call without an id, and a parsed reply: the same shape
    served = prepare(ChatCompletionRequest(model="m", tools=TOOLS, messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": "18"}]))
    assert re.fullmatch(CALL_ID, served.messages[1]["tool_calls"][0]["id"])
    parser = StreamingParser(get_parser("hermes"))
    deltas = parser.feed('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>')
    _, calls = assemble(deltas + parser.finish())
    assert len(calls) == 1 and re.fullmatch(CALL_ID, calls[0]["id"])
