"""Row converters: sharegpt / alpaca / openai rows -> Conversation, and their errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tooltune.data.formats import (
    convert_row, detect_format, from_alpaca, from_openai, from_sharegpt, parse_tools,
)
from tooltune.conversation import DataError, new_call_id

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
GLAIVE = {"messages": "conversations", "tools": "tools"}
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def shared(name: str) -> list[dict]:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared data {path} is not present on this machine")
    return json.loads(path.read_text(encoding="utf-8"))


def sg(*turns: tuple[str, object], tools: object = None, system: str | None = None) -> dict:
    row: dict = {"conversations": [{"from": r, "value": v if isinstance(v, str) else json.dumps(v)}
                                   for r, v in turns]}
    if tools is not None:
        row["tools"] = tools
    if system is not None:
        row["system"] = system
    return row


def call(name: str, **args: object) -> dict:
    return {"name": name, "arguments": args}


# ------------------------------------------------------------------ real data

@pytest.mark.parametrize("name", ["glaive_toolcall_en_demo.json", "glaive_toolcall_zh_demo.json"])
def test_glaive_rows_convert(name: str) -> None:
    rows = shared(name)
    bad = {}
    for i, row in enumerate(rows):
        try:
            conv = from_sharegpt(row, GLAIVE, row_index=i)
        except DataError as e:
            bad[i] = e
            continue
        for m in conv.messages:
            for c in m.get("tool_calls", []):
                assert isinstance(c["function"]["arguments"], dict)
                assert c["id"] in {new_call_id(f"row {i}:{n}") for n in range(64)}
        assert all(t["type"] == "function" for t in conv.tools)
    if name.startswith("glaive_toolcall_en"):
        assert bad == {}
    else:
        # two zh rows write the call inside the gpt text ("AI 计算折扣: {...}") and then give an
        # observation: there is no function_call turn for it to answer.
        assert sorted(bad) == [197, 293]
        assert all("without a preceding 'function_call'" in e.reason for e in bad.values())
        assert all(e.field == "conversations[2]" for e in bad.values())


def test_glaive_first_row_shape() -> None:
    conv = from_sharegpt(shared("glaive_toolcall_en_demo.json")[0], GLAIVE, row_index=0)
    roles = [m["role"] for m in conv.messages]
    assert roles == ["user", "assistant", "user", "assistant", "tool", "assistant", "user", "assistant"]
    call_msg, tool_msg = conv.messages[3], conv.messages[4]
    assert call_msg["tool_calls"][0]["function"] == {
        "name": "search_recipes", "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]}}
    assert tool_msg["tool_call_id"] == call_msg["tool_calls"][0]["id"] == new_call_id("row 0:0")
    assert tool_msg["name"] == "search_recipes"
    assert conv.tools[0]["function"]["name"] == "search_recipes"


@pytest.mark.parametrize("name", ["alpaca_en_demo.json", "alpaca_zh_demo.json", "identity.json"])
def test_alpaca_rows_convert(name: str) -> None:
    for i, row in enumerate(shared(name)):
        conv = from_alpaca(row, row_index=i)
        assert [m["role"] for m in conv.messages] == ["user", "assistant"]


def test_dpo_rows_train_on_chosen() -> None:
    row = shared("dpo_en_demo.json")[0]
    conv = convert_row(row, "sharegpt", {"messages": "conversations"}, ranking=True)
    assert conv.messages[-1] == {"role": "assistant", "content": row["chosen"]["value"]}


# ------------------------------------------------------------------ sharegpt tool calls

def test_arguments_as_json_string() -> None:
    row = sg(("human", "weather?"), ("function_call", {"name": "get_weather", "arguments": '{"city": "Paris"}'}),
             ("observation", {"temp": 20}), ("gpt", "20C"), tools=json.dumps([WEATHER]))
    conv = from_sharegpt(row)
    assert conv.messages[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert conv.messages[2]["content"] == '{"temp": 20}'


def test_gpt_text_merged_with_function_call() -> None:
    row = sg(("human", "weather in Paris and Rome?"), ("gpt", "Let me check."),
             ("function_call", call("get_weather", city="Paris")), ("observation", "20C"), ("gpt", "20C"))
    conv = from_sharegpt(row, row_index=7)
    assert [m["role"] for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
    assert conv.messages[1]["content"] == "Let me check."
    assert conv.messages[1]["tool_calls"][0]["id"] == new_call_id("row 7:0")


def test_parallel_calls_with_list_observation_split() -> None:
    row = sg(("human", "Paris and Rome?"),
             ("function_call", [call("get_weather", city="Paris"), call("get_time", city="Rome")]),
             ("observation", [{"temp": 20}, "12:00"]), ("gpt", "20C; noon"))
    conv = from_sharegpt(row, row_index=3)
    calls = conv.messages[1]["tool_calls"]
    assert [c["id"] for c in calls] == [new_call_id("row 3:0"), new_call_id("row 3:1")]
    tools = conv.messages[2:4]
    assert [(t["tool_call_id"], t["name"], t["content"]) for t in tools] == [
        (new_call_id("row 3:0"), "get_weather", '{"temp": 20}'), (new_call_id("row 3:1"), "get_time", "12:00")]


def test_parallel_calls_with_consecutive_observations() -> None:
    row = sg(("human", "Paris and Rome?"),
             ("function_call", [call("get_weather", city="Paris"), call("get_weather", city="Rome")]),
             ("observation", "20C"), ("observation", "25C"), ("gpt", "20C and 25C"))
    conv = from_sharegpt(row)
    assert [m.get("tool_call_id") for m in conv.messages[2:4]] == [new_call_id("row 0:0"), new_call_id("row 0:1")]


def test_parallel_calls_single_unsplittable_observation() -> None:
    # a list whose length differs from the number of calls stays one tool message
    row = sg(("human", "Paris and Rome?"),
             ("function_call", [call("a"), call("b")]), ("observation", [1, 2, 3]), ("gpt", "done"))
    conv = from_sharegpt(row)
    assert [m["role"] for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
    assert conv.messages[2]["content"] == "[1, 2, 3]"


def test_single_call_list_result_not_split() -> None:
    row = sg(("human", "search"), ("function_call", call("search")), ("observation", ["a", "b"]), ("gpt", "ok"))
    assert from_sharegpt(row).messages[2]["content"] == '["a", "b"]'


def test_system_column_and_turn() -> None:
    conv = from_sharegpt(sg(("human", "hi"), ("gpt", "hello"), system="Be brief."))
    assert conv.messages[0] == {"role": "system", "content": "Be brief."}
    conv = from_sharegpt(sg(("system", "From turn."), ("human", "hi"), ("gpt", "hello"), system="col"))
    assert conv.messages[0]["content"] == "From turn."


def test_tools_openai_shape_and_list() -> None:
    conv = from_sharegpt(sg(("human", "hi"), ("gpt", "hello"),
                            tools=[{"type": "function", "function": WEATHER}, WEATHER]))
    assert [t["function"]["name"] for t in conv.tools] == ["get_weather", "get_weather"]
    assert parse_tools("[]") == [] and parse_tools(None) == []


def test_custom_tags() -> None:
    row = {"dialog": [{"who": "U", "text": "hi"}, {"who": "A", "text": "hello"}]}
    conv = from_sharegpt(row, {"messages": "dialog"}, {"role_tag": "who", "content_tag": "text",
                                                       "user_tag": "U", "assistant_tag": "A"})
    assert [m["role"] for m in conv.messages] == ["user", "assistant"]


# ------------------------------------------------------------------ sharegpt errors

BAD_SHAREGPT = [
    (sg(("human", "a"), ("human", "b"), ("gpt", "c")), "conversations[1]", "two 'human' turns"),
    (sg(("gpt", "a"), ("human", "b"), ("gpt", "c")), "conversations[0]", "first turn must be 'human'"),
    (sg(("human", "a"), ("gpt", "b"), ("observation", "c"), ("gpt", "d")), "conversations[2]",
     "without a preceding 'function_call'"),
    (sg(("human", "a"), ("function_call", "not json"), ("observation", "c"), ("gpt", "d")),
     "conversations[1]", "not JSON"),
    (sg(("human", "a"), ("function_call", {"arguments": {}}), ("observation", "c"), ("gpt", "d")),
     "conversations[1]", "names no function"),
    (sg(("human", "a"), ("function_call", {"name": "f", "arguments": [1]}), ("observation", "c"), ("gpt", "d")),
     "conversations[1]", "JSON object"),
    (sg(("human", "a"), ("function_call", {"name": "f", "arguments": "{bad"}), ("observation", "c"), ("gpt", "d")),
     "conversations[1]", "not JSON"),
    (sg(("human", "a"), ("gpt", "b"), tools='{"name": "f"}'), "tools", "list of function schemas"),
    (sg(("human", "a"), ("gpt", "b"), tools="[{bad"), "tools", "not valid JSON"),
    (sg(("human", "a"), ("gpt", "b"), tools=[{"description": "x"}]), "tools[0]", "no function name"),
    (sg(("human", "a"), ("gpt", "")), "conversations[1]", "empty 'gpt'"),
    (sg(("human", " "), ("gpt", "b")), "conversations[0]", "empty 'human'"),
    (sg(("human", "a"), ("gpt", "b"), ("human", "c")), "conversations[2]", "ends with 'human'"),
    (sg(("human", "a"), ("function_call", call("f")), ("observation", "x")), "conversations[2]",
     "ends with 'observation'"),
    (sg(("human", "a"), ("function_call", call("f")), ("human", "c"), ("gpt", "d")), "conversations[2]",
     "not followed by 'observation'"),
    (sg(("human", "a"), ("function_call", call("f")), ("observation", "x"), ("human", "c"), ("gpt", "d")),
     "conversations[3]", "answer the tool result"),
    (sg(("human", "a"), ("function_call", call("f")), ("observation", "x"), ("observation", "y"), ("gpt", "d")),
     "conversations[3]", "more 'observation' results than calls"),
    (sg(("human", "a"), ("gpt", "b"), ("gpt", "c")), "conversations[2]", "two 'gpt' turns"),
    (sg(("human", "a"), ("bot", "b")), "conversations[1]", "unknown role 'bot'"),
    (sg(("human", "a"), ("gpt", "b"), ("system", "c"), ("human", "d"), ("gpt", "e")),
     "conversations[2]", "may only come first"),
    ({"conversations": []}, "conversations", "non-empty list"),
    ({"text": "x"}, "conversations", "missing column 'conversations'"),
    ({"conversations": [{"from": "human"}]}, "conversations[0]", "must be an object with"),
]


@pytest.mark.parametrize("row,where,msg", BAD_SHAREGPT)
def test_sharegpt_errors(row: dict, where: str | None, msg: str) -> None:
    with pytest.raises(DataError) as ei:
        from_sharegpt(row)
    assert msg in ei.value.reason
    assert ei.value.field == where


# ------------------------------------------------------------------ alpaca

def test_alpaca_instruction_input_history_system() -> None:
    row = {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "Be exact.",
           "history": [["q1", "a1"], ["q2", "a2"]]}
    conv = from_alpaca(row)
    assert [(m["role"], m["content"]) for m in conv.messages] == [
        ("system", "Be exact."), ("user", "q1"), ("assistant", "a1"), ("user", "q2"),
        ("assistant", "a2"), ("user", "Translate\nbonjour"), ("assistant", "hello")]


def test_alpaca_remapped_columns() -> None:
    conv = from_alpaca({"q": "hi", "a": "hello"}, {"prompt": "q", "response": "a", "query": "nope"})
    assert conv.messages[0]["content"] == "hi"


@pytest.mark.parametrize("row,where,msg", [
    ({"instruction": "", "input": "", "output": "x"}, "instruction", "empty"),
    ({"instruction": "a", "output": ""}, "output", "empty 'output'"),
    ({"input": "a", "output": "b"}, "instruction", "missing column"),
    ({"instruction": "a"}, "output", "missing column"),
    ({"instruction": "a", "output": "b", "history": [["q"]]}, "history[0]", "pair"),
    ({"instruction": "a", "output": "b", "history": {"q": "a"}}, "history", "list"),
    ({"instruction": "a", "output": 3}, "output", "must be a string"),
])
def test_alpaca_errors(row: dict, where: str, msg: str) -> None:
    with pytest.raises(DataError) as ei:
        from_alpaca(row)
    assert msg in ei.value.reason and ei.value.field == where


# ------------------------------------------------------------------ openai

def openai_row(*msgs: dict, tools: object = None) -> dict:
    row: dict = {"messages": list(msgs)}
    if tools is not None:
        row["tools"] = tools
    return row


def test_openai_messages_with_tool_calls() -> None:
    row = openai_row(
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "a1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "a2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
        {"role": "tool", "tool_call_id": "a2", "content": "25C"},
        {"role": "tool", "tool_call_id": "a1", "content": "20C"},
        {"role": "assistant", "content": [{"type": "text", "text": "20C and 25C"}]},
        tools=[{"type": "function", "function": WEATHER}])
    conv = from_openai(row)
    assert conv.messages[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert [(m["tool_call_id"], m["name"]) for m in conv.messages[3:5]] == [
        ("a2", "get_weather"), ("a1", "get_weather")]
    assert conv.messages[-1]["content"] == "20C and 25C"
    assert conv.tools[0]["function"]["name"] == "get_weather"


def test_openai_legacy_function_role_and_missing_ids() -> None:
    row = openai_row(
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{}"}},
        {"role": "function", "name": "get_weather", "content": "20C"},
        {"role": "assistant", "content": "20C"})
    conv = from_openai(row, row_index=5)
    assert conv.messages[1]["tool_calls"][0]["id"] == new_call_id("row 5:0")
    assert conv.messages[2] == {"role": "tool", "tool_call_id": new_call_id("row 5:0"), "name": "get_weather",
                                "content": "20C"}


def test_openai_text_then_bare_call_message_merged() -> None:
    row = openai_row({"role": "user", "content": "x"}, {"role": "assistant", "content": "Let me look."},
                     {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
                     {"role": "tool", "content": "r"}, {"role": "assistant", "content": "done"})
    conv = from_openai(row)
    assert conv.messages[1]["content"] == "Let me look." and len(conv.messages[1]["tool_calls"]) == 1


def test_lf_style_openai_rows_via_tags() -> None:
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
            "assistant_tag": "assistant", "system_tag": "system"}
    row = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                        {"role": "assistant", "content": "a"}]}
    conv = from_sharegpt(row, {"messages": "messages"}, tags)
    assert [m["role"] for m in conv.messages] == ["system", "user", "assistant"]
    # the same tags on a row with OpenAI tool calls: handed to from_openai, calls kept
    row["messages"][2:] = [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
                           {"role": "tool", "content": "r"}, {"role": "assistant", "content": "a"}]
    conv = from_sharegpt(row, {"messages": "messages"}, tags)
    assert conv.messages[3]["role"] == "tool"
    # renamed roles through tags
    row = {"msgs": [{"r": "H", "c": "u"}, {"r": "B", "c": "a"}]}
    conv = from_openai(row, {"messages": "msgs"}, {"role_tag": "r", "content_tag": "c",
                                                  "user_tag": "H", "assistant_tag": "B"})
    assert [m["role"] for m in conv.messages] == ["user", "assistant"]


@pytest.mark.parametrize("msgs,where,msg", [
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "x"}, {"role": "assistant", "content": "b"}],
     "messages[1]", "without a preceding"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "f"}}]},
      {"role": "tool", "tool_call_id": "2", "content": "x"}, {"role": "assistant", "content": "b"}],
     "messages[2]", "answers no pending call"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}],
     "messages[1].tool_calls[0]", "names no function"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}],
     "messages[1].tool_calls[0]", "JSON object"),
    ([{"role": "assistant", "content": "a"}], "messages[0]", "first turn must be 'user'"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "messages[1]", "two 'user'"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}, {"role": "assistant", "content": "b"}],
     "messages[0]", "only text"),
    ([{"role": "user", "content": "a"}, {"role": "critic", "content": "b"}], "messages[1]", "unknown role"),
])
def test_openai_errors(msgs: list, where: str, msg: str) -> None:
    with pytest.raises(DataError) as ei:
        from_openai({"messages": msgs})
    assert msg in ei.value.reason and ei.value.field == where


# ------------------------------------------------------------------ detection / dispatch

def test_detect_format() -> None:
    assert detect_format({"conversations": [{"from": "human"}]})[0] == "sharegpt"
    assert detect_format({"conversations": [{"role": "user"}]})[:2] == ("openai", {"messages": "conversations"})
    assert detect_format({"messages": [{"role": "user"}]})[0] == "openai"
    assert detect_format({"messages": [{"from": "human"}]})[:2] == ("sharegpt", {"messages": "messages"})
    assert detect_format({"instruction": "x"})[0] == "alpaca"
    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format({"text": "x"})


def test_convert_row_rejects_non_objects_and_unknown_formatting() -> None:
    with pytest.raises(DataError, match="JSON object"):
        convert_row(["x"], "alpaca")
    with pytest.raises(DataError, match="unknown formatting"):
        convert_row({}, "vicuna")


def test_kto_negatives_and_media_rows_rejected() -> None:
    cols = {"messages": "messages", "kto_tag": "label", "images": "images"}
    row = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
           "label": True, "images": []}
    assert convert_row(row, "openai", cols).messages[-1]["content"] == "b"
    with pytest.raises(DataError, match="kto_tag is false") as ei:
        convert_row({**row, "label": False}, "openai", cols)
    assert ei.value.field == "label"
    with pytest.raises(DataError, match="text-only") as ei:
        convert_row({**row, "images": ["a.png"]}, "openai", cols)
    assert ei.value.field == "images"
